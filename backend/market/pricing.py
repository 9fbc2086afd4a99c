"""NoteMarket's prices in one place: basis points of face value, rounded against the taker."""

from __future__ import annotations

BPS = 10_000


def cost(notes: int, price_bps: int) -> int:
    """What a buyer taking a listing pays: rounded up, as NoteMarket charges."""
    return -(-notes * price_bps // BPS)


def proceeds(notes: int, price_bps: int) -> int:
    """What a seller hitting a bid receives (and so what the bid commits): rounded down, as NoteMarket pays."""
    return notes * price_bps // BPS


def matched(notes: int, ask_bps: int, bid_bps: int) -> int:
    """What a bidder pays a seller when a crossed listing and bid are matched: the midpoint of
    their prices, rounded down (never above what the bid would pay), as `NoteMarket.matchOrders`."""
    return notes * (ask_bps + bid_bps) // (2 * BPS)
