"""Offers end to end on the session chain: approval -> EIP-712 terms -> the borrower's wallet
signature -> the underwriter's countersignature -> createLoan through the outbox -> the index.
Every refusal is a 4xx that leaves nothing behind."""

from __future__ import annotations

import json
import threading
from datetime import timedelta

import pytest
from eth_account import Account
from eth_utils import keccak
from sqlalchemy import func, select

from backend.audit.hashing import payload_hash
from backend.audit.models import AuditEntry
from backend.chain.client import contract_at, get_web3
from backend.chain.deploy import deployed_addresses
from backend.chain.loan_book import chain_time
from backend.chain.models import Intent, IntentStatus
from backend.chain.outbox import get_intent, process_until_idle
from backend.chain.projection_models import LoanRow
from backend.content.store import get_content_store
from backend.db.session import session_factory, session_scope
from backend.errors import Conflict
from backend.identity.models import KycRecord
from backend.identity.persons import same_borrower_person
from backend.identity.roles import grant_role
from backend.lending.exposure import Exposure, check_application
from backend.lending.models import LoanOffer
from backend.lending.offers import accept_offer
from backend.lending.schemas import OfferAccept
from backend.scoring.models import CreditDecision
from backend.scoring.schemas import ApplicationCreate
from backend.scoring.scorer import scorer_for_version
from backend.scoring.service import score_application
from tests.identity.conftest import ADMIN, PNG, approve_with_documents, bearer, client_for, make_applicant, verify
from tests.identity.test_kyc_dedup import mrz
from tests.identity.test_role_grants import SECOND_ADMIN, THIRD_ADMIN
from tests.lending.conftest import (
    RISKY,
    SAMPLE,
    Borrower,
    created_loan,
    scored,
    settle,
    sign_typed,
    verified_borrower,
)


def _offer(client, borrower, decision, **body):
    return client.post("/api/v1/offers", json={"decision_id": decision["id"], **body}, headers=borrower.headers)


def _accept(client, borrower, offer, signature):
    return client.post(f"/api/v1/offers/{offer['id']}/accept", json={"signature": signature}, headers=borrower.headers)


def _counts(settings) -> tuple[int, int]:
    with session_scope(settings) as session:
        return session.scalar(select(func.count()).select_from(LoanOffer)), session.scalar(select(func.count()).select_from(Intent))


def test_the_borrower_signs_the_offer_and_the_loan_is_created_on_chain(client, chain_identity_settings, borrower, approved):
    settings = chain_identity_settings
    response = _offer(client, borrower, approved)
    assert response.status_code == 201, response.json()
    offer = response.json()
    terms, typed = offer["terms"], offer["typed_data"]
    assert offer["state"] == "offered" and offer["borrower"] == borrower.account.address
    assert terms["decision_hash"] == approved["decision_hash"] == typed["message"]["decisionHash"]
    assert terms["principal"] == SAMPLE["amount"] * 10 ** offer["asset_decimals"]
    assert terms["installments"] == SAMPLE["term_months"] and len(offer["schedule"]) == SAMPLE["term_months"]
    assert sum(row["principal"] for row in offer["schedule"]) == terms["principal"]
    price = offer["price"]
    # The reserve fee leaves the rate and is paid at disbursal, as the quote states it: grade A's claim
    # at the top of its band, PD 5.95% x 80% cover x 0.530 of the principal outstanding at default (the
    # 24-installment schedule's mean at 5.10%) = 2.53%, rounded up; the interest is 5% + 3.91% x
    # (85% - 80%) x 365 / 720 = 5.10%, rounded up.
    assert price["quoted_apr_bps"] == approved["quote"]["apr_bps"] == 753
    assert price["interest_apr_bps"] == price["quoted_apr_bps"] - approved["quote"]["reserve_fee_bps"] == terms["apr_bps"]
    assert terms["apr_bps"] == approved["quote"]["interest_apr_bps"] == 510
    assert price["origination_fee_bps"] == terms["origination_fee_bps"] == approved["quote"]["origination_fee_bps"] == 253
    # The cost of credit, stated before signing, from the cash flows: the fee comes off what the
    # borrower receives, so the APR with it exceeds the interest rate.
    financed = terms["principal"] - terms["principal"] * 253 // 10_000
    assert price["amount_financed"] == financed and price["total_repayable"] == sum(r["amount"] for r in offer["schedule"])
    assert price["finance_charge"] == price["total_repayable"] - financed
    assert price["interest_apr_bps"] < price["apr_actuarial_bps"] < price["aprc_bps"]
    assert typed["domain"]["verifyingContract"] == deployed_addresses(settings)["LoanBook"]
    agreement = get_content_store(settings).get(offer["agreement_cid"])
    assert "0x" + keccak(agreement).hex() == terms["agreement_hash"]
    assert borrower.account.address.encode() in agreement
    readable = client.get(f"/api/v1/offers/{offer['id']}/agreement", headers=borrower.headers).json()
    assert readable == json.loads(agreement) and readable["terms"]["principal"] == terms["principal"]
    assert readable["credit_decision"]["decision_hash"] == approved["decision_hash"]
    assert readable["cost_of_credit"] == {k: price[k] for k in ("amount_financed", "finance_charge", "apr_actuarial_bps",
                                                                 "aprc_bps")} | {"total_of_payments": price["total_repayable"]}
    # One APR in the signed document, the true one (review-pricing L4): the quote's estimate is not in it.
    assert readable["version"] == 4 and "all_in_apr_bps" not in readable["terms"] and "apr_bps" not in json.dumps(
        readable["terms"]).replace("interest_apr_bps", "")  # fmt: skip

    signature = sign_typed(borrower.account, typed)
    accepted = _accept(client, borrower, offer, signature)
    assert accepted.status_code == 200, accepted.json()
    assert accepted.json()["state"] == "submitting" and accepted.json()["intent_status"] == "pending"
    assert _accept(client, borrower, offer, signature).json()["state"] == "submitting"  # a retry: same intent
    assert _counts(settings) == (1, 2)  # the attestation and one createLoan

    settle(settings)
    done = client.get(f"/api/v1/offers/{offer['id']}", headers=borrower.headers).json()
    assert done["state"] == "created" and done["intent_status"] == "confirmed", done
    loan_id = done["loan_id"]
    onchain = contract_at(settings, "LoanBook", deployed_addresses(settings)["LoanBook"]).functions.loan(loan_id).call()
    assert onchain[0] == borrower.account.address and onchain[6] == terms["principal"]  # Loan.borrower, .principal
    assert "0x" + bytes(onchain[19]).hex() == offer["terms_hash"]  # Loan.termsHash

    loan = client.get(f"/api/v1/loans/{loan_id}").json()
    assert loan["terms_hash"] == offer["terms_hash"] and loan["decision_hash"] == approved["decision_hash"]
    assert loan["status"] == "funding" and loan["remaining"] == terms["principal"] and loan["funded"] == 0
    # What anyone is told, signed in or not: the grade (the APR gives it anyway), never the stated
    # purpose, which investors read in the borrower profile while they decide (privacy review L5).
    assert loan["grade"] == approved["grade"] and "purpose" not in loan and SAMPLE["purpose"] not in json.dumps(loan)
    assert loan["agreement_cid"] == offer["agreement_cid"] and loan["agreement_hash"] == terms["agreement_hash"]
    assert [row["amount"] for row in loan["schedule"]] == [row["amount"] for row in offer["schedule"]]
    listed = client.get("/api/v1/loans", params={"status": "funding", "borrower": borrower.account.address.lower()}).json()
    assert [row["loan_id"] for row in listed["loans"]] == [loan_id] and listed["total"] == 1
    assert SAMPLE["purpose"] not in json.dumps(listed)
    assert client.get("/api/v1/offers", headers=borrower.headers).json()[0]["loan_id"] == loan_id


