"""What an investor may know of a loan's borrower before funding it, as P2P disclosure rules ask
(LendingClub shows the like): the application's banded facts and the credit decision behind the
loan, never the borrower's identity, amounts of money it declared, or its assets.

The facts come from the recorded credit decision whose hash the loan's terms carry, so they are
the ones the loan was priced on. Only the bands a person picked from a list are shown (income,
employment length, housing, credit history), with the debt-service ratio the affordability rule
judged (existing monthly debt payments plus this loan's installment, counted by month at its real
pace, over the income band's lower edge) and the reasons the scorecard lowered the score. The borrower agrees to this in the loan
agreement; a loan decided elsewhere has no profile here.

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
    return BorrowerProfilePublic(
        loan_id=loan_id, grade=decision.grade, pd=decision.pd, score=decision.score, purpose=facts["purpose"],
        term_months=loan.installments, monthly_income_band=facts["monthly_income_band"],
        employment_length=facts["employment_length"], housing=facts["housing"],
        credit_history=facts["credit_history"], existing_loans_with_us=facts["existing_loans_with_us"],
        debt_service_ratio=round(ratio, 2) if ratio is not None else None,
        debt_service_ratio_cap=policy.DEBT_SERVICE_RATIO,
        score_reasons=[r["text"] for r in decision.outputs.get("reasons", [])],
        decided_at=decision.created_at,
    )  # fmt: skip


def _offered(db: Session, settings: Settings, loan_id: int) -> bool:
    """Whether notes of the loan are on offer on the secondary market now (an open, live listing)."""
    live = MarketListingRow.live_at(deadline_clock(settings))
    return db.scalar(select(MarketListingRow.listing_id).where(MarketListingRow.loan_id == loan_id,
                                                               MarketListingRow.status == "open", live).limit(1)) is not None  # fmt: skip


def _holds(db: Session, loan_id: int, wallet: str) -> bool:
    row = db.get(NoteBalanceRow, (loan_id, wallet))
    return row is not None and row.balance > 0

