"""The ReserveFund as the contract reports it: its real balance, what it pays cover out of, whatever
the events say went in and out (a plain token transfer in emits no ReserveFund event), and the share
of a defaulted loan's principal outstanding it covers now."""

from __future__ import annotations

from backend.chain.client import reading
from backend.chain.deploy import deployed_contract
from backend.config import Settings


def reserve_balance_at(settings: Settings, block: int) -> int:
    """`ReserveFund.balance()` at `block` (old state needs an archive node)."""
    reserve = deployed_contract(settings, "ReserveFund")
    with reading(f"ReserveFund.balance() at block {block}"):
        return int(reserve.functions.balance().call(block_identifier=block))


def coverage_ratio_bps(settings: Settings) -> int:
    """`ReserveFund.coverageRatioBps()` now (an admin may change it)."""
    reserve = deployed_contract(settings, "ReserveFund")
    with reading("ReserveFund.coverageRatioBps()"):
        return int(reserve.functions.coverageRatioBps().call())
