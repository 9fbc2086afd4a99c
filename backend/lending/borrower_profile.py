"""What an investor may know of a loan's borrower before funding it, as P2P disclosure rules ask
(LendingClub shows the like): the application's banded facts and the credit decision behind the
loan, never the borrower's identity, amounts of money it declared, or its assets.

The facts come from the recorded credit decision whose hash the loan's terms carry, so they are
the ones the loan was priced on. Only the bands a person picked from a list are shown (income,
employment length, housing, credit history), with the band of the debt-service ratio the
affordability rule judged (existing monthly debt payments plus this loan's installment, counted by
month at its real pace, over the income band's lower edge), the grade with its PD band, and those
of the scorecard's reasons that are about facts shown here. The borrower agrees to this in the loan
agreement; a loan decided elsewhere has no profile here.

Nothing finer: the installment is on chain, so an exact ratio gives the declared debt back to a few
units; and the exact score, with the shown bands, the chain's amount and term and the published
scorecard, narrows the hidden answers (checking account, savings, property, guarantor, other
instalment plans) to a handful of candidates, as do reasons naming them (privacy review M4).

Investors see it when they decide: while the loan is open for funding, or while its notes are
offered on the secondary market; otherwise only if they hold its notes. Staff always."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

from backend.chain.loan_book import deadline_clock, loan_book_domain
from backend.chain.loan_terms import YEAR
from backend.chain.projection_models import LoanRow, MarketListingRow, NoteBalanceRow
from backend.config import Settings
from backend.errors import Forbidden, NotFound
from backend.lending.schemas import BorrowerProfilePublic
from backend.scoring import policy
from backend.scoring.mapping import INCOME_FLOOR
from backend.scoring.models import CreditDecision
from backend.scoring.reasons import reason

# The debt-service ratio's band edges, up to the affordability cap (whose band includes it, as the
# rule does): under 20%, 20-30%, 30-35%, over 35%. Ten points of the income band's lower edge or
# more are a wide range of debts; the narrow band under the cap tells an investor the loan is near
# its affordability limit, and only an underwriter's approval puts a loan above it.
DSR_EDGES = (0.20, 0.30, policy.DEBT_SERVICE_RATIO)

# Scorecard characteristics an investor is shown anyway (term, amount and installment on chain;
# purpose, income band, employment length, housing, credit history and loans with us in the
# profile): reasons about them tell nothing more. Any other reason (checking account, savings,
# guarantor, property, other instalment plans, or one this table does not know) is left out.
DISCLOSED_FEATURES = (
    "duration_in_month", "credit_history", "purpose", "credit_amount", "present_employment_since",
    "installment_rate_in_percentage_of_disposable_income", "housing", "number_of_existing_credits_at_this_bank",
    "monthly_amount", "burden_weighted_amount",
)  # fmt: skip
DISCLOSED_REASON_CODES = frozenset(reason(feature)[0] for feature in DISCLOSED_FEATURES)


def borrower_profile(db: Session, settings: Settings, loan_id: int, wallet: str | None,
                     staff: bool = False) -> BorrowerProfilePublic:  # fmt: skip
    """The profile for `wallet` (None: an operator at the CLI, as staff)."""
    loan = db.get(LoanRow, loan_id)
    if loan is None:
        raise NotFound(f"loan {loan_id} is not indexed", loan_id=loan_id)
    if not (staff or wallet is None or loan.status == "funding" or _holds(db, loan_id, wallet)
            or _offered(db, settings, loan_id)):  # fmt: skip
        raise Forbidden(f"loan {loan_id} is {loan.status}: its borrower's profile is shown while it is open for "
                        "funding or its notes are offered, and otherwise to its note holders",
                        loan_id=loan_id, status=loan.status)  # fmt: skip
    decision = db.scalar(select(CreditDecision).where(CreditDecision.decision_hash == loan.decision_hash).limit(1))
    if decision is None:
        raise NotFound(f"loan {loan_id} was decided elsewhere: this platform holds no profile of its borrower",
                       loan_id=loan_id)  # fmt: skip
    facts = decision.inputs
    income = INCOME_FLOOR[facts["monthly_income_band"]]
    # One installment every `installment_period` seconds: 365 days' worth of them over 12 months.
    per_month = YEAR / (12 * loan.installment_period)
    installment = loan.installment_amount / 10 ** loan_book_domain(settings).asset_decimals * per_month
    ratio = (facts["monthly_debt_payments"] + installment) / income if income else None
    band = decision.outputs["grade_band"]
    return BorrowerProfilePublic(
        loan_id=loan_id, grade=decision.grade, pd_low=band["pd_low"], pd_high=band["pd_high"],
        purpose=facts["purpose"], term_months=loan.installments, monthly_income_band=facts["monthly_income_band"],
        employment_length=facts["employment_length"], housing=facts["housing"],
        credit_history=facts["credit_history"], existing_loans_with_us=facts["existing_loans_with_us"],
        debt_service_ratio_band=None if ratio is None else dsr_band(ratio),
        debt_service_ratio_cap=policy.DEBT_SERVICE_RATIO,
        score_reasons=[r["text"] for r in decision.outputs.get("reasons", []) if r["code"] in DISCLOSED_REASON_CODES],
        decided_at=decision.created_at,
    )  # fmt: skip


def dsr_band(ratio: float) -> str:
    """The band label of a debt-service ratio, e.g. "20-30%"."""
    if ratio < DSR_EDGES[0]:
        return f"under {DSR_EDGES[0]:.0%}"
    for low, high in zip(DSR_EDGES, DSR_EDGES[1:]):
        if ratio < high or (high == DSR_EDGES[-1] and ratio <= high):
            return f"{low * 100:.0f}-{high:.0%}"
    return f"over {DSR_EDGES[-1]:.0%}"


def _offered(db: Session, settings: Settings, loan_id: int) -> bool:
    """Whether notes of the loan are on offer on the secondary market now (an open, live listing)."""
    live = MarketListingRow.live_at(deadline_clock(settings))
    return db.scalar(select(MarketListingRow.listing_id).where(MarketListingRow.loan_id == loan_id,
                                                               MarketListingRow.status == "open", live).limit(1)) is not None  # fmt: skip


def _holds(db: Session, loan_id: int, wallet: str) -> bool:
    row = db.get(NoteBalanceRow, (loan_id, wallet))
    return row is not None and row.balance > 0

