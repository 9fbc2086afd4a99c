"""What a wallet's funding mandate is funding right now beyond what the chain index shows: the
keeper's `fundWithMandate` calls still open in the outbox, or mined in a block the index has not
read yet (15 s or more after the keeper queued them). A plan of the wallet's own fundings read off
the index alone in that window would fund the same loans again: FundingAgent's per-loan bound stops
only the mandate's funding, and only when the wallet's own lands first. So the investor's plans
count these as held (and as taken from the loan's remaining need) and are built at once, rather
than refused until the keeper's calls are indexed: the keeper is busy again at each pass that finds
new loans, and the investor asking wants the loans its mandate is not already funding."""

from __future__ import annotations

from collections import Counter

from sqlalchemy import select
from sqlalchemy.orm import Session

from backend.chain.indexer import CHECKPOINT
from backend.chain.models import IndexerCheckpoint, Intent, IntentStatus, key_prefixed
from backend.chain.projection_models import NoteBalanceRow
from backend.lending.mandates import FUNDING_KEY_PREFIX
from backend.lending.models import FundingMandateRow


def mandate_fundings_in_flight(db: Session, wallet: str) -> Counter[int]:
    """Per loan, what the wallet's mandates' fundings in the outbox put in that the index does not show."""
    checkpoint = db.get(IndexerCheckpoint, CHECKPOINT)
    unread = Intent.status == IntentStatus.CONFIRMED
    if checkpoint is not None:
        unread &= Intent.block_number > checkpoint.block_number
    flying: Counter[int] = Counter()
    for mandate_hash in db.scalars(select(FundingMandateRow.mandate_hash).where(FundingMandateRow.wallet == wallet)):
        mine = key_prefixed(f"{FUNDING_KEY_PREFIX}{mandate_hash}:")
        for args in db.scalars(select(Intent.args).where(mine, Intent.status.in_(IntentStatus.OPEN) | unread)):
            flying[int(args[0])] += int(args[1])  # fundWithMandate(loanId, amount, mandate, signature)
    return flying


def held_or_in_flight(db: Session, wallet: str) -> tuple[Counter[int], Counter[int]]:
    """Per loan, the wallet's notes as indexed plus its mandate's fundings in flight; and those alone."""
    flying = mandate_fundings_in_flight(db, wallet)
    held = Counter(dict(db.execute(select(NoteBalanceRow.loan_id, NoteBalanceRow.balance)
                                   .where(NoteBalanceRow.holder == wallet)).all()))  # fmt: skip
    return held + flying, flying
