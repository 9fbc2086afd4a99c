"""A borrower hears of its own loan's two good turns, once each: fully funded (the money can be
taken now, and what happens if it is not) and paid out (what reached the wallet, the fee the
reserve kept, the first installment). Read from the index, which has seen the events that make
them true. Paid out is told only within `PAID_OUT_RECENT` of the payout, so loans paid out before
this notice existed are not announced long after."""

from __future__ import annotations

from collections.abc import Callable

from sqlalchemy import and_, exists, select
from sqlalchemy.orm import Session

from backend.chain.deploy_params import BORROWER_KYC_LEVEL
from backend.chain.projection_models import AttestationRow, LoanRow
from backend.config import Settings
from backend.servicing.funding import DISBURSEMENT_WINDOW
from backend.servicing.models import ServicingNotice
from backend.servicing.notices import add_notice, day, money

FUNDED, PAID_OUT = "loan_funded", "paid_out"
PAID_OUT_RECENT = 7 * 86_400


def _untold(kind: str):
    return ~exists().where(ServicingNotice.loan_id == LoanRow.loan_id, ServicingNotice.kind == kind,
                           ServicingNotice.installment == 0, ServicingNotice.recipient == LoanRow.borrower)  # fmt: skip


def tell_borrowers_funded_and_paid_out(db: Session, settings: Settings, now: int, decimals: Callable[[], int]) -> int:
    """Returns how many notices were given."""
    # "Take it now" only while LoanBook would pay it out: the borrower still verified (an attestation
    # revoked for fraud stops the payout, and `not_disbursed` follows) and the window still open.
    verified = exists().where(AttestationRow.wallet == LoanRow.borrower, ~AttestationRow.revoked,
                              AttestationRow.level >= BORROWER_KYC_LEVEL, AttestationRow.expires_at > now)  # fmt: skip
    funded = and_(LoanRow.status == "funding", LoanRow.funded == LoanRow.principal, verified,
                  LoanRow.funding_deadline + DISBURSEMENT_WINDOW >= now, _untold(FUNDED))  # fmt: skip
    paid = and_(LoanRow.status == "active", LoanRow.start_time >= now - PAID_OUT_RECENT, _untold(PAID_OUT))
    told = 0
    for row in db.scalars(select(LoanRow).where(funded).order_by(LoanRow.loan_id)):
        told += add_notice(db, row, 0, FUNDED, row.funding_deadline, row.principal, _funded(settings, row, decimals()))
    for row in db.scalars(select(LoanRow).where(paid).order_by(LoanRow.loan_id)):
        first_due = row.start_time + row.installment_period
        told += add_notice(db, row, 0, PAID_OUT, first_due, row.principal - row.origination_fee, _paid_out(row, decimals()))
    return told


def _funded(settings: Settings, row: LoanRow, d: int) -> str:
    deadline = day(row.funding_deadline)
    then = (f"otherwise the platform pays it out to you once its funding deadline, {deadline}, has passed (while "
            "LoanBook is not paused and your verification holds)"
            if settings.servicing_auto_disburse else
            f"take it by {day(row.funding_deadline + DISBURSEMENT_WINDOW)}, or the loan is cancelled")  # fmt: skip
    return (f"Loan {row.loan_id} is fully funded ({money(row.principal, d)}). Take the money now with Receive funds; "
            f"{then}. Nothing is owed until it is paid out.")  # fmt: skip


def _paid_out(row: LoanRow, d: int) -> str:
    return (f"Loan {row.loan_id} was paid out on {day(row.start_time)}: {money(row.principal - row.origination_fee, d)} "
            f"reached your wallet ({money(row.principal, d)} borrowed, less the origination fee of "
            f"{money(row.origination_fee, d)}, which goes to the risk reserve). Installment 1 of {row.installments}, "
            f"{money(row.installment_amount, d)}, is due on {day(row.start_time + row.installment_period)}.")  # fmt: skip
