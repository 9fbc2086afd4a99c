import pytest
from eth_account import Account

from backend.db.session import session_scope
from backend.errors import Conflict, Forbidden, NotFound
from backend.identity.persons import same_person
from backend.identity.roles import grant_role
from backend.lending.offers import create_offer
from backend.lending.schemas import OfferCreate
from backend.scoring.canonical import keccak_hex
from backend.scoring.models import CreditDecision
from backend.scoring.reasons import policy_reasons
from backend.scoring.schemas import ApplicationCreate, ReviewCreate
from backend.scoring.scorer import Scorer
from backend.scoring.service import (
    decide,
    decision_hash,
    get_decision,
    review_decision,
    score_application,
    verify_decision,
)
from tests.conftest import make_settings
from tests.identity import test_role_grants as grants
from tests.identity.conftest import (
    ADMIN,
    PNG,
    approve_over_api,
    client_for,
    identity_settings,
    make_applicant,
    minted_bearer,
    submit,
    verify,
)
from tests.scoring.conftest import SAMPLE
from tests.scoring.test_review_notes import REFERRED


def test_same_application_and_model_give_the_same_decision_hash(scorer, application):
    first = decide(ApplicationCreate(**application), scorer)
    # A fresh scorer from the same artifact: nothing cached may leak into the hash.
    second = decide(ApplicationCreate(**dict(reversed(list(application.items())))), Scorer(scorer.artifact))
    assert first.decision_hash == second.decision_hash
    assert first.input_hash == second.input_hash
    assert first.decision_hash.startswith("0x") and len(first.decision_hash) == 66


def test_decision_hash_is_keccak_of_version_inputs_and_outputs(scorer, application):
    outcome = decide(ApplicationCreate(**application), scorer)
    expected = keccak_hex({"model_version": scorer.model_version, "inputs": application, "outputs": outcome.outputs})
    assert outcome.decision_hash == expected
    assert outcome.input_hash == keccak_hex(application)


def test_any_change_to_inputs_or_model_changes_the_hash(scorer, application):
    base = decide(ApplicationCreate(**application), scorer)
    other = decide(ApplicationCreate(**{**application, "amount": application["amount"] + 50}), scorer)
    assert base.decision_hash != other.decision_hash
    assert decision_hash("0x" + "0" * 64, base.inputs, base.outputs) != base.decision_hash


def test_good_applicant_is_approved_with_a_price(scorer, application):
    out = decide(ApplicationCreate(**application), scorer).outputs
    assert out["decision"] == "approve"
    assert out["grade"] in ("A", "B", "C")
    assert out["quote"]["apr_bps"] > 0 and out["quote"]["max_amount"] >= application["amount"]
    assert set(out["cutoffs"]) == {"approve_min_score", "refer_min_score"}
    assert out["grade_band"]["pd_low"] <= out["pd"] <= out["grade_band"]["pd_high"]


def test_risky_applicant_is_declined_with_reasons_and_no_price(scorer, risky_application):
    out = decide(ApplicationCreate(**risky_application), scorer).outputs
    assert out["decision"] == "decline"
    assert out["quote"] is None
    assert 1 <= len(out["reasons"]) <= 4
    assert out["reasons"][0]["points_lost"] >= out["reasons"][-1]["points_lost"]


def test_unaffordable_amount_turns_an_approval_into_a_referral(scorer, application):
    poor = {**application, "monthly_income_band": "500_to_1000", "monthly_debt_payments": 150}
    out = decide(ApplicationCreate(**poor), scorer).outputs
    if out["grade"] in ("A", "B", "C"):
        assert out["decision"] == "refer"
        assert any("affordability" in note for note in out["policy_notes"])
    assert out["quote"]["max_amount"] < poor["amount"]


