"""What erasure reaches beyond the KYC record's data key: the checks' messages (a watch-list match
describes the person) and the wallet's credit applications no loan was made from; a loan's
decision stays provable."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from backend.chain.projection_models import LoanRow
from backend.db import migrate
from backend.db.session import session_scope
from backend.errors import NotFound
from backend.identity.kyc.lifecycle import erase_wallet
from backend.identity.kyc.submission import submit
from backend.identity.models import KycEvent, KycRecord
from backend.identity.schemas import KycCreate
from backend.lending.models import LoanOffer
from backend.scoring.integrity import audit_decisions
from backend.scoring.models import CreditDecision
from backend.scoring.schemas import ApplicationCreate
from backend.scoring.service import decisions_of, prove_decision, score_application
from tests.conftest import make_settings
from tests.identity.conftest import make_applicant
from tests.scoring.conftest import SAMPLE


@pytest.fixture
def settings(tmp_path, database_url):
    # No AML period: these erase right after a repaid loan to prove what erasure reaches (the period
    # that schedules it instead is tests/identity/test_erasure_requests.py's).
    settings = make_settings(tmp_path, database_url=database_url, aml_retention_days=0)
    migrate.upgrade(settings)
    return settings


def test_erasure_keeps_only_the_codes_of_a_watch_list_match(settings, tmp_path):
    person = make_applicant(913)
    watch = tmp_path / "watch.csv"
    watch.write_text(f"id,name,aliases,dob,nationality,list\nOFAC-4711,{person.full_name},,{person.date_of_birth},CHN,OFAC SDN\n")
    settings = settings.model_copy(update=dict(kyc_watchlist_path=watch))
    with session_scope(settings) as session:
        record = submit(session, settings, person.account.address, KycCreate(**person.form()), [])
        assert record.status == "needs_review" and "SANCTIONS_MATCH" in [r["code"] for r in record.reasons]
        record_id = record.id
    with session_scope(settings) as session:
        erase_wallet(session, settings, person.account.address, person.account.address)
    with session_scope(settings) as session:
        record = session.get(KycRecord, record_id)
        reasons = record.reasons + [r for e in session.scalars(select(KycEvent).where(KycEvent.record_id == record_id))
                                    for r in e.reasons]  # fmt: skip
    flags = [r for r in reasons if r["code"] == "SANCTIONS_MATCH"]
    assert flags and all(r["message"] == "" and r["disposition"] == "review" for r in flags)
    assert not any("OFAC" in r["message"] or "birth" in r["message"] for r in reasons)


def _loan(decision, borrower: str) -> LoanRow:
    """A loan on `decision`'s own terms (6 decimals), as the decision proof checks them."""
    quote, term = decision.quote, SAMPLE["term_months"]
    return LoanRow(
        loan_id=1, status="repaid", borrower=borrower, underwriter="0x" + "33" * 20,
        terms_hash="0x" + "44" * 32, agreement_hash="0x" + "55" * 32, decision_hash=decision.decision_hash,
        principal=(SAMPLE["amount"] + 100) * 10**6, apr_bps=quote.interest_apr_bps, installments=term,
        installment_period=2_592_000, installment_amount=90, funding_deadline=0,
        origination_fee_bps=quote.origination_fee_bps, created_block=1, block_number=1,
        tx_hash="0x" + "66" * 32, log_index=0,
    )  # fmt: skip


def verified_with_a_repaid_loan(session, settings, seed: int):
    """A verified wallet with an application no loan was made from and one a repaid loan was:
    (wallet, unused decision, borrowed decision)."""
    wallet = (person := make_applicant(seed)).account.address
    submit(session, settings, wallet, KycCreate(**person.form()), [])
    unused = score_application(session, ApplicationCreate(**SAMPLE), settings=settings, wallet=wallet)
    borrowed = score_application(session, ApplicationCreate(**(SAMPLE | {"amount": SAMPLE["amount"] + 100})),
                                 settings=settings, wallet=wallet)  # fmt: skip
    session.add(_loan(borrowed, wallet))
    return wallet, unused, borrowed


