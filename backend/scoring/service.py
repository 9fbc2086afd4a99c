"""Scoring service: application -> score, grade, PD, decision, reasons, price -> recorded row.

The decision hash is keccak-256 over the canonical JSON of
    {"salt": ..., "model_version": ..., "inputs": <application as submitted>, "outputs": <everything decided>}
with no ids or timestamps inside. The salt (backend/scoring/salt.py) is keyed but deterministic, so
the same application and model version always hash the same, anyone holding the row can recompute
it, and nobody holding only the public hash can test guesses of the application. Decisions recorded
before salts (salt None) hash without one."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import timedelta
from functools import cache
from typing import Any

from pydantic import ValidationError
from sqlalchemy import select
from sqlalchemy.orm import Session

from backend import audit
from backend.chain.projection_models import LoanRow
from backend.config import Settings
from backend.db.base import as_utc
from backend.errors import Conflict, Forbidden, NotFound, ValidationFailed
from backend.identity.crypto.keyring import load_keyring
from backend.identity.persons import borrower_wallets_of_each, is_verified, same_person
from backend.lending.models import LoanOffer
from backend.scoring import policy
from backend.scoring.canonical import HASH32, keccak_hex
from backend.scoring.mapping import INCOME_FLOOR, at_amounts, check_covers, to_model_inputs
from backend.scoring.models import CreditDecision, utcnow
from backend.scoring.pricing import (
    fee_cap_notes,
    on_chain_price,
    per_month,
    policy_notes,
    probe_amounts,
    quote,
    sensitivity_notes,
    sensitivity_rule,
    with_policy,
)
from backend.scoring.reasons import policy_reasons
from backend.scoring.review_notes import has_note, note_of, seal_note
from backend.scoring.salt import decision_salt, decision_salt_key
from backend.scoring.schemas import (
    ApplicationCreate,
    ApplicationPublic,
    DecisionProofPublic,
    DecisionPublic,
    LoanRefPublic,
    OtherApplicationPublic,
    ReferralPublic,
    ReviewCreate,
    ReviewPublic,
)
from backend.scoring.scorer import Scorer, get_scorer, scorer_for_version


@dataclass(frozen=True)
class Outcome:
    model_version: str
    inputs: dict[str, Any]
    outputs: dict[str, Any]
    input_hash: str
    decision_hash: str
    salt: str | None


def decision_hash(model_version: str, inputs: dict[str, Any], outputs: dict[str, Any], salt: str | None = None) -> str:
    committed = {"model_version": model_version, "inputs": inputs, "outputs": outputs}
    return keccak_hex(committed if salt is None else {**committed, "salt": salt})


def decide(application: ApplicationCreate, scorer: Scorer | None = None, *, salt_key: bytes | None = None) -> Outcome:
    """Everything but the database: pure, deterministic, fast (this is what the bench times).
    Without `salt_key` the hash is unsalted, as before salts: only for replays and benchmarks."""
    scorer = scorer or get_scorer()
    check_covers(scorer.inputs)
    result = scorer.score_one(to_model_inputs(application, scorer.form_mapping))
    band = scorer.grade_band(result.grade)
    decision = result.decision
    notes: list[str] = []
    offer = None
    # The rules added since a model was trained are read from its artifact's policy, so an older
    # model's decisions replay as they were made (serving refuses an artifact whose policy is not
    # the installed one: scorer.get_scorer).
    rules = scorer.artifact["policy"]
    if decision != "decline":
        offer = quote(
            band.pd_mean_oof,
            application.amount,
            application.term_months,
            INCOME_FLOOR[application.monthly_income_band],
            application.monthly_debt_payments,
            rules["product"].get("installment_period_days"),
            rules["pricing"],
            fee_pd=band.pd_high,  # the prudent basis's reserve fee; older bases price at the mean
        )
        if notes := fee_cap_notes(offer.origination_fee_bps, rules["pricing"]):
            offer = None  # it cannot be put on chain at any price: a decline, and a decline has no price
        else:
            notes = policy_notes(offer.apr_bps, application.amount, offer.max_amount)
        if decision == "approve" and offer is not None and (rule := sensitivity_rule(rules)):  # on the exact amount?
            probes = probe_amounts(application.amount, application.term_months, rule, scorer.artifact["features"])
            lower = scorer.score_records(at_amounts(application, probes, scorer.form_mapping), row_offset=None)
            notes += sensitivity_notes(result.grade, [str(g) for g in lower.grade], probes, rule)
        decision = with_policy(decision, notes)  # the score alone would approve; policy wants a human look (or a no)
    inputs = application.model_dump(mode="json")
    outputs = {
        "score": result.score,
        "grade": result.grade,
        "grade_band": {"grade": band.grade, "pd_low": round(band.pd_low, 6), "pd_high": round(band.pd_high, 6)},
        "pd": result.pd,
        "decision": decision,
        "cutoffs": scorer.cutoffs(),
        "reasons": [
            {"code": r.code, "feature": r.feature, "text": r.text, "points_lost": r.points_lost} for r in result.reasons
        ],
        "quote": offer.to_json() if offer else None,
        "policy_notes": notes,
    }
    salt = None if salt_key is None else decision_salt(salt_key, scorer.model_version, inputs)
    return Outcome(
        model_version=scorer.model_version,
        inputs=inputs,
        outputs=outputs,
        input_hash=keccak_hex(inputs),
        decision_hash=decision_hash(scorer.model_version, inputs, outputs, salt),
        salt=salt,
    )


def _public(row: CreditDecision, settings: Settings | None = None, note: str | None = None) -> DecisionPublic:
    """The decision; with `settings`, its review's note opened (None once erased, or without them)."""
    review = None
    if row.review is not None:
        reviewed_at = as_utc(row.reviewed_at) if row.reviewed_at else None  # SQLite reads it back naive
        review = ReviewPublic(outcome=row.review, reviewed_by=row.reviewed_by, reviewed_at=reviewed_at,
                              note=note if note is not None else note_of(settings, row))  # fmt: skip
    return DecisionPublic(
        id=row.id,
        created_at=as_utc(row.created_at),
        model_version=row.model_version,
        input_hash=row.input_hash,
        decision_hash=row.decision_hash,
        salt=row.salt,
        erased_at=row.erased_at,
        review=review,
        policy_reasons=policy_reasons(row.inputs, row.outputs),
        **row.outputs,
    )