def test_offers_refuse_what_was_not_approved_for_this_borrower(client, chain_identity_settings, borrower, approved):
    settings = chain_identity_settings
    risky = scored(client, borrower, RISKY)
    assert risky["decision"] in ("refer", "decline")
    refused = _offer(client, borrower, risky)
    assert refused.status_code == 409 and risky["decision"] in refused.json()["detail"]

    limit = min(SAMPLE["amount"], approved["quote"]["max_amount"])
    too_much = _offer(client, borrower, approved, amount=limit + 50)
    assert too_much.status_code == 422 and too_much.json()["context"]["field"] == "amount"
    below_product = _offer(client, borrower, approved, amount=10)
    assert below_product.status_code == 422 and "amount" in str(below_product.json())

    assert client.post("/api/v1/offers", json={"decision_id": "nope"}, headers=borrower.headers).status_code == 404
    other = verified_borrower(client, settings, 401)
    assert _offer(client, other, approved).status_code == 404  # someone else's approval is no approval
    assert _counts(settings)[0] == 0

    smaller = _offer(client, borrower, approved, amount=1000)
    assert smaller.status_code == 201 and smaller.json()["terms"]["principal"] == 1000 * 10 ** smaller.json()["asset_decimals"]


APPLIED_11500 = {"amount": 11500, "term_months": 48, "purpose": "retraining", "monthly_income_band": "3500_to_5000",
                 "monthly_debt_payments": 300, "employment_length": "4_to_7y", "housing": "own",
                 "existing_loans_with_us": 0, "checking_account": "200_plus_or_salary", "savings": "100_to_500",
                 "credit_history": "critical_or_credit_elsewhere", "property": "real_estate",
                 "other_instalment_plans": "none", "guarantor": "guarantor"}  # fmt: skip


def test_a_lower_amount_is_scored_again_and_priced_by_a_decision_of_its_own(client, chain_identity_settings, borrower):
    """11,500 over 48 months is grade C and approved. An approval the amount rule lets through has no
    lower amount two grades worse, but a lower one may still not be an approval: 8,000 is D (a
    referral), and 3,500 is A but rests on the exact amount (3,446 is C), a referral too: neither may
    be lent at 11,500's price under 11,500's hash. 7,500 is C again, approved by a decision of its own."""
    settings = chain_identity_settings
    applied = scored(client, borrower, APPLIED_11500)
    assert (applied["grade"], applied["decision"]) == ("C", "approve")
    before = _counts(settings)
    for amount, verdict in ((3500, "refer"), (8000, "refer")):
        refused = _offer(client, borrower, applied, amount=amount)
        assert refused.status_code == 409 and refused.json()["context"]["decision"] == verdict, refused.json()
        assert f"at {amount} this application scores" in refused.json()["detail"]
    assert _counts(settings) == before  # nothing stored: no offer, no decision
    with session_scope(settings) as session:
        assert session.scalar(select(func.count()).select_from(CreditDecision)) == 1

    offer = _offer(client, borrower, applied, amount=7500)
    assert offer.status_code == 201, offer.json()
    terms = offer.json()["terms"]
    assert terms["principal"] == 7500 * 10 ** offer.json()["asset_decimals"]
    assert terms["decision_hash"] != applied["decision_hash"] and offer.json()["decision_id"] == applied["id"]
    with session_scope(settings) as session:
        rescored = session.scalar(select(CreditDecision).where(CreditDecision.decision_hash == terms["decision_hash"]))
        assert rescored.inputs == {**APPLIED_11500, "amount": 7500} and rescored.decision == "approve"
        assert rescored.wallet == borrower.account.address and rescored.apr_bps == offer.json()["price"]["quoted_apr_bps"]
    agreement = client.get(f"/api/v1/offers/{offer.json()['id']}/agreement", headers=borrower.headers).json()
    assert agreement["credit_decision"]["decision_hash"] == terms["decision_hash"]
    same = _offer(client, borrower, applied)  # at the amount applied for, the decision taken up prices it
    assert same.json()["terms"]["decision_hash"] == applied["decision_hash"]


def test_no_offer_above_the_apr_cap_and_none_past_its_decisions_life(client, chain_identity_settings, borrower,
                                                                      approved, monkeypatch):  # fmt: skip
    settings = chain_identity_settings
    from backend.lending import offers as offers_module

    monkeypatch.setattr(offers_module, "MAX_APR", 0.06)  # SAMPLE's actuarial APR is 7.66%
    capped = _offer(client, borrower, approved)
    assert capped.status_code == 409 and "cap" in capped.json()["detail"], capped.json()
    assert capped.json()["context"]["field"] == "term_months" and capped.json()["context"]["apr_bps"] == 766
    monkeypatch.undo()

    with session_scope(settings) as session:  # a decision with an hour of its 30 days left
        row = session.get(CreditDecision, approved["id"])
        row.created_at = row.created_at - timedelta(days=settings.offer_decision_ttl_days, hours=-1)
    offer = _offer(client, borrower, approved).json()
    assert offer["terms"]["deadline"] <= chain_time(settings) + 3600 + 5  # not 72 hours: the decision ends first
    with session_scope(settings) as session:  # the decision's life ends before the signature arrives
        row = session.get(CreditDecision, approved["id"])
        row.created_at = row.created_at - timedelta(hours=2)
    late = _accept(client, borrower, offer, sign_typed(borrower.account, offer["typed_data"]))
    assert late.status_code == 409 and "apply again" in late.json()["detail"]


def test_terms_the_contract_would_refuse_as_not_amortizing_are_a_422_before_signing(client, chain_identity_settings,
                                                                                     borrower, approved, monkeypatch):  # fmt: skip
    """`createLoan` reverts `LoanBookScheduleDoesNotAmortize` below a first principal portion; the
    offer builder checks the same rule (here with a floor no real offer can reach), so such terms are
    never anchored, offered or signed."""
    from backend.chain import loan_terms

    monkeypatch.setattr(loan_terms, "MIN_FIRST_PRINCIPAL", 10**30)
    before = _counts(chain_identity_settings)
    refused = _offer(client, borrower, approved)
    assert refused.status_code == 422, refused.text
    context = refused.json()["context"]
    assert context["field"] == "installments" and 0 < context["first_principal"] < context["min_first_principal"]
    assert _counts(chain_identity_settings) == before  # no offer, no intent


