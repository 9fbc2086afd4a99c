"""An underwriter reviewing a referral sees its applicant's other applications of the 30 days before
it, from any wallet of the person as a borrower, each naming its wallet, with the answers that
changed between them (review-fraud L1: shopping for a pass)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from sqlalchemy import select

from backend.audit.hashing import payload_hash
from backend.audit.models import AuditEntry
from backend.db.session import session_scope
from backend.identity.kyc.submission import submit
from backend.identity.schemas import KycCreate
from backend.scoring.models import CreditDecision
from backend.scoring.referral_reads import APPLICATIONS_READ, read_referrals
from backend.scoring.schemas import ApplicationCreate
from backend.scoring.service import score_application
from tests.identity.conftest import ADMIN, identity_settings, make_applicant, verify
from tests.identity.test_role_grants import SECOND_ADMIN, THIRD_ADMIN
from tests.scoring.test_service import WORST

SHOPPER, STRANGER, UNDERWRITER = "0x" + "5a" * 20, "0x" + "5b" * 20, "0x" + "0a" * 20


def _scored(session, settings, wallet: str, days_ago: float, **answers) -> CreditDecision:
    made = score_application(session, ApplicationCreate(**{**WORST, **answers}), settings=settings, wallet=wallet)
    row = session.get(CreditDecision, made.id)
    row.created_at = row.created_at - timedelta(days=days_ago)
    return row


def test_a_referral_shows_the_wallets_other_applications_of_30_days_with_the_answers_changed(tmp_path):
    settings = identity_settings(tmp_path, f"sqlite:///{tmp_path / 'referrals.db'}")
    with session_scope(settings) as session:
        old = _scored(session, settings, SHOPPER, 31, amount=3400, monthly_income_band="1000_to_2000")
        declined = _scored(session, settings, SHOPPER, 5, amount=3400, monthly_income_band="2000_to_3500")
        retried = _scored(session, settings, SHOPPER, 2, amount=3400, monthly_income_band="2000_to_3500",
                          employment_length="7y_plus")  # fmt: skip
        referral = _scored(session, settings, SHOPPER, 0, amount=3800)  # 5000_plus and unemployed again
        _scored(session, settings, STRANGER, 1, amount=3400)  # another wallet's: not shown
        ids = {"old": old.id, "declined": declined.id, "retried": retried.id, "referral": referral.id}
        assert (referral.decision, declined.decision) == ("refer", "decline")

    with session_scope(settings) as session:
        waiting = {r.id: r for r in read_referrals(session, UNDERWRITER)}
    others = waiting[ids["referral"]].other_applications
    # newest first; the one of 31 days before is out of the window
    assert [o.id for o in others] == [ids["retried"], ids["declined"]]
    assert others[1].decision == "decline" and others[1].grade == "G" and others[1].review is None
    assert others[1].changed == {"amount": 3400, "monthly_income_band": "2000_to_3500"}
    assert others[0].changed == {"amount": 3400, "monthly_income_band": "2000_to_3500", "employment_length": "7y_plus"}
    # The earlier applications' answers were shown too: the read's audit entry names them.
    shown = sorted({o.id for r in waiting.values() for o in r.other_applications} - set(waiting))
    with session_scope(settings) as session:
        entry = session.scalars(select(AuditEntry).where(AuditEntry.action == APPLICATIONS_READ)).one()
    assert entry.payload_hash == payload_hash({"decision_ids": list(waiting), "other_decision_ids": shown})


def test_a_referral_with_no_other_application_shows_none_and_audits_as_before(tmp_path):
    settings = identity_settings(tmp_path, f"sqlite:///{tmp_path / 'referrals.db'}")
    with session_scope(settings) as session:
        referral = _scored(session, settings, SHOPPER, 0, amount=3800)
    with session_scope(settings) as session:
        [waiting] = read_referrals(session, UNDERWRITER)
        entry = session.scalars(select(AuditEntry).where(AuditEntry.action == APPLICATIONS_READ)).one()
    assert waiting.id == referral.id and waiting.other_applications == []
    assert entry.payload_hash == payload_hash({"decision_ids": [referral.id]})


def test_a_referral_shows_its_persons_other_applications_from_each_verified_wallet_and_no_typists(tmp_path, database_url):
    """A person applying from a second wallet (verified with the same national ID, approved by two
    admins) is shown with that wallet's application; a typist of the person's ID number, whose record
    no admin approved, links nothing; an erased application carries no inputs and stays out."""
    settings = identity_settings(tmp_path, database_url, admin_wallets=[ADMIN.address, SECOND_ADMIN.address,
                                                                        THIRD_ADMIN.address])  # fmt: skip
    person = make_applicant(700)
    typist = make_applicant(701, born=person.date_of_birth)
    second_wallet = make_applicant(702).account.address
    typist.id_number = person.id_number
    verify(settings, person.account.address, person)
    verify(settings, second_wallet, person, SECOND_ADMIN.address, THIRD_ADMIN.address)  # the same person's: held, approved
    with session_scope(settings) as session:  # held for review as a duplicate, and never approved
        assert submit(session, settings, typist.account.address, KycCreate(**typist.form()), []).status == "needs_review"
    with session_scope(settings) as session:
        elsewhere = _scored(session, settings, second_wallet, 5, amount=3400, monthly_income_band="2000_to_3500")
        typed = _scored(session, settings, typist.account.address, 3, amount=3400)
        erased = _scored(session, settings, person.account.address, 2, amount=3400)
        erased.erased_at = datetime.now(UTC)
        referral = _scored(session, settings, person.account.address, 0, amount=3800)
        ids = {"elsewhere": elsewhere.id, "typed": typed.id, "referral": referral.id}

    answer_of = {}
    with session_scope(settings) as session:
        for waiting in read_referrals(session, UNDERWRITER):
            answer_of[waiting.id] = waiting.other_applications
    (other,) = answer_of[ids["referral"]]
    assert (other.id, other.wallet, other.decision) == (ids["elsewhere"], second_wallet, "decline")
    assert other.changed == {"amount": 3400, "monthly_income_band": "2000_to_3500"}
    assert answer_of.get(ids["typed"], []) == []  # the typist's own application (if referred) shows none of the person's
