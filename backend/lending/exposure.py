"""What the ledger knows of a borrower before it signs a new loan, checked against its application.

The model only sees what the applicant declares; the chain index sees every loan the wallet has
with us. A wallet is cheap, so a borrower is a person (`identity.persons`): the loans of every
wallet sharing a national ID with the applicant's count as its own. So before an offer is made:
- a person with a defaulted loan they still owe on gets no new loan (the debt comes first);
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
from backend.identity.persons import wallets_of
from backend.lending.schemas import BorrowingPublic
from backend.scoring.models import CreditDecision

OPEN = ("funding", "active", "defaulted")


@dataclass(frozen=True)
class Exposure:
    """A borrower's loans with us, from the chain index (base units of the loan token)."""

    open_loans: int
    monthly_installments: int  # of funding and active loans: what they take (or will) each period
    outstanding: int  # principal still owed (a loan being funded counts in full)
    owing_defaulted: list[int]  # defaulted loans with money still to recover

    @classmethod
    def of(cls, db: Session, borrower: str) -> Exposure:
        """One wallet's loans only."""
        return cls._of_wallets(db, {borrower})

    @classmethod
    def of_person(cls, db: Session, borrower: str) -> Exposure:
        """The loans of every wallet of `borrower`'s person: a second wallet is no fresh borrower."""
        return cls._of_wallets(db, wallets_of(db, borrower) | {borrower})

    @classmethod
    def _of_wallets(cls, db: Session, wallets: set[str] | frozenset[str]) -> Exposure:
        # A defaulted loan paid back in full is settled: no longer one to declare, nor debt.
        query = select(LoanRow).where(LoanRow.borrower.in_(wallets), LoanRow.status.in_(OPEN))
        rows = [r for r in db.scalars(query) if r.owes]
        running = [r for r in rows if r.status in ("funding", "active")]
        return cls(
            open_loans=len(rows),
            monthly_installments=sum(r.installment_amount for r in running),
            outstanding=sum(r.principal if r.status == "funding" else r.principal_outstanding for r in running),
            owing_defaulted=sorted(r.loan_id for r in rows if r.status == "defaulted" and r.recoverable > 0),
        )


def whole_tokens_up(amount: int, unit: int) -> int:
    return -(-amount // unit)


def check_application(exposure: Exposure, decision: CreditDecision, unit: int) -> None:
    """The application against the ledger; `unit` is one whole token in base units."""
    if exposure.owing_defaulted:
        listed = ", ".join(map(str, exposure.owing_defaulted))
        raise Conflict(f"loans {listed} of this borrower (this wallet or another of its person's) are in default with money "
                       "still owed: settle them first",
                       loan_ids=exposure.owing_defaulted)  # fmt: skip
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
