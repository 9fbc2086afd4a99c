"""Loss figures that a growing book cannot flatter (auditor finding: the lifetime rates over principal
originated count yesterday's loans in full and net off the reserve's cover):

- the **gross charge-off rate**: principal lost at default less recoveries, before the reserve's
  cover, per year of principal outstanding: Σ charge-offs / ∫ principal outstanding dt, in years;
- **matured default counts** per grade: of the loans whose last installment fell due more than
  LoanBook's default threshold (120 days) before the figures' time, so each had its whole term and
  the time to be marked defaulted, how many were (credit defaults: `defaulted_on_an_installment`), a
  count comparable with a PD.

Both read the chain index only; the grade comes from the platform's credit decisions."""

from __future__ import annotations

from collections import defaultdict

from sqlalchemy import select
from sqlalchemy.orm import Session

from backend.chain.deploy_params import DEFAULT_AFTER
from backend.chain.models import ChainEvent
from backend.chain.projection_models import LoanRow, RepaymentRow
from backend.disclosure.vintages import default_times

YEAR = 365 * 86_400


def gross_charge_off(loan: LoanRow) -> int:
    return max(0, loan.principal_outstanding - loan.recovered)


def principal_seconds(session: Session, disbursed: list[LoanRow], as_of: int) -> int:
    """∫ principal outstanding dt over the disbursed loans up to `as_of`: each loan from its
    disbursal, stepping down at each payment, until repaid, defaulted (then charged off) or `as_of`."""
    loans = [loan for loan in disbursed if loan.start_time is not None]
    steps: dict[int, list[tuple[int, int]]] = defaultdict(list)
    for loan_id, stamp, left in session.execute(
        select(RepaymentRow.loan_id, ChainEvent.block_timestamp, RepaymentRow.principal_outstanding)
        .join(ChainEvent, ChainEvent.id == RepaymentRow.event_id)
        .where(RepaymentRow.kind != "recovery", RepaymentRow.principal_outstanding.is_not(None))
        .order_by(RepaymentRow.block_number, RepaymentRow.log_index)
    ):  # fmt: skip
        steps[loan_id].append((stamp or 0, left))
    ended = default_times(session, {loan.loan_id for loan in loans if loan.status == "defaulted"})
    total = 0
    for loan in loans:
        at, level = loan.start_time, loan.principal
        for stamp, left in steps[loan.loan_id]:
            total += level * max(0, min(stamp, as_of) - at)
            at, level = max(at, min(stamp, as_of)), left
        total += level * max(0, min(ended.get(loan.loan_id, as_of), as_of) - at)
    return total


def annualised_charge_offs(session: Session, disbursed: list[LoanRow], as_of: int | None) -> tuple[int | None, float | None]:
    """(average principal outstanding since the first disbursal, gross charge-off rate a year)."""
    starts = [loan.start_time for loan in disbursed if loan.start_time is not None]
    if as_of is None or not starts or as_of <= min(starts):
        return None, None
    exposure = principal_seconds(session, disbursed, as_of)
    if not exposure:
        return None, None
    charged_off = sum(gross_charge_off(loan) for loan in disbursed if loan.status == "defaulted")
    return round(exposure / (as_of - min(starts))), charged_off * YEAR / exposure


def matured(loan: LoanRow, as_of: int | None) -> bool:
    if as_of is None or loan.start_time is None:
        return False
    last_due = loan.start_time + loan.installments * loan.installment_period
    # Strictly after, as LoanBook's markDefault (`block.timestamp > defaultableAt`): at the threshold
    # itself a loan that missed its last installment cannot be defaulted yet, so it has not run its course.
    return last_due + DEFAULT_AFTER < as_of