def test_a_referral_by_a_lending_rule_gives_that_rule_as_its_principal_reason(db_factory, scorer, application, settings):
    """Reg B: a grade-A applicant referred because its own debt leaves no room for the loan is told
    so in plain words, first, not only the scorecard's points lost (review-pricing M3); the reasons
    are read from the recorded decision, so its hash and replay are untouched."""
    from backend.scoring.scorer import scorer_for_version

    indebted = {**application, "monthly_debt_payments": 650}
    # Grade D over 6 months: the model before priced it at 36.05% (a referral by its grade too), and
    # the APR line is said first; today its reserve fee, at the top of D's band, is 10.22%, above the
    # contract's 10%: a decline, R24 first.
    over_cap = {**application, "term_months": 6, "amount": 2800, "checking_account": "none",
                "credit_history": "current_repaid_duly", "savings": "none_or_unknown"}  # fmt: skip
    income_only = {**application, "monthly_debt_payments": 0, "amount": 20_000}
    expected_claims = scorer_for_version(EXPECTED_CLAIMS_MODEL)
    with db_factory() as db:
        made = [score_application(db, ApplicationCreate(**a), s, settings=settings)
                for a, s in ((indebted, scorer), (income_only, scorer), (over_cap, expected_claims),
                             (application, scorer), (over_cap, scorer))]  # fmt: skip
        db.commit()
        again = get_decision(db, made[0].id)
    assert [d.decision for d in made] == ["refer", "refer", "refer", "approve", "decline"] and made[0].grade == "A"
    assert [[r.code for r in d.policy_reasons] for d in made] == [["R20"], ["R21"], ["R22"], [], ["R24"]]
    assert made[2].quote.apr_bps == 3605 and made[4].grade == "D"
    assert made[0].policy_reasons[0].text.startswith("Excessive obligations in relation to income")
    assert "income" in made[1].policy_reasons[0].text and "36% APR limit" in made[2].policy_reasons[0].text
    assert again.policy_reasons == made[0].policy_reasons
    assert not any("debt" in r.text.lower() for r in made[0].reasons)  # the score does not know the debt


# At 3,500 over 12 months this applicant lands in both narrow bonus bins of the amount and the
# monthly repayment (about 100 points): grade A; 5% less, 3,325, is grade E.
GAMED = {**SAMPLE, "monthly_income_band": "2000_to_3500", "monthly_debt_payments": 0, "amount": 3500, "term_months": 12,
         "purpose": "repairs", "checking_account": "negative", "credit_history": "current_repaid_duly",
         "savings": "none_or_unknown", "employment_length": "unemployed", "guarantor": "guarantor",
         "property": "real_estate", "other_instalment_plans": "bank", "housing": "free"}  # fmt: skip


def test_an_approval_resting_on_the_exact_amount_asked_for_is_referred(scorer):
    """review-pricing H2: the applicant chooses the amount, and two narrow bins are worth two grades
    or more; an approval that a 5% lower amount would drop by two grades goes to an underwriter,
    with the reason given (R23). An approval that holds at the lower amount stays one."""
    gamed = decide(ApplicationCreate(**GAMED), scorer).outputs
    lower = decide(ApplicationCreate(**{**GAMED, "amount": 3325}), scorer).outputs
    assert (gamed["grade"], lower["grade"]) == ("A", "E") and gamed["score"] - lower["score"] >= 90
    # the note names the nearest lower amount two grades worse: just below the credit_amount bin
    assert gamed["decision"] == "refer" and gamed["policy_notes"] == ["grade rests on the exact amount: at 3446 it would be grade C"]
    assert [r["code"] for r in policy_reasons(GAMED, gamed)] == ["R23"]
    assert decide(ApplicationCreate(**SAMPLE), scorer).outputs["decision"] == "approve"


# The worst answers the form allows (review-fraud H4): grade G and a decline at 3,400 over 12
# months, grade C at 3,450-3,900, inside the 93-point credit_amount bin [3446.5, 3913.5).
WORST = {"term_months": 12, "monthly_income_band": "5000_plus", "monthly_debt_payments": 0, "existing_loans_with_us": 0,
         "purpose": "other", "employment_length": "unemployed", "housing": "free", "checking_account": "none",
         "savings": "none_or_unknown", "credit_history": "past_delays", "property": "none",
         "other_instalment_plans": "bank", "guarantor": "none"}  # fmt: skip
