"""The privacy review's M2: a monitoring alert's review note (where identity-fraud findings about a
borrower are written) was kept in clear, shown to any auditor session however old, and survived the
borrower's erasure. It is now sealed under the review's own data key, opened only for a recent
sign-in (and that read audited), and shredded with the personal data of the alert loan's borrower."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from eth_account import Account
from sqlalchemy import inspect, select, text

from backend.audit.models import AlertReview, AuditEntry
from backend.audit.monitoring import NOTES_READ, alerts, review_alert
from backend.audit.schemas import AlertReviewCreate
from backend.chain.models import ChainEvent
from backend.chain.projection_models import LoanRow, NoteTransferRow
from backend.db.session import get_engine, session_scope
from backend.identity.kyc.lifecycle import erase_wallet
from backend.identity.kyc.submission import submit
from backend.identity.roles import grant_role
from backend.identity.schemas import KycCreate
from backend.identity.tokens import issue_pair
from tests.identity.conftest import ADMIN, client_for, identity_settings, make_applicant
from tests.lending.conftest import chain_identity_settings  # noqa: F401

FINDING = "ID photo reused from another application; the phone number belongs to someone else"


def _defaulted_first_payment(loan_id: int, borrower: str) -> LoanRow:
    """A loan defaulted before its first installment was settled: the `first_payment_default` rule
    flags it from the index alone. Nothing left to recover, so its borrower may be erased."""
    return LoanRow(
        loan_id=loan_id, status="defaulted", borrower=borrower, underwriter="0x" + "33" * 20,
        terms_hash=f"0x{loan_id:064x}", agreement_hash="0x" + "55" * 32, decision_hash="0x" + "77" * 32,
        principal=1_000 * 10**6, apr_bps=1_500, installments=12, installment_period=2_592_000, installment_amount=90,
        funding_deadline=0, origination_fee_bps=0, created_block=1, block_number=1, tx_hash=f"0x{loan_id:064x}",
        log_index=0, start_time=1_700_000_000, installments_settled=0, recoverable=0,
    )  # fmt: skip


@pytest.fixture
def reviewed(tmp_path, database_url):
    """Two borrowers' loans flagged, each alert reviewed with a note."""
    # No AML period: the borrowers are erased right after their loans, to prove the notes go with them.
    settings = identity_settings(tmp_path, database_url, aml_retention_days=0)
    people = [make_applicant(1201), make_applicant(1202)]
    for loan_id, person in enumerate(people, 1):
        with session_scope(settings) as session:
            submit(session, settings, person.account.address, KycCreate(**person.form()), [])
            session.add(_defaulted_first_payment(loan_id, person.account.address))
    with session_scope(settings) as session:
        found = alerts(session, settings, rule="first_payment_default")
        keys = {a.loan_id: a.key for a in found}
        for loan_id in (1, 2):
            review_alert(session, settings, keys[loan_id], AlertReviewCreate(decision="escalated", note=f"{FINDING} ({loan_id})"),
                         ADMIN.address)  # fmt: skip
    return settings, people, keys


def test_a_review_note_is_sealed_and_its_audit_entry_holds_no_text(reviewed):
    settings, _, keys = reviewed
    with get_engine(settings).connect() as conn:
        columns = [c["name"] for c in inspect(conn).get_columns("audit_alert_reviews")]
        stored = conn.execute(text("SELECT sealed_note, key_id, wrapped_key FROM audit_alert_reviews")).all()
    assert "note" not in columns
    assert len(stored) == 2 and all(s and k and w and FINDING.encode() not in bytes(s) for s, k, w in stored)
    with session_scope(settings) as session:
        (read,) = [a for a in alerts(session, settings, rule="first_payment_default", reader="auditor-cli") if a.loan_id == 1]
        assert (read.review.note, read.review.note_withheld) == (f"{FINDING} (1)", False)
        logged = session.scalars(select(AuditEntry).where(AuditEntry.action == NOTES_READ)).all()
        assert [(e.actor, e.subject) for e in logged] == [("auditor-cli", "monitoring:alerts")]
        withheld = alerts(session, settings, rule="first_payment_default", with_notes=False)
        assert all((a.review.note, a.review.note_withheld, a.review.decision) == (None, True, "escalated") for a in withheld)
        assert len(session.scalars(select(AuditEntry).where(AuditEntry.action == NOTES_READ)).all()) == 1  # none opened


