"""The end of a loan's funding window, which nobody should have to remember. Past its deadline (by
the chain's clock), a loan that missed full funding is cancelled, so the book, the disclosure and
the borrower see it for what it is, and its investors take their money back with `refund`; a fully
funded loan its borrower has not taken yet is paid out, so investors' money never sits idle in
LoanBook; and one still not paid out `DISBURSEMENT_WINDOW` past its deadline (its borrower no longer
verified, or refused by the token) is cancelled, as LoanBook then allows, so its investors can take
their money back. Anyone may call `cancel` or `disburse`; the platform does, through the outbox.

Each step is decided on what LoanBook says at the latest block, not on the index, which trails the
chain (a last ticket bought just before the deadline is not in it yet) nor on the wall clock, which
runs ahead of the last block: a borrower is told a loan is cancelled only when the chain shows it
short of funding past its deadline, which nothing can change any more. A payout waits while LoanBook
is paused or the borrower's verification has lapsed, and is asked for again once it would go through."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from backend.chain.projection_models import LoanRow
from backend.chain.servicing_reader import FundingFacts, funding_facts
from backend.config import Settings
from backend.servicing.loan_calls import queue_call
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
    rows = {r.loan_id: r for r in db.scalars(select(LoanRow).where(FUNDING, LoanRow.funding_deadline < now))}
    if not rows:
        return report
    book = funding_facts(settings, sorted(rows))
    for loan in book.loans:
        row = rows[loan.loan_id]
        if loan.status != "funding" or book.block_time <= loan.funding_deadline:
            continue  # paid out or cancelled already (the index will say so), or not yet closed on chain
        funded = loan.funded == loan.principal
        stuck = funded and book.block_time > loan.funding_deadline + DISBURSEMENT_WINDOW  # the payout never went through
        if funded and not stuck:
            if settings.servicing_auto_disburse and not book.paused and loan.borrower_verified:
                report.disbursals += _queue(db, settings, loan, "disburse", disburse_intent_key(row.loan_id))
        elif settings.servicing_auto_cancel and _queue(db, settings, loan, "cancel", cancel_intent_key(row.loan_id)):
            report.cancels += 1
        # Past the deadline on chain, an underfunded loan can only end cancelled: the notice is
        # true whoever cancels it (the outbox, or an investor's refund). Given once.
        if settings.servicing_auto_cancel and (stuck or not funded):
            told = _tell_not_disbursed(db, row, decimals()) if stuck else _tell_not_funded(db, row, loan.funded, decimals())
            report.notices += told
    return report


def _queue(db: Session, settings: Settings, loan: FundingFacts, function: str, key: str) -> bool:
    payload = {"funded": loan.funded, "principal": loan.principal, "funding_deadline": loan.funding_deadline}
    return queue_call(db, settings, loan.loan_id, function, key, f"loan.{function}", payload)


def _tell_not_funded(db: Session, row: LoanRow, funded: int, decimals: int) -> bool:
    message = (f"Loan {row.loan_id} did not reach full funding by {day(row.funding_deadline)} "
               f"({money(funded, decimals)} of {money(row.principal, decimals)}) and is cancelled: "
               "nothing is paid out and nothing is owed. Investors get their money back; you may apply again.")  # fmt: skip
    return add_notice(db, row, 0, "not_funded", row.funding_deadline, funded, message)


def _tell_not_disbursed(db: Session, row: LoanRow, decimals: int) -> bool:
    message = (f"Loan {row.loan_id} was fully funded ({money(row.principal, decimals)}) but could not be paid out to "
               f"you within {DISBURSEMENT_WINDOW // 86_400} days of its funding deadline, {day(row.funding_deadline)}, "
               "and is cancelled: nothing is paid out and nothing is owed. Investors get their money back.")  # fmt: skip
    return add_notice(db, row, 0, "not_disbursed", row.funding_deadline, row.funded, message)