MODEL_BEFORE_BIN_EDGES = "0x4895edca5bd468a9ead18d9d1e9279e65e078ed3a405cf8bde65042246771476"


@pytest.mark.parametrize("amount", range(3450, 3901, 50))
def test_no_amount_in_the_narrow_bins_is_approved_without_a_referral_when_a_lower_amount_would_decline(scorer, amount):
    """A 5% lower amount is still inside the narrow bin from about 3,628 up, so the rule probes the
    edges of the amount's bins too: every amount in it is referred, naming the amount just below."""
    made = decide(ApplicationCreate(**WORST, amount=amount), scorer).outputs
    assert made["grade"] == "C" and made["decision"] == "refer"
    assert made["policy_notes"] == ["grade rests on the exact amount: at 3446 it would be grade F"]
    assert [r["code"] for r in policy_reasons({**WORST, "amount": amount}, made)] == ["R23"]
    assert decide(ApplicationCreate(**WORST, amount=3400), scorer).outputs["decision"] == "decline"


def test_the_model_before_the_bin_edges_probed_only_5_percent_lower(scorer):
    """Model 0x4895edca… (its policy's rule has no `bin_edges`) approved the same applicant from
    3,650 (5% lower is still in the bin); its decisions replay so (test_decision_proof)."""
    from backend.scoring.scorer import scorer_for_version

    old = scorer_for_version(MODEL_BEFORE_BIN_EDGES)
    assert old is not None and old.artifact["policy"]["amount_sensitivity"] == {"probe": 0.05, "grade_jump": 2}
    assert scorer.artifact["policy"]["amount_sensitivity"]["bin_edges"] is True
    assert decide(ApplicationCreate(**WORST, amount=3800), old).outputs["decision"] == "approve"
    assert decide(ApplicationCreate(**WORST, amount=3500), old).outputs["policy_notes"] == [
        "grade rests on the exact amount: at 3325 it would be grade G"]


# Grade E (score 547): its reserve fee over 8 months would be 27.1% x 80% x 9/16 = 12.21% of the amount.
GRADE_E = {**SAMPLE, "term_months": 8, "checking_account": "none", "credit_history": "current_repaid_duly",
           "savings": "none_or_unknown"}  # fmt: skip
PREVIOUS_MODEL = "0x79fbef18aec0f5ef41ee4a65692972139a3c033881870acae33e8969cc417ca8"  # flat 1% reserve fee
# The fee at the grade's mean PD over a linearly falling principal (`reserve_fee_basis` "expected_claims")
EXPECTED_CLAIMS_MODEL = "0x0204544e5b716ebda28976bc770af44e5d59fa6dfd7aa1a36673f78a7425fb45"


def test_a_reserve_fee_above_the_contracts_limit_declines_with_its_reason_first(db_factory, scorer, settings):
    """The score alone refers grade E to an underwriter, but no loan of it can be put on chain:
    LoanBook refuses a fee above 10%. So it is declined, not referred (no underwriter can override
    a contract), with no price, and told why in plain words before the score's reasons (R24)."""
    with db_factory() as db:
        made = score_application(db, ApplicationCreate(**GRADE_E), scorer, settings=settings)
        db.commit()
        assert verify_decision(db.get(CreditDecision, made.id))
    assert (made.grade, made.decision, made.quote) == ("E", "decline", None)
    assert scorer.grade_band("E").decision == "refer" and made.score >= made.cutoffs.refer_min_score
    assert made.policy_notes == ["reserve fee above the contract's limit: 14.44% of the amount, the loan contract "
                                 "takes at most 10.00%"]  # fmt: skip
    assert [(r.code, r.text) for r in made.policy_reasons] == [
        ("R24", "Risk too high for the platform's reserve to cover: the fee that funds the reserve's cover of this loan "
                "would be more than the 10% of the amount our loan contract allows")]  # fmt: skip
    assert made.reasons  # the score's own reasons are still given, after the rule's
    with db_factory() as db, pytest.raises(Conflict, match="only a referral is reviewed"):
        review_decision(db, settings, "0x" + "99" * 20, made.id, ReviewCreate(outcome="approve", note="override"))