def score_application(
    db: Session,
    application: ApplicationCreate,
    scorer: Scorer | None = None,
    *,
    settings: Settings,
    wallet: str | None = None,
) -> DecisionPublic:
    """Decide and record. Every call is recorded, repeats included: the log is of decisions.
    `wallet` (who asked) is kept beside the row, outside the hash: only it may take up an approval."""
    outcome = decide(application, scorer, salt_key=decision_salt_key(settings, db))
    return _public(_record(db, outcome, wallet))


def rescore_at_amount(db: Session, settings: Settings, row: CreditDecision, amount: int) -> CreditDecision:
    """The decision's application decided again, as it stands, at another amount, and recorded:
    the amount is scored three times over (the amount, the monthly repayment, the burden), so a
    lower one can score a worse grade or a decline, and a loan must carry the hash of a decision
    about the amount it lends (backend/lending/offers.py)."""
    application = ApplicationCreate.model_validate({**row.inputs, "amount": amount})
    return _record(db, decide(application, salt_key=decision_salt_key(settings, db)), row.wallet)


def _record(db: Session, outcome: Outcome, wallet: str | None) -> CreditDecision:
    row = CreditDecision(
        id=str(uuid.uuid4()),
        model_version=outcome.model_version,
        input_hash=outcome.input_hash,
        decision_hash=outcome.decision_hash,
        salt=outcome.salt,
        score=outcome.outputs["score"],
        grade=outcome.outputs["grade"],
        pd=outcome.outputs["pd"],
        decision=outcome.outputs["decision"],
        apr_bps=(outcome.outputs["quote"] or {}).get("apr_bps"),
        inputs=outcome.inputs,
        outputs=outcome.outputs,
        wallet=wallet,
    )
    db.add(row)
    db.flush()
    return row


def get_decision(db: Session, decision_id: str, settings: Settings | None = None, with_note: bool = True) -> DecisionPublic:
    """With `settings`, any review's note is opened; `with_note=False` withholds it, marked."""
    row = db.get(CreditDecision, decision_id)
    if row is None:
        raise NotFound(f"no credit decision {decision_id}", decision_id=decision_id)
    public = _public(row, settings if with_note else None)
    if not with_note and public.review is not None:
        public.review.note_withheld = has_note(row)
    return public


