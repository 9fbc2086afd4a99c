"""NoteMarket's prices in one place: basis points of face value, rounded against the taker."""

from __future__ import annotations

BPS = 10_000


def cost(notes: int, price_bps: int) -> int:
    """What a buyer taking a listing pays: rounded up, as NoteMarket charges."""
    return -(-notes * price_bps // BPS)


def proceeds(notes: int, price_bps: int) -> int:
    """What a seller hitting a bid receives (and so what the bid commits): rounded down, as NoteMarket pays."""
    return notes * price_bps // BPS


def matched(notes: int, ask_bps: int, bid_bps: int) -> int | None:
    """What a bidder pays a seller when a crossed listing and bid are matched, as
    `NoteMarket.matchOrders`: the midpoint of their prices rounded down, but at least what buying
    the notes from the listing would cost; None when that is more than selling them into the bid
    would pay (the contract's NoteMarketSpreadTooThin: no price costs neither maker)."""
    least, most = cost(notes, ask_bps), proceeds(notes, bid_bps)
    return None if least > most else max(notes * (ask_bps + bid_bps) // (2 * BPS), least)