def test_only_the_borrowers_signature_over_these_exact_terms_is_accepted(client, chain_identity_settings, borrower, approved):
    settings = chain_identity_settings
    offer = _offer(client, borrower, approved).json()
    intents_before = _counts(settings)[1]
    stranger = Account.create()
    tampered = {**offer["typed_data"], "message": {**offer["typed_data"]["message"], "principal": 1}}
    for signature in (
        sign_typed(stranger, offer["typed_data"]),  # someone else's wallet
        sign_typed(borrower.account, tampered),  # the borrower, but other terms
        "0x" + "11" * 65,  # not a signature at all
        "0xzz",
    ):
        response = _accept(client, borrower, offer, signature)
        assert response.status_code == 422 and response.json()["context"]["field"] == "signature", response.json()
    assert _counts(settings)[1] == intents_before
    assert client.get(f"/api/v1/offers/{offer['id']}", headers=borrower.headers).json()["state"] == "offered"

    other = verified_borrower(client, settings, 402)
    assert _accept(client, other, offer, sign_typed(other.account, offer["typed_data"])).status_code == 404
    assert client.get(f"/api/v1/offers/{offer['id']}/agreement", headers=other.headers).status_code == 404


def test_one_open_offer_per_borrower_and_one_loan_per_decision(client, chain_identity_settings, borrower, approved):
    settings = chain_identity_settings
    first = _offer(client, borrower, approved).json()
    second = _offer(client, borrower, approved, amount=2000).json()
    assert first["terms"]["nonce"] == second["terms"]["nonce"]  # so only one of them can ever be used
    assert client.get(f"/api/v1/offers/{first['id']}", headers=borrower.headers).json()["state"] == "superseded"
    assert _accept(client, borrower, first, sign_typed(borrower.account, first["typed_data"])).status_code == 409

    signature = sign_typed(borrower.account, second["typed_data"])
    assert _accept(client, borrower, second, signature).status_code == 200
    assert _accept(client, borrower, second, sign_typed(borrower.account, first["typed_data"])).status_code == 409
    again = _offer(client, borrower, approved)
    assert again.status_code == 409 and second["id"] in again.json()["detail"]
    fresh = scored(client, borrower)
    in_flight = _offer(client, borrower, fresh)
    assert in_flight.status_code == 409 and "being recorded" in in_flight.json()["detail"]
    process_until_idle(settings)  # createLoan mined, but the index has not read the loan yet ...
    with session_scope(settings) as session:
        assert get_intent(session, f"offer:{second['id']}").status == IntentStatus.CONFIRMED
    mined = _offer(client, borrower, fresh)  # ... so its exposure checks could not count it: wait
    assert mined.status_code == 409 and "being recorded" in mined.json()["detail"]
    erasure = client.delete("/api/v1/kyc/me", headers=borrower.headers)  # nor may it drop its identity now
    assert erasure.status_code == 409 and erasure.json()["context"]["offer_id"] == second["id"]

    settle(settings)
    stacked = _offer(client, borrower, fresh)  # declares no loans with us, but the first one is on-chain now
    assert stacked.status_code == 409 and stacked.json()["context"]["field"] == "existing_loans_with_us"
    truthful = scored(client, borrower, {**SAMPLE, "existing_loans_with_us": 1})
    follow_up = _offer(client, borrower, truthful)  # the first loan is on-chain: the next nonce is free
    assert follow_up.status_code == 201 and follow_up.json()["terms"]["nonce"] == second["terms"]["nonce"] + 1


def test_an_expired_offer_cannot_be_accepted(client, chain_identity_settings, borrower, approved):
    settings = chain_identity_settings
    offer = _offer(client, borrower, approved).json()
    w3 = get_web3(settings)
    w3.provider.make_request("evm_setNextBlockTimestamp", [offer["terms"]["deadline"] + 1])
    w3.provider.make_request("evm_mine", [])
    assert chain_time(settings) > offer["terms"]["deadline"]
    response = _accept(client, borrower, offer, sign_typed(borrower.account, offer["typed_data"]))
    assert response.status_code == 409 and "expired" in response.json()["detail"]


def test_loans_are_public_and_filters_are_checked(client):
    assert client.get("/api/v1/loans").json() == {"loans": [], "total": 0}
    assert client.get("/api/v1/loans", params={"status": "lost"}).status_code == 422
    bad = client.get("/api/v1/loans", params={"borrower": "0x123"})
    assert bad.status_code == 422 and bad.json()["context"]["field"] == "borrower"
    assert client.get("/api/v1/loans/999").status_code == 404


# The model before the prudent reserve fee: the fee at the grade's mean PD over a linear principal.
EXPECTED_CLAIMS_MODEL = "0x0204544e5b716ebda28976bc770af44e5d59fa6dfd7aa1a36673f78a7425fb45"
REFERRED = {**SAMPLE, "checking_account": "none", "credit_history": "current_repaid_duly", "savings": "none_or_unknown",
            "guarantor": "none"}  # fmt: skip


