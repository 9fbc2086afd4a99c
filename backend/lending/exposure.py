"""What the ledger knows of a borrower before it signs a new loan, checked against its application.

The model only sees what the applicant declares; the chain index sees every loan the wallet has
with us. A wallet is cheap, so a borrower is a person (`identity.persons.borrower_wallets_of`): the
loans of every wallet verified with a national ID the applicant was verified with count as its own
(a record no admin approved ties nobody: anyone may type someone's ID number). So before an offer
is made:
- a person with a defaulted loan they still owe on gets no new loan (the debt comes first), nor one
  with a loan in a delinquent bucket (16+ days late, `servicing.aging`): the arrears come first;
- the credit history "all_repaid_here" (the model's best answer) is the ledger's to confirm: only a
  person with at least one loan repaid here may give it;
- the application may not declare fewer loans with us than the ledger shows (loan stacking hides
  debt from the model), nor monthly debt payments below what its loans with us take a month (the
  affordability limit rests on that figure);
- what a borrower owes the platform's investors at once is capped (`borrower_max_outstanding`, in
  whole tokens): the offer's amount may not take it over.

Each is a 409 (or a 422 on the amount) naming the field, and nothing is written.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.orm import Session

from backend.chain.loan_book import loan_book_domain
from backend.chain.projection_models import LoanRow
from backend.config import Settings
from backend.errors import Conflict
from backend.identity.persons import borrower_wallets_of
from backend.lending.schemas import BorrowingPublic
from backend.scoring.models import CreditDecision
from backend.servicing.aging import DELINQUENT, bucket_of

OPEN = ("funding", "active", "defaulted")
REPAID_HERE = "all_repaid_here"


@dataclass(frozen=True)
class Exposure:
    """A borrower's loans with us, from the chain index (base units of the loan token)."""

    open_loans: int
    monthly_installments: int  # of funding and active loans: what they take (or will) each period
    outstanding: int  # principal still owed (a loan being funded counts in full)
    owing_defaulted: list[int]  # defaulted loans with money still to recover
    delinquent: tuple[int, ...] = ()  # active loans 16+ days late (at the chain time asked about)
    repaid: int = 0  # loans repaid here

    @classmethod
    def of(cls, db: Session, borrower: str, now: int | None = None) -> Exposure:
        """One wallet's loans only; their lateness only when given the chain time `now`."""
        return cls._of_wallets(db, {borrower}, now)

    @classmethod
    def of_person(cls, db: Session, borrower: str, now: int | None = None) -> Exposure:
        """The loans of every wallet of `borrower`'s person: a second wallet is no fresh borrower."""
        return cls._of_wallets(db, borrower_wallets_of(db, borrower) | {borrower}, now)

    @classmethod
    def _of_wallets(cls, db: Session, wallets: set[str] | frozenset[str], now: int | None) -> Exposure:
        # A defaulted loan paid back in full is settled: no longer one to declare, nor debt.
        query = select(LoanRow).where(LoanRow.borrower.in_(wallets), LoanRow.status.in_((*OPEN, "repaid")))
        loans = list(db.scalars(query))
        rows = [r for r in loans if r.owes]
        running = [r for r in rows if r.status in ("funding", "active")]
        return cls(
            open_loans=len(rows),
            monthly_installments=sum(r.installment_amount for r in running),
            outstanding=sum(r.principal if r.status == "funding" else r.principal_outstanding for r in running),
            owing_defaulted=sorted(r.loan_id for r in rows if r.status == "defaulted" and r.recoverable > 0),
            delinquent=() if now is None else tuple(sorted(r.loan_id for r in running if _delinquent(r, now))),
            repaid=sum(r.status == "repaid" for r in loans),
        )


def _delinquent(row: LoanRow, now: int) -> bool:
    """Aged as the servicing pass ages it, from the index: its oldest unsettled installment's due
    date (LoanBook's `amountDue`). An index behind the chain can only make a loan look later."""
    if row.status != "active":
        return False
    due = (row.start_time or 0) + (row.installments_settled + 1) * row.installment_period
    return bucket_of(now, due, row.defaultable_at) in DELINQUENT


def whole_tokens_up(amount: int, unit: int) -> int:
    return -(-amount // unit)


def check_application(exposure: Exposure, decision: CreditDecision, unit: int) -> None:
    """The application against the ledger; `unit` is one whole token in base units."""
    if exposure.owing_defaulted:
        listed = ", ".join(map(str, exposure.owing_defaulted))
        raise Conflict(f"loans {listed} of this borrower (this wallet or another of its person's) are in default with money "
                       "still owed: settle them first",
                       loan_ids=exposure.owing_defaulted)  # fmt: skip
    if exposure.delinquent:
        listed = ", ".join(map(str, exposure.delinquent))
        raise Conflict(f"loans {listed} of this borrower (this wallet or another of its person's) are more than 15 days "
                       "late: bring them up to date first", loan_ids=list(exposure.delinquent))  # fmt: skip
    history = decision.inputs["credit_history"]
    if history == REPAID_HERE and exposure.repaid == 0:
        raise Conflict(f"credit_history: the application declares {REPAID_HERE!r}, but no loan of this borrower has been "
                       "repaid here yet; apply again with your true credit history",
                       field="credit_history", declared=history, repaid_here=0)  # fmt: skip
    declared = int(decision.inputs["existing_loans_with_us"])
    if declared < exposure.open_loans:
        raise Conflict(
            f"existing_loans_with_us: the application declares {declared}, the ledger shows {exposure.open_loans} open "
            "loans of this borrower (this wallet and its person's others); apply again with the true number",
            field="existing_loans_with_us", declared=declared, on_chain=exposure.open_loans,
        )  # fmt: skip
    on_ledger = whole_tokens_up(exposure.monthly_installments, unit)
    stated = int(decision.inputs["monthly_debt_payments"])
    if stated < on_ledger:
        raise Conflict(
            f"monthly_debt_payments: the application declares {stated} a month, this borrower's loans with us alone take "
            f"{on_ledger}; apply again with all your monthly debt payments",
            field="monthly_debt_payments", declared=stated, on_chain=on_ledger,
        )  # fmt: skip


def headroom(exposure: Exposure, cap: int, unit: int) -> int:
    """Whole tokens the borrower may still borrow under the cap on what it owes at once."""
    return max(cap - whole_tokens_up(exposure.outstanding, unit), 0)


def borrowing_of(db: Session, settings: Settings, wallet: str) -> BorrowingPublic:
    """What an application from `wallet` will be checked against, so the form can say it first."""
    ledger = Exposure.of_person(db, wallet)
    unit = 10 ** loan_book_domain(settings).asset_decimals
    cap = settings.borrower_max_outstanding
    return BorrowingPublic(open_loans=ledger.open_loans, monthly_debt_with_us=whole_tokens_up(ledger.monthly_installments, unit),
                           owed=whole_tokens_up(ledger.outstanding, unit), cap=cap, headroom=headroom(ledger, cap, unit),
                           owing_defaulted=ledger.owing_defaulted)  # fmt: skip
