"""A national ID keeps its history: another wallet's record of it, whatever became of that record,
sends a new submission to review, and a rejection on identity grounds holds the ID for good.
Regression of the fraud review's H3 (an ID rejected as stolen, or expired while its borrower was in
default, was approved automatically on a fresh wallet the same day)."""

from __future__ import annotations

from datetime import timedelta

import pytest
from eth_account import Account

from backend.chain.projection_models import LoanRow
from backend.db.session import session_scope
from backend.errors import Forbidden
from backend.identity.kyc import review
from backend.identity.kyc.lifecycle import expire_due
from backend.identity.kyc.submission import submit
from backend.identity.models import utcnow
from backend.identity.schemas import KycCreate
from tests.identity.conftest import ADMIN, client_for, identity_settings, make_applicant, minted_bearer

SECOND_ADMIN = Account.from_key("0x" + "a2" * 32)
ZERO = "0x" + "00" * 32


def codes(record) -> list[str]:
    return [r["code"] for r in record.reasons]


def message(record, code: str) -> str:
    return next(r["message"] for r in record.reasons if r["code"] == code)


def _submit(settings, wallet: str, applicant):
    with session_scope(settings) as s:
        record = submit(s, settings, wallet, KycCreate(**applicant.form()), [])
        s.expunge(record)
        return record


def test_an_id_rejected_on_one_wallet_is_held_on_the_next(tmp_path, database_url):
    settings = identity_settings(tmp_path, database_url, admin_wallets=[ADMIN.address, SECOND_ADMIN.address])
    stolen, a, b = make_applicant(41), Account.create().address, Account.create().address
    first = _submit(settings, a, stolen)
    assert first.status == "approved"
    with session_scope(settings) as s:  # the ID's owner calls: not them
        rejected = review.reject(s, settings, first.id, ADMIN.address, "stolen identity confirmed")
        assert codes(rejected)[-2:] == ["MANUAL_REJECTION", "DENIED_IDENTITY"]

    second = _submit(settings, b, stolen)  # a fresh wallet, the same day
    assert second.status == "needs_review" and codes(second) == ["DUPLICATE_IDENTITY", "DENIED_IDENTITY"]
    assert f"{first.id} (rejected)" in message(second, "DUPLICATE_IDENTITY")
    assert first.id in message(second, "DENIED_IDENTITY")
    stolen.email = "again@example.org"  # the same wallet trying again: held too (and B's record is named)
    again = _submit(settings, a, stolen)
    assert again.status == "needs_review" and codes(again) == ["DUPLICATE_IDENTITY", "DENIED_IDENTITY"]

    with session_scope(settings) as s:  # the flag needs two admins, as a duplicate does
        assert review.same_id_wallets(s, review.get_record(s, second.id)) == [a]
        held = review.approve(s, settings, second.id, ADMIN.address, "hm")
        assert held.status == "needs_review" and codes(held)[-1] == "FIRST_APPROVAL"
    with session_scope(settings) as s, pytest.raises(Forbidden, match="second admin"):
        review.approve(s, settings, second.id, ADMIN.address, "again")


def test_an_id_rejected_on_identity_grounds_is_held_on_its_own_wallet_too(settings):
    person, a = make_applicant(45), Account.create().address
    first = _submit(settings, a, person)
    with session_scope(settings) as s:
        review.reject(s, settings, first.id, ADMIN.address, "a made-up identity")
    person.email = "retry@example.org"
    again = _submit(settings, a, person)
    assert again.status == "needs_review" and codes(again) == ["DENIED_IDENTITY"]


def test_a_rejection_on_other_grounds_frees_the_id_on_its_own_wallet_only(settings):
    person, a, b = make_applicant(42), Account.create().address, Account.create().address
    first = _submit(settings, a, person)
    with session_scope(settings) as s:
        assert "DENIED_IDENTITY" not in codes(review.reject(s, settings, first.id, ADMIN.address, "unreadable", "other"))
    person.email = "retry@example.org"
    assert _submit(settings, a, person).status == "approved"
    other = _submit(settings, b, person)  # another wallet: the rejected and the approved record are named
    assert other.status == "needs_review" and codes(other) == ["DUPLICATE_IDENTITY"]
    assert "2 record(s)" in message(other, "DUPLICATE_IDENTITY") and "(rejected)" in message(other, "DUPLICATE_IDENTITY")


def test_a_rejection_through_the_api_is_on_identity_grounds_unless_told_otherwise(settings):
    client, admin = client_for(settings), minted_bearer(settings, ADMIN)
    person = make_applicant(43)
    first = _submit(settings, Account.create().address, person)
    bad = client.post(f"/api/v1/admin/kyc/{first.id}/reject", json={"note": "x", "ground": "mood"}, headers=admin)
    assert bad.status_code == 422 and "ground" in str(bad.json())
    done = client.post(f"/api/v1/admin/kyc/{first.id}/reject", json={"note": "not the holder"}, headers=admin).json()
    assert [r["code"] for r in done["reasons"]][-1] == "DENIED_IDENTITY"


def _loan(loan_id: int, borrower: str, status: str, **values) -> LoanRow:
    return LoanRow(
        loan_id=loan_id, status=status, borrower=borrower, underwriter=ADMIN.address, terms_hash=ZERO,
        agreement_hash=ZERO, decision_hash=ZERO, principal=3_800 * 10**6, apr_bps=562, installments=12,
        installment_period=30 * 86_400, installment_amount=326 * 10**6, funding_deadline=1, origination_fee_bps=0,
        created_block=1, block_number=1, tx_hash=ZERO, log_index=0, **values,
    )  # fmt: skip


def test_an_expired_borrowers_id_on_a_new_wallet_goes_to_review_naming_its_defaulted_loans(tmp_path, database_url):
    settings = identity_settings(tmp_path, database_url)
    borrower, d, e = make_applicant(44), Account.create().address, Account.create().address
    assert _submit(settings, d, borrower).status == "approved"
    started = int((utcnow() - timedelta(days=200)).timestamp())
    with session_scope(settings) as s:  # D borrowed three times: one defaulted, one late, one repaid
        s.add(_loan(1, d, "defaulted", recoverable=3_400 * 10**6, start_time=started))
        s.add(_loan(2, d, "active", principal_outstanding=3_000 * 10**6, installments_settled=1, start_time=started))
        s.add(_loan(3, d, "repaid", start_time=started))
    with session_scope(settings) as s:  # a year on, D's verification expires and its ID looks free
        assert len(expire_due(s, settings, now=utcnow() + timedelta(days=366))) == 1

    fresh = _submit(settings, e, borrower)
    assert fresh.status == "needs_review" and codes(fresh) == ["DUPLICATE_IDENTITY"]
    assert "(expired)" in message(fresh, "DUPLICATE_IDENTITY")
    with session_scope(settings) as s:
        item = review.review_item(s, settings, fresh.id, ADMIN.address)
    assert item.same_id_wallets == [d]
    loans = {loan.loan_id: loan for loan in item.same_id_loans}
    assert sorted(loans) == [1, 2]  # the repaid one is settled
    assert loans[1].standing == "defaulted" and loans[1].owed == 3_400 * 10**6 and loans[1].borrower == d
    assert loans[2].standing == "late" and 140 <= loans[2].days_late <= 141 and loans[2].owed == 3_000 * 10**6
