"""The loans a borrower took lately: what `borrower_max_new_loans_30d` counts against its person (a
bust-out's stack), and what an erasure of one of the person's wallets waits for. A wallet is in its
person through its KYC records' national ID; erased, it leaves the person and takes its loans out of
the others' count, so its data is kept until its last loan has left the window (`aml_hold`)."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime, timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session

from backend.chain.models import IntentStatus
from backend.chain.outbox import get_intent
from backend.chain.projection_models import LoanRow
from backend.db.base import as_utc
from backend.lending.models import LoanOffer, OfferStatus

NEW_LOANS_WINDOW = timedelta(days=30)


def loans_taken(db: Session, wallets: Iterable[str], since: datetime) -> list[LoanOffer]:
    """The offers of these wallets accepted since `since` that lent something: not those whose
    createLoan reverted nor those whose loan was cancelled unfunded."""
    query = (select(LoanOffer, LoanRow.status).outerjoin(LoanRow, LoanRow.terms_hash == LoanOffer.terms_hash)
             .where(LoanOffer.borrower.in_(set(wallets)), LoanOffer.status == OfferStatus.ACCEPTED))  # fmt: skip
    taken = []
    for offer, loan_status in db.execute(query):
        intent = get_intent(db, offer.intent_key) if offer.intent_key else None
        if (offer.accepted_at is not None and as_utc(offer.accepted_at) >= since and loan_status != "cancelled"
                and (intent is None or intent.status != IntentStatus.FAILED)):  # fmt: skip
            taken.append(offer)
    return taken


def counted_until(db: Session, wallet: str, now: datetime) -> datetime | None:
    """When the wallet's last loan taken leaves the 30-day count (None: none is in it now)."""
    taken = loans_taken(db, {wallet}, now - NEW_LOANS_WINDOW)
    return max(as_utc(offer.accepted_at) for offer in taken) + NEW_LOANS_WINDOW if taken else None
