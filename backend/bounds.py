"""The largest numbers the platform takes in, so an out-of-range one is refused as bad input (422
naming the field) instead of failing in the database or the ABI encoder with a 500."""

from __future__ import annotations

DB_ID_MAX = 2**63 - 1  # the largest key SQLite's INTEGER and PostgreSQL's BIGINT hold
AMOUNT_LIMIT = 2**128  # LoanBook keeps principals (and so every amount and note count) in uint128