def test_a_referral_becomes_an_offer_only_after_an_underwriter_approves_it(client, chain_identity_settings, borrower):
    settings = chain_identity_settings
    referral = scored(client, borrower, REFERRED)
    assert referral["decision"] == "refer" and referral["review"] is None
    waiting = _offer(client, borrower, referral)
    assert waiting.status_code == 409 and "review" in waiting.json()["detail"]

    underwriter = verified_borrower(client, settings, 403)  # an employee may borrow too, but not self-review
    with session_scope(settings) as session:
        grant_role(session, ADMIN.address, underwriter.account.address, "underwriter")
    own = scored(client, underwriter, REFERRED)
    review = {"outcome": "approve", "note": "stable income, past delays were medical"}
    assert client.post(f"/api/v1/score/{own['id']}/review", json=review, headers=underwriter.headers).status_code == 403
    assert client.post(f"/api/v1/score/{referral['id']}/review", json=review, headers=borrower.headers).status_code == 403
    bad = client.post(f"/api/v1/score/{referral['id']}/review", json={"outcome": "maybe", "note": "x"}, headers=underwriter.headers)
    assert bad.status_code == 422

    waiting = client.get("/api/v1/score/referrals", headers=underwriter.headers).json()
    assert [d["id"] for d in waiting] == [referral["id"], own["id"]]  # oldest first
    # What the underwriter approves: the application as scored, and how much of the income it would take.
    assert waiting[0]["application"] == REFERRED and waiting[0]["grade"] == referral["grade"]
    installment = referral["quote"]["monthly_payment"]
    # the installment falls every 30 days: 365/30 of them a year, counted by month
    assert waiting[0]["debt_service_ratio"] == round((REFERRED["monthly_debt_payments"] + installment * 365 / 360) / 2000, 2)
    assert waiting[0]["debt_service_ratio_cap"] == 0.35
    reviewed = client.post(f"/api/v1/score/{referral['id']}/review", json=review, headers=underwriter.headers)
    assert reviewed.status_code == 201, reviewed.json()
    assert reviewed.json()["review"]["outcome"] == "approve"
    assert reviewed.json()["decision_hash"] == referral["decision_hash"]  # the model's decision stands as hashed
    again = client.post(f"/api/v1/score/{referral['id']}/review", json=review, headers=underwriter.headers)
    assert again.status_code == 200  # its reviewer's retry: the stored review (review-api L4)
    assert again.json() == reviewed.json()  # the same answer, times in UTC on SQLite too
    assert again.json()["created_at"].endswith("Z") and again.json()["review"]["reviewed_at"].endswith("Z")
    other = client.post(f"/api/v1/score/{referral['id']}/review", json={**review, "note": "on second thoughts"},
                        headers=underwriter.headers)  # fmt: skip
    assert other.status_code == 409 and "already reviewed" in other.json()["detail"]  # a review is made once
    assert [d["id"] for d in client.get("/api/v1/score/referrals", headers=underwriter.headers).json()] == [own["id"]]
    # Each read of the applications (declared finances) is on the record: who read, and whose (privacy review M6).
    with session_scope(settings) as session:
        reads = [(e.actor, e.subject, e.payload_hash) for e in session.scalars(
            select(AuditEntry).where(AuditEntry.action == "decision.applications_read").order_by(AuditEntry.seq))]  # fmt: skip
    assert reads == [(underwriter.account.address, "decision:referrals", payload_hash({"decision_ids": ids}))
                     for ids in ([referral["id"], own["id"]], [own["id"]])]  # fmt: skip
    approved_by_model = scored(client, borrower)
    assert client.post(f"/api/v1/score/{approved_by_model['id']}/review", json=review, headers=underwriter.headers).status_code == 409

    mine = {d["id"]: d for d in client.get("/api/v1/score/mine", headers=borrower.headers).json()}
    assert mine[referral["id"]]["review"]["outcome"] == "approve"  # the borrower sees the verdict
    assert mine[approved_by_model["id"]]["review"] is None
    offer = _offer(client, borrower, referral)
    assert offer.status_code == 201 and offer.json()["terms"]["decision_hash"] == referral["decision_hash"]

    # Grade D over 6 months: today its reserve fee (10.22%, at the top of D's band) is above the loan
    # contract's limit, a decline with no price and nothing to review. The model before priced it at
    # 36.05%, above the 36% line: such a referral, made before the retrain and still waiting, cannot be
    # approved either.
    short = {**REFERRED, "term_months": 6, "amount": 2800}
    declined_now = scored(client, borrower, short)
    assert (declined_now["grade"], declined_now["decision"], declined_now["quote"]) == ("D", "decline", None)
    with session_scope(settings) as session:
        pricey = score_application(session, ApplicationCreate(**short), scorer_for_version(EXPECTED_CLAIMS_MODEL),
                                   settings=settings, wallet=borrower.account.address)  # fmt: skip
    assert pricey.decision == "refer" and pricey.quote.apr_bps == 3605
    over_cap = client.post(f"/api/v1/score/{pricey.id}/review", json=review, headers=underwriter.headers)
    assert over_cap.status_code == 409 and "36% cap" in over_cap.json()["detail"]  # an underwriter cannot lift it
    assert client.get(f"/api/v1/score/{pricey.id}", headers=underwriter.headers).json()["review"] is None

    declined = scored(client, borrower, REFERRED)
    no = {"outcome": "decline", "note": "debt burden too high"}
    assert client.post(f"/api/v1/score/{declined['id']}/review", json=no, headers=underwriter.headers).status_code == 201
    refused = _offer(client, borrower, declined)
    assert refused.status_code == 409 and "declined on review" in refused.json()["detail"]


def test_a_grade_e_application_is_declined_for_its_reserve_fee_and_nothing_reaches_the_chain(client, chain_identity_settings,
                                                                                              borrower):  # fmt: skip
    """Grade E's reserve fee (12.21% of the amount over 8 months) is above LoanBook's 10% limit: the
    decision is a decline with reason R24 first, no underwriter may approve it, and no offer, no
    outbox intent and no loan come of it."""
    from tests.scoring.test_service import GRADE_E

    settings = chain_identity_settings
    underwriter = verified_borrower(client, settings, 404)
    with session_scope(settings) as session:
        grant_role(session, ADMIN.address, underwriter.account.address, "underwriter")
    book = contract_at(settings, "LoanBook", deployed_addresses(settings)["LoanBook"])
    loans_before, before = book.functions.loanCount().call(), _counts(settings)
    declined = scored(client, borrower, GRADE_E)
    assert (declined["grade"], declined["decision"], declined["quote"]) == ("E", "decline", None)
    assert [r["code"] for r in declined["policy_reasons"]] == ["R24"]
    refused = _offer(client, borrower, declined)
    assert refused.status_code == 409 and refused.json()["context"]["decision"] == "decline"
    review = {"outcome": "approve", "note": "the contract cannot take this fee"}
    overridden = client.post(f"/api/v1/score/{declined['id']}/review", json=review, headers=underwriter.headers)
    assert overridden.status_code == 409 and "only a referral is reviewed" in overridden.json()["detail"]
    process_until_idle(settings)
    assert _counts(settings) == before  # no offer, no intent
    with session_scope(settings) as session:
        assert session.scalar(select(func.count()).select_from(Intent).where(Intent.function == "createLoan")) == 0
    assert book.functions.loanCount().call() == loans_before


def test_no_offer_while_the_reserve_covers_another_share_than_the_fee_was_priced_for(client, chain_identity_settings,
                                                                                      borrower, approved):  # fmt: skip
    """The reserve fee is the reserve's expected claim at 80% cover (policy.RESERVE_COVER): an admin
    who sets the ReserveFund's coverageRatioBps to 70% stops offers, which say both figures, until
    the two agree again; nothing is stored meanwhile."""
    from backend.errors import ConfigurationError
    from backend.lending.offers import create_offer
    from backend.lending.schemas import OfferCreate

    settings = chain_identity_settings
    reserve = contract_at(settings, "ReserveFund", deployed_addresses(settings)["ReserveFund"])
    admin = get_web3(settings).eth.accounts[0]
    assert reserve.functions.coverageRatioBps().call() == 8_000
    get_web3(settings).eth.wait_for_transaction_receipt(reserve.functions.setCoverageRatio(7_000).transact({"from": admin}))
    before = _counts(settings)
    with session_scope(settings) as session, pytest.raises(ConfigurationError) as refused:
        create_offer(session, settings, borrower.account.address, OfferCreate(decision_id=approved["id"]))
    assert "coverageRatioBps is 7000 (70.00%" in refused.value.message and "80.00% cover" in refused.value.message
    assert refused.value.details == {"coverage_ratio_bps": 7_000, "policy_cover_bps": 8_000}
    api = _offer(client, borrower, approved)
    assert api.status_code == 500 and api.json()["error"] == "configuration_error", api.json()
    assert _counts(settings) == before
    get_web3(settings).eth.wait_for_transaction_receipt(reserve.functions.setCoverageRatio(8_000).transact({"from": admin}))
    assert _offer(client, borrower, approved).status_code == 201


