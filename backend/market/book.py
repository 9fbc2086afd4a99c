"""The secondary market's record from the chain index: one loan's open, unexpired orders and trades
(what `GET /api/v1/loans/{id}` shows as `market`), the trade tape (`GET /api/v1/market/trades`),
and which note transfers were a trade's (the others are gifts).
A trade's price is told as NoteMarket priced it: in bps of the principal its notes stood for then,
the loan's principal outstanding after the last repayment indexed before the trade."""

from __future__ import annotations

import time
from collections import Counter

from sqlalchemy import and_, func, or_, select
from sqlalchemy.orm import Session

from backend.chain.models import ChainEvent
from backend.chain.projection_models import (
    LoanRow,
    MarketBidRow,
    MarketListingRow,
    MarketTradeRow,
    RepaymentRow,
)
from backend.lending.schemas import LoanMarketPublic
from backend.market import pricing
from backend.market.schemas import TradePublic


def outstanding_then(trade: type = MarketTradeRow):
    """SQL: the principal outstanding of a trade's loan when it traded (to select beside
    MarketTradeRow joined with its LoanRow): what the latest payment or prepayment before it left,
    or the whole principal when none came before (a loan trades only while active). `trade` may be
    another row of a loan's event (a NoteTransferRow: what the notes moved stood for then)."""
    paid = RepaymentRow
    before = or_(paid.block_number < trade.block_number,
                 and_(paid.block_number == trade.block_number, paid.log_index < trade.log_index))  # fmt: skip
    latest = (select(paid.principal_outstanding)
              .where(paid.loan_id == trade.loan_id, paid.principal_outstanding.is_not(None), before)
              .order_by(paid.block_number.desc(), paid.log_index.desc()).limit(1)
              .correlate(trade).scalar_subquery())  # fmt: skip
    return func.coalesce(latest, LoanRow.principal)


def trade_transfers(trades: list, transfers: list) -> set[int]:
    """The positions in `transfers` (NoteTransferRow-like) of the note transfers that moved the notes
    of one of `trades` (MarketTradeRow-like). NoteMarket moves a trade's notes from its seller to its
    buyer in the trade's own transaction, so each trade is paired with one transfer of that
    transaction, loan, seller, buyer and number of notes; any other transfer of the transaction (a
    contract wallet that buys and gives notes away in one call) is a gift, not the trade's."""
    unpaired = Counter((t.tx_hash, t.loan_id, t.seller.lower(), t.buyer.lower(), t.notes) for t in trades)
    paired = set()
    for i, m in enumerate(transfers):
        key = (m.tx_hash, m.loan_id, m.sender.lower(), m.recipient.lower(), m.amount)
        if unpaired[key]:
            unpaired[key] -= 1
            paired.add(i)
    return paired


def _open(db: Session, model: type, loan_id: int, now: int) -> list[tuple[int, int]]:
    """(notes left, price) of the open orders of one side for the loan, unexpired at `now`."""
    return list(db.execute(select(model.notes_left, model.price_bps)
                           .where(model.loan_id == loan_id, model.status == "open", model.live_at(now))))  # fmt: skip


def loan_market(db: Session, loan_id: int) -> LoanMarketPublic:
    # By the wall clock, as the public disclosure: a read needs no chain call, and block times track it.
    now = int(time.time())
    asks, bids = _open(db, MarketListingRow, loan_id, now), _open(db, MarketBidRow, loan_id, now)
    trades = list(db.execute(select(MarketTradeRow.notes, MarketTradeRow.cost, ChainEvent.block_timestamp,
                                    LoanRow.principal, outstanding_then())
                             .join(ChainEvent, ChainEvent.id == MarketTradeRow.event_id)
                             .join(LoanRow, LoanRow.loan_id == MarketTradeRow.loan_id)
                             .where(MarketTradeRow.loan_id == loan_id)
                             .order_by(MarketTradeRow.block_number, MarketTradeRow.log_index)))  # fmt: skip
    last = trades[-1] if trades else None
    return LoanMarketPublic(
        open_listings=len(asks), notes_offered=sum(n for n, _ in asks), best_ask_bps=min((p for _, p in asks), default=None),
        open_bids=len(bids), notes_wanted=sum(n for n, _ in bids), best_bid_bps=max((p for _, p in bids), default=None),
        trades=len(trades), notes_traded=sum(t[0] for t in trades),
        last_price_bps=pricing.price_bps_of(last[1], last[0], last[3], last[4]) if last else None,
        last_trade_at=last[2] if last else None,
    )  # fmt: skip


def trade_tape(db: Session, loan_id: int | None = None, limit: int = 100, offset: int = 0) -> list[TradePublic]:
    """The latest trades, newest first, of one loan's notes or of all."""
    query = (select(MarketTradeRow, ChainEvent.block_timestamp, LoanRow.principal, outstanding_then())
             .join(ChainEvent, ChainEvent.id == MarketTradeRow.event_id)
             .join(LoanRow, LoanRow.loan_id == MarketTradeRow.loan_id)
             .order_by(MarketTradeRow.block_number.desc(), MarketTradeRow.log_index.desc())
             .limit(limit).offset(offset))  # fmt: skip
    if loan_id is not None:
        query = query.where(MarketTradeRow.loan_id == loan_id)
    return [TradePublic(
        loan_id=t.loan_id, how=_how(t), listing_id=t.listing_id, bid_id=t.bid_id, notes=t.notes, cost=t.cost,
        price_bps=pricing.price_bps_of(t.cost, t.notes, principal, outstanding) or 0.0, timestamp=ts,
        block_number=t.block_number, tx_hash=t.tx_hash,
    ) for t, ts, principal, outstanding in db.execute(query)]  # fmt: skip


def _how(trade: MarketTradeRow) -> str:
    if trade.listing_id is not None and trade.bid_id is not None:
        return "matched"
    return "listing taken" if trade.listing_id is not None else "bid hit"
