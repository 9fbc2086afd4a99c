"""NoteMarket's prices in one place: basis points of face value, rounded against the taker."""

from __future__ import annotations

BPS = 10_000


def cost(notes: int, price_bps: int) -> int:
    """What a buyer taking a listing pays: rounded up, as NoteMarket charges."""
    return -(-notes * price_bps // BPS)


def proceeds(notes: int, price_bps: int) -> int:
    """What a seller hitting a bid receives (and so what the bid commits): rounded down, as NoteMarket pays."""
    return notes * price_bps // BPS