def test_decisions_of_the_expected_claims_model_replay_and_prove_with_its_own_basis(db_factory, settings):
    """Model 0x0204544e... priced the reserve fee at the grade's mean PD over a linearly falling
    principal (`reserve_fee_basis` "expected_claims"): its decisions are made and replayed with that
    basis, from its archived artifact's policy, so they keep their hashes. The same grade-A
    application over 24 months is 6.68% with a 1.64% fee there and 7.53% with a 2.53% fee today; the
    same grade-E one was declined at a 12.21% fee there and is at 14.44% today."""
    from backend.scoring.scorer import get_scorer, scorer_for_version
    from backend.scoring.service import prove_decision

    old = scorer_for_version(EXPECTED_CLAIMS_MODEL)
    assert old is not None and old.artifact["policy"]["pricing"]["reserve_fee_basis"] == "expected_claims"
    with db_factory() as db:
        made = {name: score_application(db, ApplicationCreate(**a), s, settings=settings)
                for name, a, s in (("a_then", SAMPLE, old), ("e_then", GRADE_E, old), ("a_now", SAMPLE, get_scorer()))}
        db.commit()
        proofs = {name: prove_decision(db, d.decision_hash) for name, d in made.items()}
    then, now = made["a_then"].quote, made["a_now"].quote
    assert (then.apr_bps, then.interest_apr_bps, then.origination_fee_bps, then.reserve_fee_basis) == (
        668, 510, 164, "expected_claims")  # fmt: skip
    assert (now.apr_bps, now.interest_apr_bps, now.origination_fee_bps, now.reserve_fee_basis) == (
        753, 510, 253, "prudent_claims")  # fmt: skip
    assert made["e_then"].policy_notes == ["reserve fee above the contract's limit: 12.21% of the amount, the loan "
                                           "contract takes at most 10.00%"]  # fmt: skip
    assert made["a_then"].model_version == EXPECTED_CLAIMS_MODEL != made["a_now"].model_version
    assert all(p.verified and p.reproduced and p.differences == [] for p in proofs.values())


def test_the_model_before_the_expected_claims_fee_referred_grade_e_and_priced_a_flat_fee(db_factory, settings):
    """Model 0x79fbef18… charged a flat 1% a year for the reserve (its artifact's policy has no
    `reserve_fee_basis`): the same grade-E application was a referral with a price, and its
    decisions still replay and prove with that price."""
    from backend.scoring.scorer import scorer_for_version
    from backend.scoring.service import prove_decision

    old = scorer_for_version(PREVIOUS_MODEL)
    assert old is not None and "reserve_fee_basis" not in old.artifact["policy"]["pricing"]
    with db_factory() as db:
        made = score_application(db, ApplicationCreate(**GRADE_E), old, settings=settings)
        db.commit()
        proof = prove_decision(db, made.decision_hash)
    assert (made.grade, made.decision, made.policy_notes) == ("E", "refer", ["APR above the 36% cap"])
    assert [r.code for r in made.policy_reasons] == ["R22"]
    assert made.quote.reserve_fee_bps == 100 and made.quote.origination_fee_bps is None
    # 5% + 1% + PD 27.13% x 0.85 x 24 / 9 = 67.50% (rounded up), above the 36% line: a referral no underwriter
    # could approve (the review refuses it), but a price all the same
    assert made.quote.apr_bps == 6750
    assert proof.verified and proof.reproduced and proof.differences == []