def test_a_create_loan_that_reverts_shows_on_the_offer_and_frees_the_decision(client, chain_identity_settings, borrower, approved):
    settings = chain_identity_settings
    offer = _offer(client, borrower, approved).json()
    assert _accept(client, borrower, offer, sign_typed(borrower.account, offer["typed_data"])).status_code == 200
    registry = contract_at(settings, "KYCRegistry", deployed_addresses(settings)["KYCRegistry"])
    attestor = get_web3(settings).eth.accounts[0]
    get_web3(settings).eth.wait_for_transaction_receipt(
        registry.functions.revoke(borrower.account.address).transact({"from": attestor})
    )  # the attestation lapses before the outbox gets to createLoan
    settle(settings)
    failed = client.get(f"/api/v1/offers/{offer['id']}", headers=borrower.headers).json()
    assert failed["state"] == "failed" and failed["error"] == "LoanBookBorrowerNotVerified" and failed["loan_id"] is None
    retry = _offer(client, borrower, approved)  # nothing was used: the same approval may be taken up again
    assert retry.status_code == 201 and retry.json()["terms"]["nonce"] == offer["terms"]["nonce"]


def test_credit_applications_are_rate_limited_per_wallet(chain_identity_settings, borrower):
    limited = chain_identity_settings.model_copy(update={"score_rate_limit": 2})
    with client_for(limited) as client:
        codes = [client.post("/api/v1/score", json=SAMPLE, headers=borrower.headers).status_code for _ in range(3)]
        refused = client.post("/api/v1/score", json=SAMPLE, headers=borrower.headers).json()
    assert codes == [201, 201, 429] and "at most 2 per hour" in refused["detail"]


def test_refused_applications_and_offers_leave_the_limit_alone_and_a_429_says_when_to_retry(chain_identity_settings, borrower):
    """The hourly limit is there to stop probing the model: a 422 decides nothing, so it changes
    nothing, the count included. The refusal past the limit carries Retry-After."""
    limited = chain_identity_settings.model_copy(update={"score_rate_limit": 2, "offer_rate_limit": 1})
    with client_for(limited) as client:
        malformed = [client.post("/api/v1/score", json={"amount": 1}, headers=borrower.headers).status_code for _ in range(3)]
        decisions = [client.post("/api/v1/score", json=SAMPLE, headers=borrower.headers) for _ in range(2)]
        refused = client.post("/api/v1/score", json=SAMPLE, headers=borrower.headers)
        unknown = [_offer(client, borrower, {"id": "no-such-decision"}).status_code for _ in range(2)]
        offer = _offer(client, borrower, decisions[0].json())
        offer_refused = _offer(client, borrower, decisions[0].json())
    assert malformed == [422, 422, 422] and [d.status_code for d in decisions] == [201, 201]
    assert refused.status_code == 429 and "at most 2 per hour" in refused.json()["detail"]
    assert 0 < int(refused.headers["Retry-After"]) <= 3600
    assert refused.json()["context"]["retry_after"] == int(refused.headers["Retry-After"])
    assert unknown == [404, 404] and offer.status_code == 201, offer.json()
    assert offer_refused.status_code == 429 and 0 < int(offer_refused.headers["Retry-After"]) <= 3600


def test_offers_are_rate_limited_per_wallet_and_listed_a_page_at_a_time(chain_identity_settings, borrower, approved):
    """Each offer stores and anchors an agreement document: a borrower may not make them without
    end, and the list of one's offers comes a bounded page at a time."""
    limited = chain_identity_settings.model_copy(update={"offer_rate_limit": 3})
    with client_for(limited) as client:
        made = [_offer(client, borrower, approved, amount=1000 + i) for i in range(3)]
        refused = _offer(client, borrower, approved)
        assert [r.status_code for r in made] == [201, 201, 201]
        assert refused.status_code == 429 and "at most 3 per hour" in refused.json()["detail"]
        assert _counts(limited)[0] == 3  # the refused one stored and anchored nothing

        def page(query: str):
            return client.get(f"/api/v1/offers{query}", headers=borrower.headers)

        newest_first = [r.json()["id"] for r in reversed(made)]
        assert [o["id"] for o in page("").json()] == newest_first
        assert [o["id"] for o in page("?limit=2").json()] == newest_first[:2]
        assert [o["id"] for o in page("?limit=2&offset=2").json()] == newest_first[2:]
        assert [o["id"] for o in page(f"?decision_id={approved['id']}&limit=1").json()] == newest_first[:1]
        assert page("?decision_id=other").json() == []
        assert page("?limit=1000").status_code == 422 and page("?offset=-1").status_code == 422


def test_a_retried_offer_with_its_idempotency_key_is_the_first_offer_not_a_second(chain_identity_settings, borrower,
                                                                                    approved):  # fmt: skip
    """A retry used to make a second offer, superseding the first (whose terms the borrower may be
    signing), anchoring a second agreement and spending the hourly limit. With the key it is answered
    with the first offer, as it is now (200), nothing stored, anchored or counted; the key with another
    request is 409."""
    limited = chain_identity_settings.model_copy(update={"offer_rate_limit": 2})
    keyed = {**borrower.headers, "Idempotency-Key": "offer-1"}
    with client_for(limited) as client:
        first = client.post("/api/v1/offers", json={"decision_id": approved["id"]}, headers=keyed)
        assert first.status_code == 201, first.text
        with session_scope(limited) as session:
            written = (_counts(limited), session.scalar(select(func.count()).select_from(AuditEntry)))
        for _ in range(3):
            retry = client.post("/api/v1/offers", json={"decision_id": approved["id"]}, headers=keyed)
            assert retry.status_code == 200, retry.text
            assert retry.json() == first.json() and retry.json()["state"] == "offered"  # not superseded by itself
        with session_scope(limited) as session:
            assert (_counts(limited), session.scalar(select(func.count()).select_from(AuditEntry))) == written
        other = client.post("/api/v1/offers", json={"decision_id": approved["id"], "amount": 1000}, headers=keyed)
        assert other.status_code == 409 and other.json()["error"] == "idempotency_key_reused"
        # the limit of 2 counted the first offer only
        assert _offer(client, borrower, approved, amount=1000).status_code == 201
        assert _offer(client, borrower, approved).status_code == 429
        # once superseded, a retry answers the offer as it is now
        assert client.post("/api/v1/offers", json={"decision_id": approved["id"]}, headers=keyed).json()["state"] == "superseded"