def decisions_of(db: Session, wallet: str, settings: Settings | None = None, limit: int = 20,
                 offset: int = 0) -> list[DecisionPublic]:  # fmt: skip
    """The wallet's own decisions, newest first, a page of `limit` after `offset`, with any
    underwriter's review (its note opened with `settings`)."""
    rows = db.scalars(select(CreditDecision).where(CreditDecision.wallet == wallet)
                      .order_by(CreditDecision.created_at.desc(), CreditDecision.id)
                      .limit(limit).offset(offset))  # fmt: skip
    return [_public(row, settings) for row in rows]


def referrals_waiting(db: Session, limit: int = 100, offset: int = 0) -> list[ReferralPublic]:
    """Referrals no underwriter has reviewed yet, oldest first (first come, first served), each with
    the application it decided: the underwriter approves an amount, a term and a budget, not a score."""
    rows = db.scalars(select(CreditDecision).where(CreditDecision.decision == "refer", CreditDecision.review.is_(None),
                                                   CreditDecision.erased_at.is_(None))
                      .order_by(CreditDecision.created_at, CreditDecision.id).limit(limit).offset(offset))  # fmt: skip
    rows = list(rows)
    others = _other_applications(db, rows)
    return [_referral(row, others[row.id]) for row in rows]


# Shopping for a pass (review-fraud L1): the answers an applicant changed between tries are what an
# underwriter should weigh, and any approval of the last 30 days can be taken up (OFFER_DECISION_TTL).
SHOPPING_WINDOW = timedelta(days=30)


def _other_applications(db: Session, rows: list[CreditDecision]) -> dict[str, list[OtherApplicationPublic]]:
    """Per referral, the other unerased decisions of its applicant's person as a borrower (its
    wallets verified with a national ID the referral's wallet was verified with, `borrower_wallets_of`)
    from SHOPPING_WINDOW before it on, newest first, each naming its wallet, with the answers that
    differ. A person shopping for a pass may try from a second wallet; a record no admin approved
    links nothing, so typing someone's ID number never shows an underwriter that someone's answers
    as the typist's. Two queries for the page."""
    out: dict[str, list[OtherApplicationPublic]] = {row.id: [] for row in rows}
    persons = borrower_wallets_of_each(db, {row.wallet for row in rows if row.wallet})
    if not persons:
        return out
    # Compared without their checksum case: a decision keeps the wallet as it was given.
    person_of = {row.id: {w.lower() for w in persons[row.wallet]} for row in rows if row.wallet}
    wallets = {form for person in persons.values() for w in person for form in (w, w.lower())}
    wallets |= {row.wallet for row in rows if row.wallet}
    since = min(as_utc(row.created_at) for row in rows) - SHOPPING_WINDOW
    candidates = db.scalars(select(CreditDecision).where(CreditDecision.wallet.in_(wallets), CreditDecision.erased_at.is_(None),
                                                         CreditDecision.created_at >= since)
                            .order_by(CreditDecision.created_at.desc(), CreditDecision.id)).all()  # fmt: skip
    for row in rows:
        if not row.wallet:
            continue
        start = as_utc(row.created_at) - SHOPPING_WINDOW
        out[row.id] = [
            OtherApplicationPublic(id=other.id, wallet=other.wallet, created_at=as_utc(other.created_at),
                                   decision=other.decision, grade=other.grade, review=other.review,
                                   changed={k: v for k, v in other.inputs.items() if row.inputs.get(k) != v})
            for other in candidates
            if other.wallet.lower() in person_of[row.id] and other.id != row.id and as_utc(other.created_at) >= start
        ]  # fmt: skip
    return out


@cache
def _installment_period(model_version: str) -> int | None:
    """The installment period a model's policy counts affordability with (None: a monthly annuity)."""
    scorer = scorer_for_version(model_version)
    return None if scorer is None else scorer.artifact["policy"]["product"].get("installment_period_days")


def _referral(row: CreditDecision, others: list[OtherApplicationPublic] | None = None) -> ReferralPublic:
    application = ApplicationPublic(**row.inputs)
    income = INCOME_FLOOR[application.monthly_income_band]
    installment = (row.outputs.get("quote") or {}).get("monthly_payment")
    if installment is not None and (period := _installment_period(row.model_version)):
        installment = per_month(installment, period)  # due every 30 days: counted by month
    ratio = (application.monthly_debt_payments + installment) / income if income and installment is not None else None
    return ReferralPublic(**_public(row).model_dump(), application=application,
                          debt_service_ratio=None if ratio is None else round(ratio, 2),
                          debt_service_ratio_cap=policy.DEBT_SERVICE_RATIO,
                          other_applications=others or [])  # fmt: skip


