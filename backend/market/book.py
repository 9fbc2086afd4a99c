"""One loan's side of the secondary market from the chain index: the open, unexpired orders and the
trades of its notes (what `GET /api/v1/loans/{id}` shows as `market`)."""

from __future__ import annotations

import time

from sqlalchemy import select
from sqlalchemy.orm import Session

from backend.chain.models import ChainEvent
from backend.chain.projection_models import (
    MarketBidRow,
    MarketListingRow,
    MarketTradeRow,
)
from backend.lending.schemas import LoanMarketPublic


def _open(db: Session, model: type, loan_id: int, now: int) -> list[tuple[int, int]]:
    """(notes left, price) of the open orders of one side for the loan, unexpired at `now`."""
    return list(db.execute(select(model.notes_left, model.price_bps)
                           .where(model.loan_id == loan_id, model.status == "open", model.live_at(now))))  # fmt: skip


def loan_market(db: Session, loan_id: int) -> LoanMarketPublic:
    # By the wall clock, as the public disclosure: a read needs no chain call, and block times track it.
    now = int(time.time())
    asks, bids = _open(db, MarketListingRow, loan_id, now), _open(db, MarketBidRow, loan_id, now)
    trades = list(db.execute(select(MarketTradeRow.notes, MarketTradeRow.cost, ChainEvent.block_timestamp)
                             .join(ChainEvent, ChainEvent.id == MarketTradeRow.event_id)
                             .where(MarketTradeRow.loan_id == loan_id)
                             .order_by(MarketTradeRow.block_number, MarketTradeRow.log_index)))  # fmt: skip
    last = trades[-1] if trades else None
    return LoanMarketPublic(
        open_listings=len(asks), notes_offered=sum(n for n, _ in asks), best_ask_bps=min((p for _, p in asks), default=None),
        open_bids=len(bids), notes_wanted=sum(n for n, _ in bids), best_bid_bps=max((p for _, p in bids), default=None),
        trades=len(trades), notes_traded=sum(n for n, _, _ in trades),
        last_price_bps=10_000 * last[1] / last[0] if last and last[0] else None,
        last_trade_at=last[2] if last else None,
    )  # fmt: skip
