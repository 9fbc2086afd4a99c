"""Encrypted backup and restore of the platform's records (`loanchain backup ...`)."""
