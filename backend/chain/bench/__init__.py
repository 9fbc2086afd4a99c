"""Benchmarks (`loanchain bench ...`)."""
