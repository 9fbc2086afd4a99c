"""API schemas for scoring: what the applicant fills in (product language) and what comes back.
Every field is required and every choice is closed: an unknown value is a 422 naming the field."""

from __future__ import annotations

from datetime import date, datetime
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from backend.input_text import Note
from backend.scoring import policy
from backend.units import BaseUnits, WholeTokens

CheckingAccount = Literal["none", "negative", "0_to_200", "200_plus_or_salary"]
CreditHistory = Literal[
    "no_credit_or_all_repaid", "all_repaid_here", "current_repaid_duly", "past_delays", "critical_or_credit_elsewhere"
]
Purpose = Literal[
    "new_car",
    "used_car",
    "furniture",
    "radio_tv",
    "appliances",
    "repairs",
    "education",
    "retraining",
    "business",
    "other",
]
Savings = Literal["none_or_unknown", "under_100", "100_to_500", "500_to_1000", "1000_plus"]
EmploymentLength = Literal["unemployed", "under_1y", "1_to_4y", "4_to_7y", "7y_plus"]
IncomeBand = Literal["under_500", "500_to_1000", "1000_to_2000", "2000_to_3500", "3500_to_5000", "5000_plus"]
Guarantor = Literal["none", "co_applicant", "guarantor"]
Property = Literal["real_estate", "savings_or_life_insurance", "car_or_other", "none"]
OtherInstalmentPlans = Literal["none", "bank", "stores"]
Housing = Literal["rent", "own", "free"]
Decision = Literal["approve", "refer", "decline"]


class ApplicationCreate(BaseModel):
    """A loan application. Amounts are whole units of the loan currency. The numbers are strict:
    lax mode would read JSON `false` as 0 debt and `true` as one loan, and price on that."""

    model_config = ConfigDict(extra="forbid", frozen=True, json_schema_extra={"examples": [{
        "amount": 3000, "term_months": 24, "purpose": "used_car", "monthly_income_band": "2000_to_3500",
        "monthly_debt_payments": 200, "employment_length": "4_to_7y", "housing": "own", "existing_loans_with_us": 0,
        "checking_account": "200_plus_or_salary", "savings": "500_to_1000", "credit_history": "all_repaid_here",
        "property": "real_estate", "other_instalment_plans": "none", "guarantor": "none"}]})  # fmt: skip

    amount: WholeTokens = Field(strict=True, ge=policy.MIN_AMOUNT, le=policy.MAX_AMOUNT, description="Principal requested")
    term_months: int = Field(strict=True, ge=policy.MIN_TERM, le=policy.MAX_TERM)
    purpose: Purpose
    monthly_income_band: IncomeBand = Field(description="Net monthly income")
    monthly_debt_payments: WholeTokens = Field(strict=True, ge=0, le=1_000_000, description="Existing monthly debt payments")
    employment_length: EmploymentLength
    housing: Housing
    existing_loans_with_us: int = Field(strict=True, ge=0, le=9, description="Loans already running on this platform")
    checking_account: CheckingAccount = Field(description="Current-account balance, or salary paid in for 1+ year")
    savings: Savings
    credit_history: CreditHistory
    property: Property = Field(description="Most valuable asset")
    other_instalment_plans: OtherInstalmentPlans = Field(description="Instalment credit elsewhere")
    guarantor: Guarantor


class ReasonPublic(BaseModel):
    code: str
    feature: str
    text: str
    points_lost: int


class PolicyReasonPublic(BaseModel):
    code: str
    text: str


class GradeBandPublic(BaseModel):
    grade: str
    pd_low: float
    pd_high: float


class CutoffsPublic(BaseModel):
    approve_min_score: int
    refer_min_score: int


