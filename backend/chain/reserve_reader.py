"""The ReserveFund's real balance, as the contract reports it: what it pays cover out of, whatever
the events say went in and out (a plain token transfer in emits no ReserveFund event)."""

from __future__ import annotations

from backend.chain.client import reading
from backend.chain.deploy import deployed_contract
from backend.config import Settings


def reserve_balance_at(settings: Settings, block: int) -> int:
    """`ReserveFund.balance()` at `block` (old state needs an archive node)."""
    reserve = deployed_contract(settings, "ReserveFund")
    with reading(f"ReserveFund.balance() at block {block}"):
        return int(reserve.functions.balance().call(block_identifier=block))
