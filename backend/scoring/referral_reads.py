"""Underwriters' reads of the referral queue, on the record: each referral carries the applicant's
declared finances (income band, debts, savings, property), so who read whose is audited as a KYC
reveal or a case-log note is (privacy review M6)."""

from __future__ import annotations

from sqlalchemy.orm import Session

from backend import audit
from backend.scoring.schemas import ReferralPublic
from backend.scoring.service import referrals_waiting

APPLICATIONS_READ = "decision.applications_read"


def read_referrals(db: Session, reader: str, limit: int = 100, offset: int = 0) -> list[ReferralPublic]:
    """The referrals waiting for review (`referrals_waiting`, a page of `limit` after `offset`); one
    audit entry names `reader` and the decisions whose applications it was shown, the referrals and
    their applicants' other applications (none when there were none)."""
    referrals = referrals_waiting(db, limit, offset)
    if referrals:  # the applicants' other applications are shown with them (their changed answers): named too
        others = sorted({o.id for r in referrals for o in r.other_applications} - {r.id for r in referrals})
        payload = {"decision_ids": [r.id for r in referrals]} | ({"other_decision_ids": others} if others else {})
        audit.record(db, actor=reader, action=APPLICATIONS_READ, subject="decision:referrals", payload=payload)
    return referrals
