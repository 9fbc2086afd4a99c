"""Notices that a standing authority is about to end, a week ahead (`ENDING_NOTICE_DAYS`):

- `mandate_ending`, to an investor whose funding mandate expires with budget left: the platform
  then stops funding its standing instruction's matches, so its money would sit idle unawares.
  A funding mandate is about no one loan: the notice's loan is 0 and its installment the
  mandate's number among the wallet's mandates (1, 2, ...), so each mandate is told of once.
- `autopay_ending`, to the payer of an autopay mandate that expires before its loan's last
  installment: the installments after it would otherwise fall due unpaid and late fees follow.
  Its installment is the first one the mandate no longer pays.

A mandate withdrawn, or a loan no longer active, is told nothing."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from backend.chain.mandates import mandate_spent
from backend.chain.projection_models import LoanRow
from backend.config import Settings
from backend.servicing.notices import add_notice, day, given_before, money

DAY = 86_400
ENDING_NOTICE_DAYS = 7


@dataclass(frozen=True)
class NoLoan:
    """A notice's subject (`notices.NoticeSubject`) when it is about no one loan: the recipient
    stands in the borrower's column."""

    borrower: str
    loan_id: int = 0


def has_active_mandates(db: Session) -> bool:
    """Whether any funding or autopay mandate is in use (else the pass need not read the clock)."""
    from backend.lending.models import FundingMandateRow, MandateStatus, RepaymentMandateRow

    return any(db.scalar(select(model.mandate_hash).where(model.status == MandateStatus.ACTIVE).limit(1)) is not None
               for model in (FundingMandateRow, RepaymentMandateRow))  # fmt: skip


def tell_mandates_ending(db: Session, settings: Settings, now: int, decimals: Callable[[], int]) -> int:
    """Tell of every funding and autopay mandate in use that ends within the week; how many were told."""
    # lending reads servicing, so lending is imported here, at call time
    from backend.lending.models import FundingMandateRow, MandateStatus, RepaymentMandateRow

    soon = now + ENDING_NOTICE_DAYS * DAY
    told = 0
    ending = select(FundingMandateRow).where(FundingMandateRow.status == MandateStatus.ACTIVE,
                                             FundingMandateRow.expiry > now, FundingMandateRow.expiry <= soon)  # fmt: skip
    for row in db.scalars(ending.order_by(FundingMandateRow.created_at)):
        number = db.scalar(select(func.count()).where(FundingMandateRow.wallet == row.wallet,
                                                      FundingMandateRow.created_at <= row.created_at))  # fmt: skip
        if given_before(db, 0, number, "mandate_ending", row.wallet):
            continue  # told: no chain read every pass of its last week
        left = int(row.mandate["budget"]) - mandate_spent(settings, row.mandate_hash)
        if left <= 0:
            continue  # spent: it funds nothing more anyway, and its last funding said so
        message = (f"Your funding mandate ends on {day(row.expiry)} with {money(left, decimals())} of its budget "
                   "unspent: from then on the platform funds no more of your standing instruction's matches. "
                   "Sign a new mandate to keep investing automatically: it takes over from this one at once.")  # fmt: skip
        told += add_notice(db, NoLoan(row.wallet), number, "mandate_ending", row.expiry, left, message)
    autopay = (select(RepaymentMandateRow, LoanRow).join(LoanRow, LoanRow.loan_id == RepaymentMandateRow.loan_id)
               .where(RepaymentMandateRow.status == MandateStatus.ACTIVE, RepaymentMandateRow.expiry > now,
                      RepaymentMandateRow.expiry <= soon, LoanRow.status == "active"))  # fmt: skip
    for row, loan in db.execute(autopay.order_by(RepaymentMandateRow.created_at)):
        unpaid = first_installment_after(loan, row.expiry)
        if unpaid is None:
            continue  # the loan's last installment falls due before the mandate ends
        due = loan.start_time + unpaid * loan.installment_period
        message = (f"Autopay on loan {loan.loan_id} ends on {day(row.expiry)}: installment {unpaid}, due "
                   f"{day(due)}, and those after it will not be paid from your wallet automatically. Renew "
                   "autopay (a new mandate takes over from this one at once), or pay them yourself, to avoid late "
                   "fees.")  # fmt: skip
        told += add_notice(db, loan, unpaid, "autopay_ending", due, loan.installment_amount, message,
                           recipient=row.payer)  # fmt: skip
    return told


def first_installment_after(loan: LoanRow, expiry: int) -> int | None:
    """The first installment of an active loan falling due after `expiry` (None: none does).
    Installment k falls due `k` periods after the loan's start."""
    if loan.start_time is None:
        return None
    k = (expiry - loan.start_time) // loan.installment_period + 1
    return k if k <= loan.installments else None