class QuotePublic(BaseModel):
    apr_bps: int = Field(description="The quoted APR: the interest APR plus the reserve fee as a yearly rate over the "
                         "loan's weighted average life; an estimate of the offer's actuarial APR")
    base_rate_bps: int
    reserve_fee_bps: int = Field(description="The reserve fee as a yearly rate in the quote (apr_bps less the interest "
                                 "APR); before `reserve_fee_basis`, the flat yearly fee")
    risk_premium_bps: int = Field(description="The interest APR less the base rate")
    lgd: float
    monthly_payment: float = Field(description="The installment, due every 30 days at the interest APR (the quote "
                                   "less the reserve fee); under a policy without `installment_period_days`, a monthly "
                                   "annuity at the quote; in tokens, not base units")
    max_amount: WholeTokens
    interest_apr_bps: int | None = Field(default=None, description="The loan's on-chain APR, paid to investors: the "
                                         "base rate plus the expected loss the reserve does not cover (absent from "
                                         "quotes of models before `reserve_fee_basis`: apr_bps less reserve_fee_bps)")
    origination_fee_bps: int | None = Field(default=None, description="The reserve fee the loan pays once from its "
                                            "disbursal into the ReserveFund, in basis points of the amount: the "
                                            "reserve's claim at the top of the grade's PD band (`prudent_claims`; "
                                            "at its mean PD under `expected_claims`); absent from quotes of models "
                                            "before `reserve_fee_basis`: the flat yearly fee for the weighted "
                                            "average life")
    reserve_fee_basis: Literal["prudent_claims", "expected_claims"] | None = None


class ReviewCreate(BaseModel):
    """An underwriter's verdict on a referral."""

    model_config = ConfigDict(extra="forbid")

    outcome: Literal["approve", "decline"]
    note: Note = Field(min_length=3, max_length=500, description="Why: kept with the decision for oversight")


class ReviewPublic(BaseModel):
    outcome: Literal["approve", "decline"]
    reviewed_by: str
    reviewed_at: datetime
    note: str | None = None  # None once erased with the applicant's personal data (or in a proof)
    note_withheld: bool = Field(default=False, description="The note exists but is shown only to a recent sign-in "
                                "(LOANCHAIN_FRESH_SIGN_IN_MAX_AGE): sign in again to read it")  # fmt: skip


class DecisionPublic(BaseModel):
    id: str
    created_at: datetime
    model_version: str
    input_hash: str | None = Field(description="keccak-256 of the inputs (None once the application was erased)")
    decision_hash: str = Field(description="keccak-256 of salt, model version, inputs and outputs; goes on-chain")
    salt: str | None = Field(default=None, description="The keyed salt the hash commits under, shown to the applicant "
                             "and staff only (None: a decision recorded before salts, hashed without one, or erased)")
    erased_at: datetime | None = Field(default=None, description="When the application was erased with the applicant's "
                                       "personal data (no loan was made from it): only score, grade, PD and decision "
                                       "are kept, and it can no longer be proven")  # fmt: skip
    score: int = Field(ge=policy.SCORE_MIN, le=policy.SCORE_MAX)
    grade: str
    grade_band: GradeBandPublic | None = Field(default=None, description="None once erased")
    pd: float
    decision: Decision
    cutoffs: CutoffsPublic | None = Field(default=None, description="None once erased")
    reasons: list[ReasonPublic] = Field(default_factory=list, description="The score's reasons (none once erased)")
    quote: QuotePublic | None = Field(default=None, description="Price and maximum amount; none when declined, or once "
                                      "erased")
    policy_notes: list[str] = Field(default_factory=list)
    policy_reasons: list[PolicyReasonPublic] = Field(
        default_factory=list,
        description="The lending rules the application did not meet (affordability, existing debt, the APR limit), in "
        "plain language: the principal reasons for a referral the score alone would have approved, and for a decline "
        "on review, given before the score's reasons (derived from the recorded decision, outside its hash)",
    )
    review: ReviewPublic | None = Field(
        default=None, description="An underwriter's verdict on a referral (outside the decision hash)"
    )


class ApplicationPublic(ApplicationCreate):
    """The application as recorded with its decision (financial characteristics, no identifiers)."""

    model_config = ConfigDict(extra="ignore", frozen=True)


class OtherApplicationPublic(BaseModel):
    """Another decision asked for by a referral's applicant (any wallet of its person as a borrower)
    in the window before it: an applicant shopping for a pass changes answers between tries, from
    one wallet or several (review-fraud L1)."""

    id: str
    wallet: str = Field(description="The wallet that asked for it: the referral's own, or another of its person's")
    created_at: datetime
    decision: str
    grade: str
    review: str | None = Field(description="An underwriter's outcome, if the decision was a reviewed referral")
    changed: dict[str, int | str] = Field(
        description="Each answer of that application that differs from this referral's, as it was given there"
    )


