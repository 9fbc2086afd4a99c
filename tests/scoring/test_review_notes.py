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


def test_a_review_note_is_shown_only_to_a_recent_sign_in(tmp_path):
    """A staff token copied from a browser (refreshable for weeks) must not read what underwriters
    wrote about applicants: past the step-up age the note is withheld, marked, and a fresh
    sign-in reads it. The rest of the decision stays readable."""
    from datetime import UTC, datetime, timedelta

    from eth_account import Account

    from backend.identity.roles import grant_role
    from backend.identity.tokens import issue_pair
    from tests.identity.conftest import ADMIN, bearer, client_for

    settings = identity_settings(tmp_path, f"sqlite:///{tmp_path / 'fresh.db'}")
    client = client_for(settings)
    underwriter, auditor = Account.create(), Account.create()
    with session_scope(settings) as session:
        grant_role(session, ADMIN.address, underwriter.address, "underwriter")
        grant_role(session, ADMIN.address, auditor.address, "auditor")
    applicant = make_applicant(32)  # a referral is reviewed once its applicant is a known person (KYC)
    with session_scope(settings) as session:
        submit(session, settings, applicant.account.address, KycCreate(**applicant.form()), [])
    referral = client.post("/api/v1/score", json=REFERRED, headers=bearer(client, applicant.account)).json()
    assert referral["decision"] == "refer"
    reviewed = client.post(f"/api/v1/score/{referral['id']}/review", json={"outcome": "decline", "note": NOTE},
                           headers=bearer(client, underwriter))  # fmt: skip
    assert reviewed.status_code == 201 and reviewed.json()["review"]["note"] == NOTE

    def session_begun(minutes_ago: float) -> dict[str, str]:
        with session_scope(settings) as session:
            pair = issue_pair(session, settings, auditor.address, auth_time=datetime.now(UTC) - timedelta(minutes=minutes_ago))
        return {"Authorization": f"Bearer {pair.access_token}"}

    stale = client.get(f"/api/v1/score/{referral['id']}", headers=session_begun(45))
    assert stale.status_code == 200 and "divorce" not in stale.text
    assert stale.json()["review"] | {"reviewed_at": None} == {"outcome": "decline", "reviewed_by": underwriter.address,
                                                              "reviewed_at": None, "note": None, "note_withheld": True}
    fresh = client.get(f"/api/v1/score/{referral['id']}", headers=session_begun(5)).json()["review"]
    assert (fresh["note"], fresh["note_withheld"]) == (NOTE, False)
