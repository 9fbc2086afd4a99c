"""What a wallet's funding mandate is funding right now beyond what the chain index shows: the
keeper's `fundWithMandate` calls still open in the outbox, or mined in a block the index has not
read yet (15 s or more after the keeper queued them). A plan of the wallet's own fundings read off
the index alone in that window would fund the same loans again: FundingAgent's per-loan bound stops
only the mandate's funding, and only when the wallet's own lands first. So the investor's plans
count these as held (and as taken from the loan's remaining need) and are built at once, rather
than refused until the keeper's calls are indexed: the keeper is busy again at each pass that finds
new loans, and the investor asking wants the loans its mandate is not already funding. The market
keeper's matches deliver notes to a bid's wallet the same way (`market_matches_in_flight`)."""

from __future__ import annotations

from collections import Counter

from sqlalchemy import select
from sqlalchemy.orm import Session

from backend.chain.indexer import CHECKPOINT
from backend.chain.models import IndexerCheckpoint, Intent, IntentStatus, key_prefixed
from backend.chain.projection_models import MarketBidRow, NoteBalanceRow
from backend.lending.mandates import FUNDING_KEY_PREFIX
from backend.lending.models import FundingMandateRow
from backend.market.keeper import KEY_PREFIX as MATCH_KEY_PREFIX


def _open_or_unread(db: Session):
    """Intents still open in the outbox, or mined in a block the index has not read."""
    checkpoint = db.get(IndexerCheckpoint, CHECKPOINT)
    unread = Intent.status == IntentStatus.CONFIRMED
    if checkpoint is not None:
        unread &= Intent.block_number > checkpoint.block_number
    return Intent.status.in_(IntentStatus.OPEN) | unread


def mandate_fundings_in_flight(db: Session, wallet: str) -> Counter[int]:
    """Per loan, what the wallet's mandates' fundings in the outbox put in that the index does not show."""
    flying: Counter[int] = Counter()
    for mandate_hash in db.scalars(select(FundingMandateRow.mandate_hash).where(FundingMandateRow.wallet == wallet)):
        mine = key_prefixed(f"{FUNDING_KEY_PREFIX}{mandate_hash}:")
        for args in db.scalars(select(Intent.args).where(mine, _open_or_unread(db))):
            flying[int(args[0])] += int(args[1])  # fundWithMandate(loanId, amount, mandate, signature)
    return flying


def market_matches_in_flight(db: Session, wallet: str) -> Counter[int]:
    """Per loan, the notes the market keeper's matches in the outbox deliver to the wallet's bids that
    the index does not show (few: the keeper queues nothing while one is in flight)."""
    flying: Counter[int] = Counter()
    matches = list(db.scalars(select(Intent.args).where(key_prefixed(MATCH_KEY_PREFIX), _open_or_unread(db))))
    if not matches:
        return flying
    bids = dict(db.execute(select(MarketBidRow.bid_id, MarketBidRow.loan_id).where(
        MarketBidRow.bidder == wallet, MarketBidRow.bid_id.in_({int(args[1]) for args in matches}))).all())  # fmt: skip
    for listing_id, bid_id, notes in matches:  # matchOrders(listingId, bidId, notes)
        if int(bid_id) in bids:
            flying[bids[int(bid_id)]] += int(notes)
    return flying


def held_or_in_flight(db: Session, wallet: str) -> tuple[Counter[int], Counter[int]]:
    """Per loan, the wallet's notes as indexed plus its mandate's fundings in flight; and those alone."""
    flying = mandate_fundings_in_flight(db, wallet)
    held = Counter(dict(db.execute(select(NoteBalanceRow.loan_id, NoteBalanceRow.balance)
                                   .where(NoteBalanceRow.holder == wallet)).all()))  # fmt: skip
    return held + flying, flying
