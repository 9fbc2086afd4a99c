"""The end of a loan's funding window, which nobody should have to remember. Past its deadline (by
the chain's clock), a loan that missed full funding is cancelled, so the book, the disclosure and
the borrower see it for what it is, and its investors take their money back with `refund`; a fully
funded loan its borrower has not taken yet is paid out, so investors' money never sits idle in
LoanBook; and one still not paid out `DISBURSEMENT_WINDOW` past its deadline (its borrower no longer
verified, or refused by the token) is cancelled, as LoanBook then allows, so its investors can take
their money back. Anyone may call `cancel` or `disburse`; the platform does, through the outbox, once."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from backend.chain.projection_models import LoanRow
from backend.config import Settings
from backend.servicing.loan_calls import queue_once
from backend.servicing.notices import add_notice, day, money

FUNDING = LoanRow.status == "funding"
DISBURSEMENT_WINDOW = 7 * 86_400  # LoanBook.DISBURSEMENT_WINDOW: past it, a fully funded loan may be cancelled


def cancel_intent_key(loan_id: int) -> str:
    return f"cancel:{loan_id}"


def disburse_intent_key(loan_id: int) -> str:
    return f"disburse:{loan_id}"


@dataclass
class FundingReport:
    cancels: int = 0
    disbursals: int = 0
    notices: int = 0


def has_funding_loans(db: Session) -> bool:
    return bool(db.scalar(select(func.count()).where(FUNDING)))


def close_funding_windows(db: Session, settings: Settings, now: int, decimals: Callable[[], int]) -> FundingReport:
    report = FundingReport()
    rows = list(db.scalars(select(LoanRow).where(FUNDING, LoanRow.funding_deadline < now).order_by(LoanRow.loan_id)))
    for row in rows:
        funded = row.funded == row.principal
        stuck = funded and now > row.funding_deadline + DISBURSEMENT_WINDOW  # the payout never went through
        if funded and not stuck:
            if settings.servicing_auto_disburse:
                report.disbursals += _queue(db, settings, row, "disburse", disburse_intent_key(row.loan_id))
        elif settings.servicing_auto_cancel and _queue(db, settings, row, "cancel", cancel_intent_key(row.loan_id)):
            report.cancels += 1
            report.notices += _tell_not_disbursed(db, row, decimals()) if stuck else _tell_not_funded(db, row, decimals())
    return report


def _queue(db: Session, settings: Settings, row: LoanRow, function: str, key: str) -> bool:
    payload = {"funded": int(row.funded), "principal": int(row.principal), "funding_deadline": int(row.funding_deadline)}
    return queue_once(db, settings, row.loan_id, function, key, f"loan.{function}", payload)


def _tell_not_funded(db: Session, row: LoanRow, decimals: int) -> bool:
    message = (f"Loan {row.loan_id} did not reach full funding by {day(row.funding_deadline)} "
               f"({money(row.funded, decimals)} of {money(row.principal, decimals)}) and is cancelled: "
               "nothing is paid out and nothing is owed. Investors get their money back; you may apply again.")  # fmt: skip
    return add_notice(db, row, 0, "not_funded", row.funding_deadline, row.funded, message)


def _tell_not_disbursed(db: Session, row: LoanRow, decimals: int) -> bool:
    message = (f"Loan {row.loan_id} was fully funded ({money(row.principal, decimals)}) but could not be paid out to "
               f"you within {DISBURSEMENT_WINDOW // 86_400} days of its funding deadline, {day(row.funding_deadline)}, "
               "and is cancelled: nothing is paid out and nothing is owed. Investors get their money back.")  # fmt: skip
    return add_notice(db, row, 0, "not_disbursed", row.funding_deadline, row.funded, message)
