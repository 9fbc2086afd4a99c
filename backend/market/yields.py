"""Yield to maturity of notes at a market price: what a buyer earns a year if the loan performs.

The annual rate (an XIRR, as the portfolio's net annual return) at which paying the price now (the
latest block's time, so that two reads between blocks agree) equals
the notes' share of the loan's remaining installments, if the borrower brings the loan up to date
today and then pays every installment in full on its due date: interest on the principal
outstanding and the loan's fixed installment, the last one taking what is left, as LoanBook bills
them. Notes earn pro rata (one note is one base unit of principal funded), so the share is
`notes / principal`. Before fees or tax, and before defaults: the grade and the aging bucket say how
likely that is. Exact for a loan whose installments were each paid in full; a part-paid installment
is counted again in full, a small overstatement, and a loan paid ahead ends sooner."""

from __future__ import annotations

from backend.chain.loan_terms import remaining_schedule
from backend.chain.projection_models import LoanRow
from backend.lending.returns import xirr


def remaining_flows(loan: LoanRow, paid: int, now: int) -> list[tuple[int, int]]:
    """(time, amount) of the whole loan's remaining installments, the overdue ones at `now`."""
    rows = remaining_schedule(loan.principal_outstanding, loan.apr_bps, loan.installment_period, loan.installments,
                              loan.installment_amount, paid)  # fmt: skip
    return [(max(now, (loan.start_time or now) + row.number * loan.installment_period), row.amount) for row in rows]


def yield_to_maturity(loan: LoanRow, paid: int, now: int, notes: int, price: int) -> float | None:
    """The annual yield of paying `price` now for `notes` notes of `loan` (None: nothing left to earn)."""
    flows = [(t, amount * notes // loan.principal) for t, amount in remaining_flows(loan, paid, now)]
    return xirr([(now, -price), *flows])