def test_decisions_are_recorded_and_verifiable(db_factory, scorer, application, settings):
    with db_factory() as db:
        public = score_application(db, ApplicationCreate(**application), scorer, settings=settings)
        db.commit()
    with db_factory() as db:
        row = db.get(CreditDecision, public.id)
        assert row is not None
        assert row.model_version == scorer.model_version
        assert row.decision_hash == public.decision_hash
        assert row.inputs == application
        assert verify_decision(row)
        row.outputs = {**row.outputs, "decision": "approve" if row.decision != "approve" else "decline"}
        assert not verify_decision(row)
        assert get_decision(db, public.id).score == public.score


def test_every_call_is_recorded(db_factory, scorer, application, settings):
    with db_factory() as db:
        a = score_application(db, ApplicationCreate(**application), scorer, settings=settings)
        b = score_application(db, ApplicationCreate(**application), scorer, settings=settings)
        db.commit()
        assert a.id != b.id and a.decision_hash == b.decision_hash
        assert db.query(CreditDecision).count() == 2


def test_unknown_decision_is_not_found(db_factory):
    with db_factory() as db, pytest.raises(NotFound):
        get_decision(db, "nope")


def test_a_recorded_decision_commits_under_a_keyed_salt_so_its_public_hash_cannot_be_tested_against_guesses(
    db_factory, scorer, application, settings, tmp_path
):
    """The decision hash is public (on-chain terms, loans API, loan tape) and the application is
    nearly all closed choices: without a secret salt, anyone could hash every combination of the
    undisclosed answers until one matched. The salt is keyed, so the same application and model
    still give the same hash, and it is kept with the record for auditors."""
    with db_factory() as db:
        first = score_application(db, ApplicationCreate(**application), scorer, settings=settings)
        again = score_application(db, ApplicationCreate(**application), scorer, settings=settings)
        db.commit()
        row = db.get(CreditDecision, first.id)
    outcome = decide(ApplicationCreate(**application), scorer)
    assert first.salt is not None and len(first.salt) == 66 and row.salt == first.salt
    assert (again.salt, again.decision_hash) == (first.salt, first.decision_hash)  # deterministic
    # What a guesser can compute without the key does not match: neither the unsalted hash of the
    # right answers nor a salt made under another platform's key.
    assert first.decision_hash != outcome.decision_hash
    from backend.db import migrate
    from backend.db.session import session_scope

    elsewhere = make_settings(tmp_path / "elsewhere")  # another platform: its own key, and its own database
    migrate.upgrade(elsewhere)
    with session_scope(elsewhere) as db:
        other = score_application(db, ApplicationCreate(**application), scorer, settings=elsewhere)
    assert other.decision_hash != first.decision_hash
    assert first.decision_hash == keccak_hex({"salt": first.salt, "model_version": scorer.model_version,
                                              "inputs": application, "outputs": outcome.outputs})  # fmt: skip
    assert verify_decision(row)


def test_an_underwriter_does_not_review_an_application_of_their_own_person(tmp_path):
    """Regression of the review's M2: an admin's referred application was approved by a sock wallet
    the admin had made underwriter. A sock is refused the role without KYC; verified with the
    applicant's own national ID, it is the applicant's person and does not review their application."""
    settings = identity_settings(tmp_path, f"sqlite:///{tmp_path / 'poc.db'}",
                                 admin_wallets=[ADMIN.address, grants.SECOND_ADMIN.address, grants.THIRD_ADMIN.address])  # fmt: skip
    client = client_for(settings)
    admin, second = minted_bearer(settings, ADMIN), minted_bearer(settings, grants.SECOND_ADMIN)
    me = make_applicant(60)
    assert submit(client, me, headers=admin).json()["status"] == "approved"
    referral = client.post("/api/v1/score", json=REFERRED, headers=admin).json()
    assert referral["decision"] == "refer"

    sock = Account.create()
    assert grants.propose(client, admin, sock.address, "underwriter").status_code == 409  # no KYC: no role
    me.account = sock
    verify(settings, sock.address, me, grants.SECOND_ADMIN.address, grants.THIRD_ADMIN.address)  # the admin's own ID
    proposal = grants.propose(client, admin, sock.address, "underwriter").json()["proposal"]
    assert grants.decide(client, second, proposal["id"], "confirm").status_code == 200
    review = {"outcome": "approve", "note": "ok by me"}
    refused = client.post(f"/api/v1/score/{referral['id']}/review", json=review, headers=minted_bearer(settings, sock))
    assert refused.status_code == 403 and "their own application" in refused.json()["detail"]

    colleague = Account.create().address  # an underwriter of the operator's, without KYC: a person of their own
    with session_scope(settings) as session:
        grant_role(session, "cli", colleague, "underwriter")
        with pytest.raises(Forbidden):
            review_decision(session, settings, sock.address, referral["id"], ReviewCreate(**review))
        reviewed = review_decision(session, settings, colleague, referral["id"], ReviewCreate(**review))
    assert reviewed.review.outcome == "approve"