class ReferralPublic(DecisionPublic):
    """A referral as an underwriter decides it: the decision, and the application behind it."""

    application: ApplicationPublic = Field(description="What the applicant asked for and declared, as scored")
    debt_service_ratio: float | None = Field(
        description="Existing monthly debt payments plus this loan's quoted installment, over the income band's lower "
        "edge (None: no income floor, or no quote)"
    )
    debt_service_ratio_cap: float = Field(description="The affordability rule's cap on that ratio")
    other_applications: list[OtherApplicationPublic] = Field(
        default_factory=list,
        description="The other decisions of the applicant's person as a borrower (its wallets verified with a national "
        "ID this wallet was verified with, on records approved at some time; the wallet alone without one) from 30 days "
        "before this one on, newest first, each naming its wallet, with the answers that differ from this application",
    )


class LoanRefPublic(BaseModel):
    """An on-chain loan (as indexed) whose signed terms carry the decision hash."""

    loan_id: int
    status: str
    borrower: str
    principal: BaseUnits
    apr_bps: int
    block_number: int = Field(description="The block that created the loan")
    tx_hash: str = Field(description="The createLoan transaction, whose signed terms carry the decision hash")
    matches_decision: bool = Field(default=True, description="The loan's terms are the decision's: its borrower, "
                                   "principal, interest APR, installments and origination fee")
    differences: list[str] = Field(default_factory=list, description="Each term that is not the decision's")


class DecisionProofPublic(BaseModel):
    """What an auditor needs to show which model and inputs priced a loan."""

    decision_hash: str
    verified: bool = Field(description="hash_intact and reproduced, and every loan carrying the hash matches the decision")
    hash_intact: bool = Field(description="The stored hash equals keccak-256 of the stored model version, inputs, "
                              "outputs, and the record's columns (score, grade, PD, decision, APR, input hash) agree "
                              "with them")
    altered_columns: list[str] = Field(default_factory=list,
                                       description="Columns of the first record that disagree with its hashed outputs")
    model_available: bool = Field(description="This installation holds the artifact of that model version")
    reproduced: bool | None = Field(
        description="Re-scoring the stored inputs with that model gives the same hash (None: model not available)"
    )
    differences: list[str] = Field(description="Output fields that differ on replay")
    records: int = Field(description="How many times this exact decision was recorded")
    decision: DecisionPublic = Field(description="The first record")
    loans: list[LoanRefPublic] = Field(description="On-chain loans whose terms carry this decision hash")


class FairLendingGroupPublic(BaseModel):
    group: str = Field(description="Age band at the decision's date: <25, 25-40, >40")
    applicants: int | None = Field(description="Applicants in the band, each counted once (their latest decision); "
                                   "None: fewer than min_group, withheld")
    approved: int | None = Field(description="Approved by the model, or by an underwriter on a referral")
    still_referred: int | None = Field(description="Referred and not reviewed yet (counted as not approved)")
    approval_rate: float | None
    adverse_impact_ratio: float | None = Field(default=None, description="Approval rate / the highest band's")
    below_four_fifths: bool = Field(default=False, description="Ratio under 0.8 in a band of at least min_group applicants")
    withheld: bool = Field(default=False, description="Fewer than min_group applicants: no count or rate is shown, so a "
                           "narrow period cannot tell one applicant's age band")


class FairLendingPublic(BaseModel):
    """Approval rates by age band on live decisions, and the adverse impact ratio (four-fifths rule).
    Only counts: no applicant, wallet or date of birth is in it."""

    since: datetime | None
    until: datetime | None
    applicants: int | None = Field(description="None when a group is withheld (the total would give its count back)")
    unknown_age: int | None = Field(description="Applicants without a readable KYC record (asked before KYC, or erased); "
                                    "None: fewer than min_group, withheld")
    groups: list[FairLendingGroupPublic]
    four_fifths: float
    min_group: int
    flagged: list[str] = Field(description="Bands below four fifths of the best band's approval rate")
    note: str | None = Field(default=None, description="What is withheld, when anything is")


class FairLendingCheckPublic(BaseModel):
    """A scheduled fair-lending check: the live report over the trailing window on the day it was taken."""

    checked_on: date
    checked_at: datetime
    checked_by: str = Field(description="`worker:fair-lending`, or who ran it by hand")
    flagged: list[str] = Field(description="Bands below four fifths of the best band's approval rate that day")
    report: FairLendingPublic
