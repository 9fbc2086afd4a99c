"""The secondary market's record from the chain index: one loan's open, unexpired orders and trades
(what `GET /api/v1/loans/{id}` shows as `market`), and the trade tape (`GET /api/v1/market/trades`)."""

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
from backend.market.schemas import TradePublic


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


def trade_tape(db: Session, loan_id: int | None = None, limit: int = 100) -> list[TradePublic]:
    """The latest trades, newest first, of one loan's notes or of all."""
    query = (select(MarketTradeRow, ChainEvent.block_timestamp).join(ChainEvent, ChainEvent.id == MarketTradeRow.event_id)
             .order_by(MarketTradeRow.block_number.desc(), MarketTradeRow.log_index.desc()).limit(limit))  # fmt: skip
    if loan_id is not None:
        query = query.where(MarketTradeRow.loan_id == loan_id)
    return [TradePublic(
        loan_id=t.loan_id, how=_how(t), listing_id=t.listing_id, bid_id=t.bid_id, notes=t.notes, cost=t.cost,
        price_bps=10_000 * t.cost / t.notes if t.notes else 0.0, timestamp=ts, block_number=t.block_number,
        tx_hash=t.tx_hash,
    ) for t, ts in db.execute(query)]  # fmt: skip


def _how(trade: MarketTradeRow) -> str:
    if trade.listing_id is not None and trade.bid_id is not None:
        return "matched"
    return "listing taken" if trade.listing_id is not None else "bid hit"