def test_a_referral_waits_for_its_applicants_kyc_and_a_self_approval_never_becomes_an_offer(tmp_path):
    """Regression of the security review's H1: an underwriter applied from a fresh wallet without KYC,
    approved that referral (the wallet was 'a person of its own' because nothing was known of it),
    then verified the wallet with their own national ID and took the approval up. A referral of a
    wallet without KYC is not reviewed (409); an approval whose reviewer has since become the
    applicant's person is refused when it would become an offer (409), through the API and the service."""
    settings = identity_settings(tmp_path, f"sqlite:///{tmp_path / 'h1.db'}",
                                 admin_wallets=[ADMIN.address, grants.SECOND_ADMIN.address, grants.THIRD_ADMIN.address])  # fmt: skip
    client = client_for(settings)
    me = make_applicant(77)
    underwriter = me.account
    assert submit(client, me).json()["status"] == "approved"
    with session_scope(settings) as session:
        grant_role(session, "cli", underwriter.address, "underwriter")

    sock = Account.create()  # the underwriter's fresh wallet, no KYC
    referral = client.post("/api/v1/score", json=REFERRED, headers=minted_bearer(settings, sock)).json()
    assert referral["decision"] == "refer"
    review = {"outcome": "approve", "note": "fine"}
    url = f"/api/v1/score/{referral['id']}/review"
    refused = client.post(url, json=review, headers=minted_bearer(settings, underwriter))
    assert refused.status_code == 409 and "not known yet" in refused.json()["detail"]
    assert refused.json()["context"]["field"] == "wallet"
    with session_scope(settings) as session:
        with pytest.raises(Conflict, match="not known yet"):
            review_decision(session, settings, underwriter.address, referral["id"], ReviewCreate(**review))
    with session_scope(settings) as session:
        assert session.get(CreditDecision, referral["id"]).review is None  # refused: nothing recorded

    # Verified as somebody else, the wallet is reviewed; later it names the underwriter's own ID too.
    stranger = make_applicant(78)
    stranger.account = sock
    documents = [("documents", ("id.png", PNG, "image/png"))]  # the borrower level: an offer needs it
    waiting = submit(client, stranger, minted_bearer(settings, sock), files=documents).json()
    assert waiting["status"] == "needs_review"  # until an admin opened the document
    assert approve_over_api(client, waiting["id"])["status"] == "approved"
    assert client.post(url, json=review, headers=minted_bearer(settings, underwriter)).status_code == 201
    me.account = sock
    verify(settings, sock.address, me, grants.SECOND_ADMIN.address, grants.THIRD_ADMIN.address, documents=(PNG,))
    with session_scope(settings) as session:
        assert same_person(session, sock.address, underwriter.address)
    taken = client.post("/api/v1/offers", json={"decision_id": referral["id"]}, headers=minted_bearer(settings, sock))
    assert taken.status_code == 409, taken.json()
    assert "own person" in taken.json()["detail"] and taken.json()["context"]["field"] == "reviewed_by"
    with session_scope(settings) as session, pytest.raises(Conflict, match="own person"):
        create_offer(session, settings, sock.address, OfferCreate(decision_id=referral["id"]))