def review_decision(db: Session, settings: Settings, reviewer: str, decision_id: str, request: ReviewCreate) -> DecisionPublic:
    """An underwriter approves or declines a referral, once. The model's output and hash stay as
    recorded; an approved referral may then become an offer (backend/lending/offers.py).

    Four eyes compare persons, and a wallet without an approved, unexpired KYC is a person of its
    own only because nothing is known of it yet: it may be the reviewer's own fresh wallet, verified
    with the reviewer's ID after the review. So such a referral waits for its applicant's KYC (409),
    and offers check the reviewer again when the decision is taken up."""
    row = db.get(CreditDecision, decision_id)
    if row is None:
        raise NotFound(f"no credit decision {decision_id}", decision_id=decision_id)
    if row.decision != "refer":
        raise Conflict(f"decision {row.id} is '{row.decision}': only a referral is reviewed", decision=row.decision)
    if row.erased_at is not None:
        raise Conflict(f"decision {row.id}'s application was erased with the applicant's personal data: nothing to review")
    if row.review is not None:
        raise Conflict(f"decision {row.id} was already reviewed ({row.review}) by {row.reviewed_by}", review=row.review)
    apr_bps = (row.outputs.get("quote") or {}).get("apr_bps") or 0
    if request.outcome == "approve" and apr_bps > round(policy.MAX_APR * 10_000):
        raise Conflict(f"decision {row.id} is priced at {apr_bps / 100:.2f}% APR, above the platform's "
                       f"{policy.MAX_APR:.0%} cap: a referral is not approved above it (the applicant may apply for a "
                       "longer term, which lowers the price)", field="outcome", apr_bps=apr_bps)  # fmt: skip
    if same_person(db, row.wallet, reviewer):
        raise Forbidden("an underwriter does not review their own application (nor one from another wallet of "
                        "theirs, or with their national ID)")  # fmt: skip
    if not is_verified(db, row.wallet):
        raise Conflict(f"decision {row.id}: the applicant's person is not known yet (wallet {row.wallet} has no approved, "
                       "unexpired KYC), so it cannot be told apart from the reviewer: review it once the applicant is "
                       "verified", field="wallet", wallet=row.wallet)  # fmt: skip
    row.review, row.reviewed_by, row.reviewed_at = request.outcome, reviewer, utcnow()
    seal_note(load_keyring(settings), row, request.note)
    audit.record(db, actor=reviewer, action="decision.review", subject=f"decision:{row.id}",
                 payload={"outcome": request.outcome, "decision_hash": row.decision_hash})  # fmt: skip
    return _public(row, note=request.note)


def verify_decision(row: CreditDecision) -> bool:
    """Does the stored hash match the stored model version, inputs and outputs, and do the columns
    read beside them (by disclosure, prices, the loan tape) say what the hashed outputs say?"""
    hashed = decision_hash(row.model_version, row.inputs, row.outputs, row.salt)
    return hashed == row.decision_hash and not altered_columns(row)


def altered_columns(row: CreditDecision) -> list[str]:
    """The row's columns that disagree with its hashed inputs and outputs."""
    hashed = {"input_hash": keccak_hex(row.inputs), "score": row.outputs.get("score"), "grade": row.outputs.get("grade"),
              "pd": row.outputs.get("pd"), "decision": row.outputs.get("decision"),
              "apr_bps": (row.outputs.get("quote") or {}).get("apr_bps")}  # fmt: skip
    return [name for name, value in hashed.items() if getattr(row, name) != value]


def replay(row: CreditDecision, scorer: Scorer | None) -> tuple[bool, bool | None, list[str]]:
    """(model available, reproduced, differing output fields) for a recorded decision, replayed with
    `scorer`, its model version's (None: this installation does not hold it)."""
    if scorer is None:
        return False, None, []
    try:
        application = ApplicationCreate.model_validate(row.inputs)
    except ValidationError as exc:
        return True, False, [f"inputs: no longer a valid application ({exc.error_count()} errors)"]
    outputs = decide(application, scorer).outputs
    differences = sorted(k for k in outputs.keys() | row.outputs.keys() if outputs.get(k) != row.outputs.get(k))
    if differences and not scorer.policy_current:
        differences.append("policy: the installed credit policy differs from the one in this model's artifact; "
                           "the replay priced with today's")  # fmt: skip
    return True, decision_hash(row.model_version, row.inputs, outputs, row.salt) == row.decision_hash, differences