def test_the_note_is_shredded_with_the_personal_data_of_the_loans_borrower(reviewed):
    settings, people, keys = reviewed
    erased, other = people
    with session_scope(settings) as session:
        done = erase_wallet(session, settings, erased.account.address, erased.account.address)
    assert done.erased_notes == 1
    with session_scope(settings) as session:
        row = session.get(AlertReview, keys[1])
        assert (row.key_id, row.wrapped_key) == (None, None) and FINDING.encode() not in row.sealed_note
        by_loan = {a.loan_id: a.review for a in alerts(session, settings, rule="first_payment_default")}
    assert (by_loan[1].note, by_loan[1].note_withheld, by_loan[1].decision, by_loan[1].reviewer) == (
        None, False, "escalated", ADMIN.address)  # fmt: skip
    assert by_loan[2].note == f"{FINDING} (2)"  # another borrower's review is untouched


def _moved(session, loan_id: int, n: int, sender: str, recipient: str, at: int) -> None:
    """Notes of `loan_id` moved from `sender` to `recipient` at `at`, as the indexer files it."""
    event = ChainEvent(block_number=n, block_hash=f"0x{n:064x}", tx_hash=f"0x{n:064x}", tx_index=0, log_index=0,
                       contract="LoanBook", address="0x" + "99" * 20, event="TransferSingle", block_timestamp=at,
                       args={"operator": sender, "from": sender, "to": recipient, "id": loan_id, "value": 5})  # fmt: skip
    session.add(event)
    session.flush()
    session.add(NoteTransferRow(event_id=event.id, loan_id=loan_id, sender=sender, recipient=recipient, amount=5,
                                block_number=n, tx_hash=event.tx_hash, log_index=0))  # fmt: skip


def test_the_note_is_shredded_with_the_personal_data_of_any_wallet_the_alert_named(chain_identity_settings):  # noqa: F811
    """A round trip of a loan's notes names the two investors, not the borrower: a note about what the
    investors did was shredded only with the borrower's data, and kept when an investor was erased
    (privacy review, 2026-12-01). Every wallet an alert names is now recorded with its review. On the
    session chain: the note rules read the loan token's decimals from LoanBook."""
    settings = chain_identity_settings.model_copy(update={"aml_retention_days": 0})
    there, back, borrower = make_applicant(1211), make_applicant(1212), "0x" + "cc" * 20
    for person in (there, back):
        with session_scope(settings) as session:  # one each: the velocity counters commit on their own
            submit(session, settings, person.account.address, KycCreate(**person.form()), [])
    with session_scope(settings) as session:
        session.add(_defaulted_first_payment(3, borrower))
        _moved(session, 3, 10, there.account.address, back.account.address, 1_700_000_000)
        _moved(session, 3, 11, back.account.address, there.account.address, 1_700_086_400)
    with session_scope(settings) as session:
        (trip,) = alerts(session, settings, rule="round_trip")
        assert set(trip.wallets) == {there.account.address, back.account.address}
        review_alert(session, settings, trip.key, AlertReviewCreate(decision="escalated", note=FINDING), ADMIN.address)
    with session_scope(settings) as session:
        done = erase_wallet(session, settings, back.account.address, back.account.address)
    assert done.erased_notes == 1
    with session_scope(settings) as session:
        row = session.get(AlertReview, trip.key)
        assert (row.key_id, row.wrapped_key) == (None, None) and FINDING.encode() not in row.sealed_note
        (read,) = alerts(session, settings, rule="round_trip")
        assert (read.review.note, read.review.decision) == (None, "escalated")


def test_the_api_opens_review_notes_only_for_a_recent_sign_in(reviewed):
    settings, _, _ = reviewed
    auditor = Account.create()
    with session_scope(settings) as session:
        grant_role(session, ADMIN.address, auditor.address, "auditor")
    client = client_for(settings)

    def session_begun(minutes_ago: float) -> dict[str, str]:
        with session_scope(settings) as session:
            pair = issue_pair(session, settings, auditor.address, auth_time=datetime.now(UTC) - timedelta(minutes=minutes_ago))
        return {"Authorization": f"Bearer {pair.access_token}"}

    stale = client.get("/api/v1/audit/alerts", params={"rule": "first_payment_default"}, headers=session_begun(45))
    assert stale.status_code == 200 and FINDING not in stale.text
    assert all((a["review"]["note"], a["review"]["note_withheld"]) == (None, True) for a in stale.json())
    fresh = client.get("/api/v1/audit/alerts", params={"rule": "first_payment_default"}, headers=session_begun(1))
    assert sorted(a["review"]["note"] for a in fresh.json()) == [f"{FINDING} (1)", f"{FINDING} (2)"]
    with session_scope(settings) as session:
        logged = session.scalars(select(AuditEntry).where(AuditEntry.action == NOTES_READ)).all()
    assert [e.actor for e in logged] == [auditor.address]  # the stale read opened nothing
