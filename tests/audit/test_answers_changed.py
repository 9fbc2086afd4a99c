"""The 2026-12-01 reviews' changed answers (review-fraud L1, shopping for a pass): a person's credit
application approved or referred after another of theirs, from any of the person's wallets, within
30 days, whose declared facts changed in a way that raises the score, raises `answers_changed`,
naming both decisions and the fields changed, never the answers. Near misses raise nothing: only
the loan asked for changed, the facts changed for the worse, the later one was declined, the
earlier one is past the window, was erased, or is another person's; an application under an older
form is not compared (and fails no read). On SQLite and PostgreSQL, with
real scoring. A review's note on such an alert is shredded with either applicant's personal data."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

from eth_utils import to_checksum_address

from backend.audit.models import AlertReview
from backend.audit.monitoring import alerts, review_alert
from backend.audit.schemas import AlertReviewCreate
from backend.db.session import session_scope
from backend.identity.kyc.lifecycle import erase_wallet
from backend.identity.kyc.submission import submit
from backend.identity.models import KycRecord
from backend.identity.schemas import KycCreate
from backend.scoring.models import CreditDecision
from backend.scoring.schemas import ApplicationCreate
from backend.scoring.service import score_application
from tests.audit.test_alert_notes import FINDING
from tests.identity.conftest import ADMIN, client_for, identity_settings, make_applicant, minted_bearer
from tests.scoring.test_service import WORST

BETTER_OFF = {"checking_account": "200_plus_or_salary", "savings": "1000_plus"}  # 3,400: grade G declined -> D referred


def _wallet(n: int) -> str:
    return to_checksum_address(f"0x{n:040x}")


def _scored(session, settings, wallet: str, days_ago: float, **answers) -> CreditDecision:
    made = score_application(session, ApplicationCreate(**{**WORST, "amount": 3400, **answers}), settings=settings,
                             wallet=wallet)  # fmt: skip
    row = session.get(CreditDecision, made.id)
    row.created_at = datetime.now(UTC) - timedelta(days=days_ago)
    return row


def _verified(session, national_id: str, *wallets: str) -> None:
    for wallet in wallets:
        session.add(KycRecord(id=str(uuid.uuid4()), wallet=wallet, status="approved", level=2, id_type="national_id",
                              blind_index=national_id, ciphertext=b"-", commitment="0x" + "00" * 32))  # fmt: skip


def test_a_referral_after_a_decline_with_better_declared_facts_is_flagged_and_near_misses_are_not(tmp_path, database_url):
    settings = identity_settings(tmp_path, database_url)
    shopper, shoppers_other = _wallet(1), _wallet(2)
    with session_scope(settings) as session:
        _verified(session, "id-shopper", shopper, shoppers_other)
        declined = _scored(session, settings, shopper, 5)
        passed = _scored(session, settings, shoppers_other, 1, **BETTER_OFF)  # the same person's other wallet
        assert (declined.decision, passed.decision) == ("decline", "refer")
        ids = declined.id, passed.id

        # Near misses, each on a wallet of its own (no KYC: a person of its own).
        _scored(session, settings, _wallet(3), 3)
        _scored(session, settings, _wallet(3), 2, amount=3800)  # referred, but only the amount changed
        _scored(session, settings, _wallet(4), 4, amount=3800, **BETTER_OFF)
        _scored(session, settings, _wallet(4), 2, amount=3800)  # referred with the facts changed for the worse
        _scored(session, settings, _wallet(5), 3)
        assert _scored(session, settings, _wallet(5), 2, employment_length="7y_plus").decision == "decline"
        _scored(session, settings, _wallet(6), 31)  # past the 30 days
        _scored(session, settings, _wallet(6), 0, **BETTER_OFF)
        erased = _scored(session, settings, _wallet(7), 3)
        erased.inputs, erased.wallet, erased.erased_at = {}, None, datetime.now(UTC)  # as erasure leaves it
        _scored(session, settings, _wallet(7), 2, **BETTER_OFF)
        _verified(session, "id-eight", _wallet(8))
        _verified(session, "id-nine", _wallet(9))
        _scored(session, settings, _wallet(8), 3)
        _scored(session, settings, _wallet(9), 2, **BETTER_OFF)  # another person's better answers
        _scored(session, settings, _wallet(10), 3)
        older_form = _scored(session, settings, _wallet(10), 2, **BETTER_OFF)
        older_form.inputs = {**older_form.inputs, "housing": "castle"}  # an answer today's form no longer has

    with session_scope(settings) as session:
        (found,) = alerts(session, settings)
    assert (found.rule, found.loan_id, found.decision_ids) == ("answers_changed", None, list(ids))
    assert found.wallets == [shopper, shoppers_other] and found.tx_hashes == [] and found.amount == 0
    assert f"credit decision {ids[1]} (refer, grade D) of {shoppers_other} followed decision {ids[0]}" in found.detail
    assert "with checking_account, savings answered otherwise: worth 79 points" in found.detail
    assert "200_plus_or_salary" not in found.detail and "1000_plus" not in found.detail  # names, never the answers

    longer = settings.model_copy(update={"monitoring_answers_changed_days": 32})
    with session_scope(settings) as session:
        assert len(alerts(session, longer, rule="answers_changed")) == 2  # the pair 31 days apart, in a longer window
        assert [a.key for a in alerts(session, settings, rule="answers_changed")] == [found.key]

    client = client_for(settings)  # reviewed like any other alert
    reviewed = client.post(f"/api/v1/audit/alerts/{found.key}/review", json={"decision": "escalated",
                           "note": "income proof asked for"}, headers=minted_bearer(settings, ADMIN))  # fmt: skip
    assert reviewed.status_code == 201, reviewed.text
    assert reviewed.json()["decision_ids"] == list(ids) and reviewed.json()["review"]["decision"] == "escalated"


def test_a_review_note_on_changed_answers_is_shredded_with_the_applicants_personal_data(tmp_path, database_url):
    settings = identity_settings(tmp_path, database_url)
    applicant, bystander = make_applicant(1301), make_applicant(1302)
    with session_scope(settings) as session:
        submit(session, settings, applicant.account.address, KycCreate(**applicant.form()), [])
        for wallet in (applicant.account.address, bystander.account.address):
            _scored(session, settings, wallet, 3)
            _scored(session, settings, wallet, 1, **BETTER_OFF)
    with session_scope(settings) as session:
        found = {a.wallets[0]: a for a in alerts(session, settings, rule="answers_changed")}
        for alert in found.values():
            review_alert(session, settings, alert.key, AlertReviewCreate(decision="escalated", note=FINDING), ADMIN.address)
    with session_scope(settings) as session:
        done = erase_wallet(session, settings, applicant.account.address, applicant.account.address)
    assert done.erased_notes == 1  # the review's note: nothing else of the wallet held a data key
    with session_scope(settings) as session:
        erased = session.get(AlertReview, found[applicant.account.address].key)
        kept = session.get(AlertReview, found[bystander.account.address].key)
        assert (erased.key_id, erased.wrapped_key, erased.decision) == (None, None, "escalated")
        assert kept.wrapped_key is not None and (kept.applicant, kept.other_applicant) == (bystander.account.address, None)
        # The erased decisions carry no inputs: the alert is raised no more; the bystander's still is.
        assert [a.wallets for a in alerts(session, settings, rule="answers_changed")] == [[bystander.account.address]]
