"""An underwriter's review sent again, as a client retrying after a lost answer does. A referral is
reviewed once, and a second review is a 409 naming who made the first; but the first reviewer's
own identical review (outcome and note) is answered with the stored one, so a client can tell its
own earlier success from someone else's review (review-api L4)."""

from __future__ import annotations

from sqlalchemy.orm import Session

from backend.config import Settings
from backend.idempotency import Recorded
from backend.scoring.models import CreditDecision
from backend.scoring.review_notes import note_of
from backend.scoring.schemas import DecisionPublic, ReviewCreate
from backend.scoring.service import get_decision, review_decision


def review_once(db: Session, settings: Settings, reviewer: str, decision_id: str,
                request: ReviewCreate) -> Recorded[DecisionPublic]:  # fmt: skip
    """`review_decision`, or the review `reviewer` already made with this outcome and note (`created`
    False, nothing written). The stored note is opened to compare: an erased one never matches."""
    row = db.get(CreditDecision, decision_id)
    if (row is not None and row.review == request.outcome and (row.reviewed_by or "").lower() == reviewer.lower()
            and note_of(settings, row) == request.note):  # fmt: skip
        return Recorded(get_decision(db, decision_id, settings), created=False)
    return Recorded(review_decision(db, settings, reviewer, decision_id, request), created=True)