def test_erasure_clears_the_credit_applications_no_loan_was_made_from(settings):
    """A declined or unused application's inputs (declared finances) and wallet go with the
    erasure; the one a (repaid) loan was made from stays whole, its hash still proven."""
    with session_scope(settings) as session:
        wallet, unused, borrowed = verified_with_a_repaid_loan(session, settings, 914)
    with session_scope(settings) as session:
        erased = erase_wallet(session, settings, wallet, wallet)
    assert erased.erased_decisions == [unused.id]
    with session_scope(settings) as session:
        row = session.get(CreditDecision, unused.id)
        assert (row.inputs, row.wallet) == ({}, None) and row.erased_at is not None
        assert [d.id for d in decisions_of(session, wallet)] == [borrowed.id]
        assert prove_decision(session, borrowed.decision_hash, asset_decimals=6).verified
        with pytest.raises(NotFound, match="application was erased"):
            prove_decision(session, unused.decision_hash)
        report = audit_decisions(session, asset_decimals=6)
        assert (report.checked, report.erased, report.issues) == (1, 1, [])


def _offer(offer_id: str, decision_id: str, borrower: str, status: str) -> LoanOffer:
    return LoanOffer(id=offer_id, decision_id=decision_id, borrower=borrower, status=status, amount=SAMPLE["amount"],
                     quoted_apr_bps=1_500, chain_id=31337, loan_book="0x" + "22" * 20, asset_decimals=6,
                     terms={"borrower": borrower}, terms_hash="0x" + offer_id.encode().hex().rjust(64, "0"),
                     agreement_cid="cid", agreement_hash="0x" + "55" * 32)  # fmt: skip


def test_an_erased_application_cannot_be_recovered_from_what_stays_nor_tied_back_to_the_wallet(settings):
    """The privacy review's H2: after erasure the row kept `input_hash`, an unsalted keccak of exactly
    the erased inputs (32 M closed choices: minutes to try them all), the salt, the quote and the
    reasons' points; the wallet's offers never accepted kept the wallet, the decision, amount and term.
    What stays is the decision taken (score, grade, PD, outcome); a loan's decision and offer stay whole."""
    from backend.scoring.canonical import keccak_hex
    from backend.scoring.service import get_decision

    with session_scope(settings) as session:
        wallet, unused, borrowed = verified_with_a_repaid_loan(session, settings, 915)
        session.add_all([_offer("offered", unused.id, wallet, "offered"), _offer("superseded", unused.id, wallet, "superseded"),
                         _offer("accepted", borrowed.id, wallet, "accepted")])  # fmt: skip
        salt = session.get(CreditDecision, unused.id).salt
    assert salt and unused.input_hash == keccak_hex(SAMPLE)
    with session_scope(settings) as session:
        erased = erase_wallet(session, settings, wallet, wallet)
    assert (erased.erased_decisions, sorted(erased.erased_offers)) == ([unused.id], ["offered", "superseded"])
    with session_scope(settings) as session:
        row = session.get(CreditDecision, unused.id)
        columns = {c.key: getattr(row, c.key) for c in CreditDecision.__table__.columns}
        assert not any(value in (keccak_hex(SAMPLE), salt) for value in columns.values())
        assert (row.input_hash, row.salt, row.inputs, row.wallet) == (None, None, {}, None)
        assert row.outputs == {"score": unused.score, "grade": unused.grade, "pd": unused.pd, "decision": unused.decision}
        assert list(session.scalars(select(LoanOffer.id).where(LoanOffer.borrower == wallet))) == ["accepted"]
        shown = get_decision(session, unused.id)  # staff's GET /score/{id}
        assert (shown.input_hash, shown.salt, shown.quote, shown.reasons, shown.erased_at is not None) == (None, None, None, [], True)
        kept = session.get(CreditDecision, borrowed.id)
        assert kept.input_hash == keccak_hex(kept.inputs) and kept.outputs["quote"]
        assert prove_decision(session, borrowed.decision_hash, asset_decimals=6).verified
        with pytest.raises(NotFound, match="application was erased"):
            prove_decision(session, unused.decision_hash)
        report = audit_decisions(session, asset_decimals=6)
        assert (report.checked, report.erased, report.issues) == (1, 1, [])
