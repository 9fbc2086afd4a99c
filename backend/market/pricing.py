"""NoteMarket's prices in one place: basis points of the principal the notes still stand for, rounded
against the taker. A note is one base unit of the principal funded and every repayment of principal
goes to whoever holds it then, so `notes` stand for `notes * principal_outstanding / principal` of the
loan's principal outstanding, and a price applies to that (as NoteMarket computes it at the fill)."""

from __future__ import annotations

from typing import Protocol

BPS = 10_000


class Standing(Protocol):
    """Where a loan's principal stands: a `LoanRow` of the index, or a `LoanStanding` read from the
    chain (`backend/chain/market_calls.py`)."""

    principal: int
    principal_outstanding: int


def _at(notes_bps: int, loan: Standing, up: bool) -> int:
    """`notes_bps` (notes times a price in bps) applied to the share of principal still outstanding."""
    value, scale = notes_bps * loan.principal_outstanding, loan.principal * BPS
    return -(-value // scale) if up else value // scale


def outstanding(notes: int, loan: Standing) -> int:
    """The principal outstanding `notes` notes stand for (rounded down)."""
    return loan.principal_outstanding * notes // loan.principal


def cost(notes: int, price_bps: int, loan: Standing) -> int:
    """What a buyer taking a listing pays: rounded up, as NoteMarket charges."""
    return _at(notes * price_bps, loan, up=True)


def proceeds(notes: int, price_bps: int, loan: Standing) -> int:
    """What a seller hitting a bid receives (and so what the bid commits): rounded down, as NoteMarket pays."""
    return _at(notes * price_bps, loan, up=False)


def matched(notes: int, ask_bps: int, bid_bps: int, loan: Standing) -> int | None:
    """What a bidder pays a seller when a crossed listing and bid are matched, as
    `NoteMarket.matchOrders`: the midpoint of their prices rounded down, but at least what buying
    the notes from the listing would cost; None when that is more than selling them into the bid
    would pay (the contract's NoteMarketSpreadTooThin: no price costs neither maker)."""
    least, most = cost(notes, ask_bps, loan), proceeds(notes, bid_bps, loan)
    return None if least > most else max(_at(notes * (ask_bps + bid_bps), loan, up=False) // 2, least)


def price_bps_of(amount: int, notes: int, principal: int, principal_outstanding: int) -> float | None:
    """The price `amount` paid for `notes` notes of a loan of `principal` with `principal_outstanding`
    left comes to, in bps of the principal they stand for (None: they stand for none)."""
    value = notes * principal_outstanding
    return BPS * amount * principal / value if value else None