def test_the_ledger_checks_the_application_and_caps_what_one_borrower_owes(client, chain_identity_settings, borrower, approved):
    settings = chain_identity_settings
    loan_id = created_loan(client, settings, borrower, approved)["loan_id"]  # 3,000 being funded: owed in full
    with session_scope(settings) as session:
        installment = session.get(LoanRow, loan_id).installment_amount
    on_ledger = -(-installment // 10**6)
    shown = client.get("/api/v1/offers/borrowing", headers=borrower.headers).json()  # what the form can say first
    assert shown == {"open_loans": 1, "monthly_debt_with_us": on_ledger, "owed": 3000, "cap": 20_000, "headroom": 17_000,
                     "owing_defaulted": []}  # fmt: skip
    understated = scored(client, borrower, {**SAMPLE, "existing_loans_with_us": 1, "monthly_debt_payments": on_ledger - 1})
    before = _counts(settings)
    refused = _offer(client, borrower, understated)
    assert refused.status_code == 409 and refused.json()["context"] == {
        "field": "monthly_debt_payments", "declared": on_ledger - 1, "on_chain": on_ledger}  # fmt: skip

    truthful = scored(client, borrower, {**SAMPLE, "existing_loans_with_us": 1, "monthly_debt_payments": on_ledger})
    with client_for(settings.model_copy(update={"borrower_max_outstanding": 5000})) as capped:
        over = capped.post("/api/v1/offers", json={"decision_id": truthful["id"]}, headers=borrower.headers)
        assert over.status_code == 422 and over.json()["context"]["limit"] == 2000  # 3,000 owed of 5,000
        assert _counts(settings) == before
        within = capped.post("/api/v1/offers", json={"decision_id": truthful["id"], "amount": 2000}, headers=borrower.headers)
        assert within.status_code == 201
    with client_for(settings.model_copy(update={"borrower_max_outstanding": 3100})) as full:
        none_left = full.post("/api/v1/offers", json={"decision_id": truthful["id"]}, headers=borrower.headers)
    assert none_left.status_code == 409 and none_left.json()["context"] == {"field": "amount", "cap": 3100, "headroom": 100}

    # The ledger confirms the credit history (review M2): "all_repaid_here" with nothing repaid here
    # is refused, naming the field; so is any new loan while one of the person's is 16+ days late.
    claim = {**SAMPLE, "existing_loans_with_us": 1, "monthly_debt_payments": on_ledger, "credit_history": "all_repaid_here"}
    claimed = scored(client, borrower, claim)
    before = _counts(settings)
    false_claim = _offer(client, borrower, claimed)
    assert false_claim.status_code == 409 and false_claim.json()["context"] == {
        "field": "credit_history", "declared": "all_repaid_here", "repaid_here": 0}  # fmt: skip
    with session_scope(settings) as session:  # the loan, as the index records it once disbursed and 16 days late
        row = session.get(LoanRow, loan_id)
        row.status, row.principal_outstanding, row.installments_settled = "active", row.principal, 0
        row.start_time = chain_time(settings) - row.installment_period - 16 * 86_400 - 3600
    late = _offer(client, borrower, truthful)
    assert late.status_code == 409 and late.json()["context"] == {"loan_ids": [loan_id]}
    assert "more than 15 days late" in late.json()["detail"]
    assert _counts(settings) == before
    with session_scope(settings) as session:  # repaid: now the claim is the ledger's own
        row = session.get(LoanRow, loan_id)
        row.status, row.principal_outstanding = "repaid", 0
    assert _offer(client, borrower, claimed).status_code == 201


def second_wallet(client, settings, seed: int) -> Borrower:
    """Another wallet of the person verified with `make_applicant(seed)`: the same national ID, held
    for review as a duplicate and approved by two admins ("the same person's other wallet")."""
    twin = make_applicant(seed)
    twin.account = Account.create()
    verify(settings, twin.account.address, twin, SECOND_ADMIN.address, THIRD_ADMIN.address, documents=(PNG,))
    process_until_idle(settings)  # its attestation
    return Borrower(twin.account, bearer(client, twin.account))


def test_a_second_wallet_of_the_same_person_shares_the_cap_and_the_default_block(client, chain_identity_settings,
                                                                                   borrower, approved):  # fmt: skip
    """A wallet is cheap: the ledger checks and the cap count every wallet of the borrower's person
    (review H5), so a second wallet verified with the same national ID is no fresh borrower."""
    settings = chain_identity_settings
    first = _offer(client, borrower, approved).json()
    assert _accept(client, borrower, first, sign_typed(borrower.account, first["typed_data"])).status_code == 200
    other = second_wallet(client, settings, 400)  # (sends the createLoan too; the index has not read it)
    waiting = _offer(client, other, scored(client, other))
    assert waiting.status_code == 409 and waiting.json()["context"] == {"offer_id": first["id"]}  # in flight
    settle(settings)
    loan_id = client.get(f"/api/v1/offers/{first['id']}", headers=borrower.headers).json()["loan_id"]  # 3,000 funding
    with session_scope(settings) as session:
        on_ledger = -(-session.get(LoanRow, loan_id).installment_amount // 10**6)
    shown = client.get("/api/v1/offers/borrowing", headers=other.headers).json()
    assert (shown["open_loans"], shown["owed"], shown["headroom"]) == (1, 3000, 17_000)

    before = _counts(settings)
    hidden = _offer(client, other, scored(client, other))  # declares no loans with us
    assert hidden.status_code == 409 and hidden.json()["context"] == {
        "field": "existing_loans_with_us", "declared": 0, "on_chain": 1}  # fmt: skip
    truthful = scored(client, other, {**SAMPLE, "existing_loans_with_us": 1, "monthly_debt_payments": on_ledger})
    with client_for(settings.model_copy(update={"borrower_max_outstanding": 3100})) as capped:
        none_left = capped.post("/api/v1/offers", json={"decision_id": truthful["id"]}, headers=other.headers)
    assert none_left.status_code == 409 and none_left.json()["context"] == {"field": "amount", "cap": 3100, "headroom": 100}
    assert _counts(settings) == before

    # The first wallet's loan in default with money owed (as the index records it) blocks the second.
    with session_scope(settings) as session:
        row = session.get(LoanRow, loan_id)
        row.status, row.recoverable = "defaulted", row.principal
    blocked = _offer(client, other, truthful)
    assert blocked.status_code == 409 and blocked.json()["context"] == {"loan_ids": [loan_id]}
    assert "another of its person's" in blocked.json()["detail"]
    assert client.get("/api/v1/offers/borrowing", headers=other.headers).json()["owing_defaulted"] == [loan_id]
    assert _counts(settings) == before
    # A stranger's wallet is untouched by it.
    stranger = verified_borrower(client, settings, 401)
    assert _offer(client, stranger, scored(client, stranger)).status_code == 201


def test_a_second_identity_linked_by_two_admins_counts_against_the_first_ones_cap_and_declared_loans(
        client, chain_identity_settings, borrower, approved):  # fmt: skip
    """A passport beside a national ID is another person to the debt checks until two admins link it to
    the first identity, whose phone and e-mail it gives (SHARED_CONTACT): from then the first's loans
    are declared and capped from the second (person_links.py)."""
    settings = chain_identity_settings
    loan_id = created_loan(client, settings, borrower, approved)["loan_id"]  # 3,000 being funded
    passport = make_applicant(400)  # the borrower's name, birth date, phone and e-mail; another document
    passport.account = Account.create()
    passport.id_type, passport.nationality = "passport_mrz", "DEU"
    passport.id_number = mrz("C01X00T47", "DEU", passport.date_of_birth)
    verify(settings, passport.account.address, passport, SECOND_ADMIN.address, documents=(PNG,))  # one admin clears it
    process_until_idle(settings)  # its attestation
    other = Borrower(passport.account, bearer(client, passport.account))
    assert client.get("/api/v1/offers/borrowing", headers=other.headers).json()["open_loans"] == 0  # a stranger, so far
    with session_scope(settings) as session:
        first_id, second_id = (session.scalars(select(KycRecord.id).where(KycRecord.wallet == w)).one()
                               for w in (borrower.account.address, other.account.address))  # fmt: skip

    admins = settings.model_copy(update={"admin_wallets": [ADMIN.address, SECOND_ADMIN.address]})
    with client_for(admins) as staff:
        body = {"other_record_id": first_id, "note": "the passport's photo and birth date are the ID's"}
        proposed = staff.post(f"/api/v1/admin/kyc/{second_id}/person-links", json=body, headers=bearer(staff, ADMIN))
        assert proposed.status_code == 201 and proposed.json()["status"] == "proposed"
        # One admin's word moves no debts.
        assert client.get("/api/v1/offers/borrowing", headers=other.headers).json()["open_loans"] == 0
        confirmed = staff.post(f"/api/v1/admin/kyc/{second_id}/person-links", json=body, headers=bearer(staff, SECOND_ADMIN))
        assert confirmed.status_code == 200 and confirmed.json()["status"] == "confirmed"

    with session_scope(settings) as session:
        on_ledger = -(-session.get(LoanRow, loan_id).installment_amount // 10**6)
    shown = client.get("/api/v1/offers/borrowing", headers=other.headers).json()
    assert (shown["open_loans"], shown["owed"], shown["headroom"]) == (1, 3000, 17_000)
    before = _counts(settings)
    hidden = _offer(client, other, scored(client, other))  # declares no loans with us
    assert hidden.status_code == 409, hidden.json()
    assert hidden.json()["context"] == {"field": "existing_loans_with_us", "declared": 0, "on_chain": 1}
    truthful = scored(client, other, {**SAMPLE, "existing_loans_with_us": 1, "monthly_debt_payments": on_ledger})
    with client_for(settings.model_copy(update={"borrower_max_outstanding": 3100})) as capped:
        none_left = capped.post("/api/v1/offers", json={"decision_id": truthful["id"]}, headers=other.headers)
    assert none_left.status_code == 409 and none_left.json()["context"] == {"field": "amount", "cap": 3100, "headroom": 100}
    assert _counts(settings) == before
    # The first identity sees the second's side too: it cannot fund the second's loan as a lender would.
    with session_scope(settings) as session:
        assert same_borrower_person(session, borrower.account.address, other.account.address)


def test_a_third_loan_within_30_days_is_refused(client, chain_identity_settings, borrower, approved):
    """A bust-out stacks loans before the first goes unpaid (review M3): one person (any of its
    wallets) takes at most LOANCHAIN_BORROWER_MAX_NEW_LOANS_30D (2) loans in 30 days."""
    settings = chain_identity_settings
    first = created_loan(client, settings, borrower, approved)
    with session_scope(settings) as session:
        on_ledger = -(-session.get(LoanRow, first["loan_id"]).installment_amount // 10**6)
    second = created_loan(client, settings, borrower,
                          scored(client, borrower, {**SAMPLE, "existing_loans_with_us": 1, "monthly_debt_payments": on_ledger}))  # fmt: skip
    other = second_wallet(client, settings, 400)  # the person's other wallet counts the same loans
    third = scored(client, other, {**SAMPLE, "existing_loans_with_us": 2, "monthly_debt_payments": 2 * on_ledger})
    before = _counts(settings)
    refused = _offer(client, other, third)
    assert refused.status_code == 409 and refused.json()["context"] == {
        "field": "borrower_max_new_loans_30d", "limit": 2, "offer_ids": sorted([first["id"], second["id"]])}  # fmt: skip
    assert "LOANCHAIN_BORROWER_MAX_NEW_LOANS_30D = 2" in refused.json()["detail"]
    assert _counts(settings) == before
    with session_scope(settings) as session:  # 31 days on, the first no longer counts
        session.get(LoanOffer, first["id"]).accepted_at -= timedelta(days=31)
    assert _offer(client, other, third).status_code == 201


def test_a_wallet_owing_on_a_defaulted_loan_gets_no_new_loan():
    decision = CreditDecision(inputs={**SAMPLE, "existing_loans_with_us": 1})
    with pytest.raises(Conflict, match="loans 7 of this borrower .* are in default"):
        check_application(Exposure(open_loans=1, monthly_installments=0, outstanding=0, owing_defaulted=[7]), decision, 10**6)
    check_application(Exposure(open_loans=1, monthly_installments=0, outstanding=0, owing_defaulted=[]), decision, 10**6)


def test_a_loan_is_delinquent_past_its_grace_period_and_repaid_loans_are_counted(tmp_path):
    """Aged from the index as the servicing pass ages it: 15 days past the oldest unsettled due date
    is still the grace period, a second more is `late_16_30`, which blocks a new loan."""
    from backend.db import migrate
    from tests.conftest import make_settings

    settings, wallet, zero, period = make_settings(tmp_path), "0x" + "cd" * 20, "0x" + "00" * 32, 30 * 86_400
    migrate.upgrade(settings)
    with session_scope(settings) as session:
        for loan_id, status in ((1, "active"), (2, "repaid"), (3, "repaid")):
            session.add(LoanRow(loan_id=loan_id, status=status, borrower=wallet, underwriter=wallet, terms_hash=zero,
                                agreement_hash=zero, decision_hash=zero, principal=5, apr_bps=1, installments=3,
                                installment_period=period, installment_amount=1, funding_deadline=1,
                                origination_fee_bps=0, start_time=1_000, installments_settled=1,
                                principal_outstanding=3 if status == "active" else 0, created_block=1, block_number=1,
                                tx_hash=zero, log_index=0))  # fmt: skip
    due = 1_000 + 2 * period  # installment 2, the oldest unsettled
    with session_scope(settings) as session:
        in_grace, late = Exposure.of(session, wallet, due + 15 * 86_400), Exposure.of(session, wallet, due + 15 * 86_400 + 1)
        unaged = Exposure.of(session, wallet)
    assert (in_grace.delinquent, late.delinquent, unaged.delinquent) == ((), (1,), ())
    assert (late.open_loans, late.repaid) == (1, 2)
    decision = CreditDecision(inputs={**SAMPLE, "existing_loans_with_us": 1, "credit_history": "all_repaid_here"})
    check_application(in_grace, decision, 10**6)  # two loans repaid here back the claim
    with pytest.raises(Conflict, match="more than 15 days late"):
        check_application(late, decision, 10**6)


def test_a_defaulted_loan_paid_back_in_full_is_settled_not_open(tmp_path):
    """Recovered in full after its default, a loan is owed no more: not one to declare, nor a debt."""
    from backend.db import migrate
    from backend.lending.exposure import Exposure
    from tests.conftest import make_settings

    settings, wallet, zero = make_settings(tmp_path), "0x" + "ab" * 20, "0x" + "00" * 32
    migrate.upgrade(settings)
    with session_scope(settings) as session:
        for loan_id, recoverable in ((1, 0), (2, 5)):
            session.add(LoanRow(loan_id=loan_id, status="defaulted", borrower=wallet, underwriter=wallet, terms_hash=zero,
                                agreement_hash=zero, decision_hash=zero, principal=5, apr_bps=1, installments=1,
                                installment_period=1, installment_amount=1, funding_deadline=1, origination_fee_bps=0,
                                recoverable=recoverable, recovered=5 - recoverable, created_block=1, block_number=1,
                                tx_hash=zero, log_index=0))  # fmt: skip
    with session_scope(settings) as session:
        exposure = Exposure.of(session, wallet)
    assert (exposure.open_loans, exposure.owing_defaulted) == (1, [2])


def test_offers_made_to_two_wallets_of_one_person_before_either_was_accepted_are_checked_again_at_acceptance(
        client, chain_identity_settings, borrower, approved):  # fmt: skip
    """Each wallet has its own LoanBook nonce, so an offer to one does not supersede the other's: both
    are made against a ledger holding neither loan. Acceptance checks the person's ledger again (and
    its other wallets' createLoans in flight), or the person would take both, each declaring no loan
    with us and together owing more than the cap."""
    settings = chain_identity_settings
    other = second_wallet(client, settings, 400)
    with client_for(settings.model_copy(update={"borrower_max_outstanding": 5000})) as capped:
        first = capped.post("/api/v1/offers", json={"decision_id": approved["id"]}, headers=borrower.headers).json()
        second = capped.post("/api/v1/offers", json={"decision_id": scored(capped, other)["id"]}, headers=other.headers)
        assert second.status_code == 201, second.json()  # 3,000 each, under the 5,000 cap while neither is a loan
        second = second.json()
        taken = capped.post(f"/api/v1/offers/{first['id']}/accept", headers=borrower.headers,
                            json={"signature": sign_typed(borrower.account, first["typed_data"])})  # fmt: skip
        assert taken.status_code == 200, taken.json()
        before = _counts(settings)
        signature = sign_typed(other.account, second["typed_data"])
        waiting = capped.post(f"/api/v1/offers/{second['id']}/accept", json={"signature": signature}, headers=other.headers)
        assert waiting.status_code == 409 and waiting.json()["context"] == {"offer_id": first["id"]}, waiting.json()
        assert _counts(settings) == before
        settle(settings)  # the first loan in the index: 3,000 owed, which the second offer did not declare
        refused = capped.post(f"/api/v1/offers/{second['id']}/accept", json={"signature": signature}, headers=other.headers)
        assert refused.status_code == 409 and refused.json()["context"] == {
            "field": "existing_loans_with_us", "declared": 0, "on_chain": 1}, refused.json()  # fmt: skip
        assert _counts(settings) == before
        assert capped.get(f"/api/v1/offers/{second['id']}", headers=other.headers).json()["state"] == "offered"


def test_two_wallets_of_one_person_accepting_at_the_same_instant_take_one_loan(client, chain_identity_settings, borrower,
                                                                              approved):  # fmt: skip
    """The second acceptance waits for the first to commit (the person's lock), then finds its
    createLoan in flight: neither request saw the other's uncommitted acceptance otherwise."""
    settings = chain_identity_settings
    other = second_wallet(client, settings, 400)
    first = _offer(client, borrower, approved).json()
    second = _offer(client, other, scored(client, other)).json()
    first_session = session_factory(settings)()
    try:
        accept_offer(first_session, settings, borrower.account.address, first["id"],
                     OfferAccept(signature=sign_typed(borrower.account, first["typed_data"])))  # fmt: skip
        outcome: dict = {}

        def accept_second() -> None:
            try:
                with session_scope(settings) as session:
                    accept_offer(session, settings, other.account.address, second["id"],
                                 OfferAccept(signature=sign_typed(other.account, second["typed_data"])))  # fmt: skip
                outcome["accepted"] = True
            except Conflict as exc:
                outcome["refused"] = exc.details

        racer = threading.Thread(target=accept_second)
        racer.start()
        racer.join(1.5)
        assert racer.is_alive(), outcome  # waiting for the first acceptance to end
        first_session.commit()
    finally:
        first_session.close()
    racer.join(30)
    assert outcome == {"refused": {"offer_id": first["id"]}}
    assert client.get(f"/api/v1/offers/{second['id']}", headers=other.headers).json()["state"] == "offered"


def test_a_wallet_that_only_submitted_someones_national_id_does_not_read_their_debts_nor_share_their_ledger(
        client, chain_identity_settings, borrower, approved):  # fmt: skip
    """Anyone may type someone's ID number into a KYC form. A record never approved (held for review
    as a duplicate, or rejected) ties the wallet to nobody as a borrower: it must not show that
    person's loans with us (GET /offers/borrowing), and its own loans must not count as theirs."""
    settings = chain_identity_settings
    created_loan(client, settings, borrower, approved)  # the borrower owes 3,000
    snoop = make_applicant(400)  # the borrower's national ID
    snoop.account = Account.create()
    headers = bearer(client, snoop.account)
    held = client.post("/api/v1/kyc", data=snoop.form(), headers=headers)
    assert held.status_code == 201 and held.json()["status"] == "needs_review", held.json()  # a duplicate
    shown = client.get("/api/v1/offers/borrowing", headers=headers).json()
    assert (shown["open_loans"], shown["monthly_debt_with_us"], shown["owed"], shown["owing_defaulted"]) == (0, 0, 0, [])
    with session_scope(settings) as session:  # and the borrower's ledger is the borrower's own
        assert Exposure.of_person(session, borrower.account.address).open_loans == 1
        assert Exposure.of_person(session, snoop.account.address).open_loans == 0
    # Approved by two admins as the person's second wallet, it is the person's.
    with session_scope(settings) as session:
        record_id = session.scalar(select(KycRecord.id).where(KycRecord.wallet == snoop.account.address))
    assert approve_with_documents(settings, record_id, SECOND_ADMIN.address, THIRD_ADMIN.address) == "approved"
    assert client.get("/api/v1/offers/borrowing", headers=headers).json()["owed"] == 3000
    # A verification that ran out (or was withdrawn) keeps its wallet, and its loans, in the person.
    with session_scope(settings) as session:
        for record in session.scalars(select(KycRecord).where(KycRecord.wallet == borrower.account.address)):
            record.status = "expired"
    assert client.get("/api/v1/offers/borrowing", headers=headers).json()["owed"] == 3000