def loan_differences(db: Session, rows: list[CreditDecision], loan: LoanRow, asset_decimals: int | None = None) -> list[str]:
    """`what: loan X, decision Y` for every term of an on-chain loan that the decision it carries
    does not fix that way: a loan is priced by a decision only if it lends what was decided, to
    whom, at its price, over its term. The principal is read in whole units with `asset_decimals`,
    else with those of the platform's offer that made the loan."""
    first = rows[0]
    found: list[str] = []
    # The same application decided twice hashes the same: any of its records approved (or reviewed) will do.
    approved = any(row.decision == "approve" or (row.decision == "refer" and row.review == "approve") for row in rows)
    if not approved:
        found.append(f"decision: {first.decision}" + (f", {first.review} on review" if first.review else "")
                     + ", not an approval")  # fmt: skip
    wallets = {row.wallet.lower() for row in rows if row.wallet}
    if loan.borrower.lower() not in wallets:
        found.append(f"borrower: loan {loan.borrower}, decision asked for by {', '.join(sorted(wallets)) or 'no wallet'}")
    quote_ = first.outputs.get("quote") or {}
    term = int(first.inputs["term_months"])
    if asset_decimals is None:
        offer = db.scalar(select(LoanOffer).where(LoanOffer.terms_hash == loan.terms_hash))
        asset_decimals = offer.asset_decimals if offer is not None else None
    if asset_decimals is None:
        found.append("principal: not checked (no offer of this platform holds these terms, so the asset's decimals "
                     "are unknown here)")  # fmt: skip
    elif loan.principal != int(first.inputs["amount"]) * 10**asset_decimals:
        found.append(f"principal: loan {loan.principal}, decision {int(first.inputs['amount']) * 10**asset_decimals} "
                     f"({first.inputs['amount']} at {asset_decimals} decimals)")  # fmt: skip
    expected = {"installments": term}
    if quote_:  # the quote's own fee (older models' quotes state only the flat yearly one)
        interest_apr, fee = on_chain_price(quote_, term)
        expected |= {"apr_bps": interest_apr, "origination_fee_bps": fee}
    for name, value in expected.items():
        if getattr(loan, name) != value:
            found.append(f"{name}: loan {getattr(loan, name)}, decision {value}")
    return found


def prove_decision(db: Session, hash_: str, asset_decimals: int | None = None) -> DecisionProofPublic:
    """Tie a decision hash (as found in a loan's on-chain terms) to its recorded decision, check
    the record against its hash, replay it with the same model version, and check every loan
    whose terms carry it against it (`loan_differences`)."""
    wanted = hash_.strip().lower()
    if not HASH32.fullmatch(wanted):
        raise ValidationFailed("decision_hash must be 0x and 64 hex digits", field="decision_hash", value=hash_)
    rows = db.scalars(
        select(CreditDecision).where(CreditDecision.decision_hash == wanted).order_by(CreditDecision.created_at)
    ).all()
    if rows and all(row.erased_at is not None for row in rows):
        raise NotFound(f"the credit decision with hash {wanted} was made from no loan and its application was erased "
                       "with the applicant's personal data: it can no longer be proven", decision_hash=wanted)  # fmt: skip
    rows = [row for row in rows if row.erased_at is None]
    if not rows:
        raise NotFound(f"no credit decision with hash {wanted}", decision_hash=wanted)
    first = rows[0]
    intact = all(verify_decision(row) for row in rows)
    available, reproduced, differences = replay(first, scorer_for_version(first.model_version))
    # The indexer writes bytes32 arguments as lower-case 0x-hex (chain/abi_args.py), as `wanted` is.
    loans = [(loan, loan_differences(db, rows, loan, asset_decimals))
             for loan in db.scalars(select(LoanRow).where(LoanRow.decision_hash == wanted).order_by(LoanRow.loan_id))]
    return DecisionProofPublic(
        decision_hash=wanted,
        verified=intact and reproduced is True and not any(differences for _, differences in loans),
        hash_intact=intact,
        altered_columns=altered_columns(first),
        model_available=available,
        reproduced=reproduced,
        differences=differences,
        records=len(rows),
        decision=_public(first),
        loans=[
            LoanRefPublic(
                loan_id=loan.loan_id,
                status=loan.status,
                borrower=loan.borrower,
                principal=loan.principal,
                apr_bps=loan.apr_bps,
                block_number=loan.created_block,
                tx_hash=loan.created_tx or loan.tx_hash,
                matches_decision=not loan_differences_,
                differences=loan_differences_,
            )
            for loan, loan_differences_ in loans
        ],
    )
