"""Yield to maturity of notes at a market price: what a buyer earns a year if the loan performs.

The annual rate (an XIRR, as the portfolio's net annual return) at which paying the price now (the
latest block's time, so that two reads between blocks agree) equals
the notes' share of the loan's remaining installments, if the borrower brings the loan up to date
today and then pays every installment in full on its due date: interest on the principal
outstanding and the loan's fixed installment, the last one taking what is left, as LoanBook bills
them. Notes earn pro rata (one note is one base unit of principal funded), so the share is
`notes / principal`. Before fees or tax, and before defaults: the grade and the aging bucket say how
likely that is. Exact for a loan whose installments were each paid in full; a part-paid installment
is counted again in full, a small overstatement, and a loan paid ahead ends sooner.

The expected yield puts defaults back in: the same installments, each weighted by the chance the
loan is still paying by then, and a default's recovery weighted by the chance it defaults there.
The chance comes from the PD the loan was priced at (over its whole term) spread evenly over its
installments, so a loan with few installments left carries little of it; a default is declared
`DEFAULT_AFTER` past the missed installment and returns the principal then outstanding less the
loss given default after the reserve's cover (as the portfolio's expected loss). The PD is not
re-estimated as the loan ages: a late loan's aging bucket says more than this figure does."""

from __future__ import annotations

from backend.chain.deploy_params import DEFAULT_AFTER
from backend.chain.loan_terms import Installment, remaining_schedule
from backend.chain.projection_models import LoanRow
from backend.lending.returns import xirr


def _remaining(loan: LoanRow, paid: int, now: int) -> list[tuple[int, Installment]]:
    """The whole loan's remaining installments with the time each is paid, the overdue ones at `now`."""
    rows = remaining_schedule(loan.principal_outstanding, loan.apr_bps, loan.installment_period, loan.installments,
                              loan.installment_amount, paid)  # fmt: skip
    return [(max(now, (loan.start_time or now) + row.number * loan.installment_period), row) for row in rows]


def remaining_flows(loan: LoanRow, paid: int, now: int) -> list[tuple[int, int]]:
    """(time, amount) of the whole loan's remaining installments, the overdue ones at `now`."""
    return [(t, row.amount) for t, row in _remaining(loan, paid, now)]


def yield_to_maturity(loan: LoanRow, paid: int, now: int, notes: int, price: int) -> float | None:
    """The annual yield of paying `price` now for `notes` notes of `loan` (None: nothing left to earn)."""
    flows = [(t, amount * notes // loan.principal) for t, amount in remaining_flows(loan, paid, now)]
    return xirr([(now, -price), *flows])


def expected_flows(loan: LoanRow, paid: int, now: int, pd: float, loss_given_default: float) -> list[tuple[int, int]]:
    """(time, amount) the whole loan is expected to pay from `now`: each remaining installment times
    the chance of no default before it, and each possible default's recovery times its chance."""
    survive = (1 - pd) ** (1 / loan.installments)  # per installment, so that the whole term's is 1 - pd
    flows, alive = [], 1.0
    for t, row in _remaining(loan, paid, now):
        outstanding = row.principal + row.balance_after  # what a default at this installment leaves owed
        flows.append((t, round(alive * survive * row.amount)))
        flows.append((t + DEFAULT_AFTER, round(alive * (1 - survive) * outstanding * (1 - loss_given_default))))
        alive *= survive
    return flows


def expected_yield(loan: LoanRow, paid: int, now: int, notes: int, price: int, pd: float | None,
                   loss_given_default: float) -> float | None:  # fmt: skip
    """The annual yield of paying `price` now for `notes` notes of `loan`, defaults expected at `pd`
    (None: no PD known for the loan, or nothing left to earn)."""
    if pd is None:
        return None
    flows = [(t, amount * notes // loan.principal) for t, amount in expected_flows(loan, paid, now, pd, loss_given_default)]
    return xirr([(now, -price), *flows])
