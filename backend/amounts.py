"""Amounts as people read them. The contracts keep the loan token's base units (an integer);
notices, errors and the descriptions of wallet transactions word them in tokens."""

from __future__ import annotations


def money(amount: int, decimals: int) -> str:
    """`amount` base units in tokens, two decimals with thousands separators: 1000000000 at 6 is "1,000.00"."""
    return f"{amount / 10**decimals:,.2f}"
