"""Underwriters' review notes are sealed like the KYC reviewers' and the collections notes: never
in clear in the database, opened for the views that show them, re-wrapped by master-key rotation,
and shredded when the applicant's personal data is erased. The verdict and reviewer stay."""

from __future__ import annotations

from sqlalchemy import inspect, select

from backend.db.session import get_engine, session_scope
from backend.identity.crypto.keyring import add_master_key
from backend.identity.crypto.rotation import rotate
from backend.identity.kyc.lifecycle import erase_wallet
from backend.identity.kyc.submission import submit
from backend.identity.schemas import KycCreate
from backend.scoring.models import CreditDecision
from backend.scoring.schemas import ApplicationCreate, ReviewCreate
from backend.scoring.service import decisions_of, get_decision, review_decision, score_application
from tests.identity.conftest import identity_settings, make_applicant
from tests.scoring.conftest import SAMPLE

REFERRED = {**SAMPLE, "checking_account": "none", "credit_history": "current_repaid_duly", "savings": "none_or_unknown"}
NOTE = "explained missed payments: divorce, illness"
UNDERWRITER = "0x" + "0a" * 20


def test_a_review_note_is_sealed_rotated_and_shredded_with_the_applicant(tmp_path):
    settings = identity_settings(tmp_path, f"sqlite:///{tmp_path / 'notes.db'}")
    applicant = make_applicant(31)
    wallet = applicant.account.address
    with session_scope(settings) as session:
        submit(session, settings, wallet, KycCreate(**applicant.form()), [])
        referral = score_application(session, ApplicationCreate(**REFERRED), settings=settings, wallet=wallet)
    assert referral.decision == "refer"
    with session_scope(settings) as session:
        reviewed = review_decision(session, settings, UNDERWRITER, referral.id, ReviewCreate(outcome="approve", note=NOTE))
    assert reviewed.review.note == NOTE

    assert "review_note" not in {c["name"] for c in inspect(get_engine(settings)).get_columns("credit_decisions")}
    with session_scope(settings) as session:
        row = session.get(CreditDecision, referral.id)
        assert row.key_id and b"divorce" not in row.sealed_review_note
        first_key = row.key_id
        assert get_decision(session, referral.id, settings).review.note == NOTE
        assert get_decision(session, referral.id).review.note is None  # a view without the keyring shows none

    add_master_key(settings)
    assert rotate(settings).remaining == 0
    with session_scope(settings) as session:
        row = session.get(CreditDecision, referral.id)
        assert row.key_id != first_key and decisions_of(session, wallet, settings)[0].review.note == NOTE

    with session_scope(settings) as session:
        erased = erase_wallet(session, settings, wallet, actor=wallet)
    assert erased.erased_notes == 1
    with session_scope(settings) as session:
        row = session.scalar(select(CreditDecision))
        assert row.wrapped_key is None and row.key_id is None
        review = get_decision(session, referral.id, settings).review
        assert (review.outcome, review.reviewed_by, review.note) == ("approve", UNDERWRITER, None)
