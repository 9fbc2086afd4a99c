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
installments, so a loan with few installments left carries little of it; a late loan defaults on
the installment it is behind on at its aging bucket's roll rate instead (`servicing.roll_rates`,
as the portfolio's PD now). A default is declared `DEFAULT_AFTER` past the missed installment's due
date (a late loan's at LoanBook's `defaultableAt`, however late it is now; once past it, now) and
returns the principal then outstanding less the loss given default after the reserve's cover (as
the portfolio's expected loss).

The fair value discounts those expected flows at the loan's own rate: the price at which a buyer
expects to earn what the borrower pays, a reference for a seller's or a bidder's price."""

from __future__ import annotations

from backend.chain.deploy_params import DEFAULT_AFTER
from backend.chain.loan_terms import YEAR, Installment, remaining_schedule
from backend.chain.projection_models import LoanRow
from backend.lending.returns import xirr


def _due(loan: LoanRow, row: Installment, now: int) -> int:
    return (loan.start_time or now) + row.number * loan.installment_period


def _remaining(loan: LoanRow, paid: int, now: int) -> list[tuple[int, Installment]]:
    """The whole loan's remaining installments with the time each is paid, the overdue ones at `now`."""
    rows = remaining_schedule(loan.principal_outstanding, loan.apr_bps, loan.installment_period, loan.installments,
                              loan.installment_amount, paid)  # fmt: skip
    return [(max(now, _due(loan, row, now)), row) for row in rows]


def remaining_flows(loan: LoanRow, paid: int, now: int) -> list[tuple[int, int]]:
    """(time, amount) of the whole loan's remaining installments, the overdue ones at `now`."""
    return [(t, row.amount) for t, row in _remaining(loan, paid, now)]


def yield_to_maturity(loan: LoanRow, paid: int, now: int, notes: int, price: int) -> float | None:
    """The annual yield of paying `price` now for `notes` notes of `loan` (None: nothing left to earn)."""
    flows = [(t, amount * notes // loan.principal) for t, amount in remaining_flows(loan, paid, now)]
    return xirr([(now, -price), *flows])


def expected_flows(loan: LoanRow, paid: int, now: int, pd: float, loss_given_default: float,
                   late_rate: float | None = None) -> list[tuple[int, int]]:  # fmt: skip
    """(time, amount) the whole loan is expected to pay from `now`: each remaining installment times
    the chance of no default before it, and each possible default's recovery times its chance; a
    late loan defaults on the installment it is behind on with chance `late_rate`."""
    hazard = (1 - pd) ** (1 / loan.installments)  # per installment, so that the whole term's is 1 - pd
    flows, alive = [], 1.0
    for i, (t, row) in enumerate(_remaining(loan, paid, now)):
        survive = 1 - late_rate if i == 0 and late_rate is not None else hazard
        outstanding = row.principal + row.balance_after  # what a default at this installment leaves owed
        # Declared DEFAULT_AFTER past the installment's due date (LoanBook's `defaultableAt` for the
        # one behind), not past `now`: a late loan's default, and the reserve's cover, come nearer
        # each day it stays late; once past, it may be declared at any moment.
        defaults_at = max(now, _due(loan, row, now) + DEFAULT_AFTER)
        flows.append((t, round(alive * survive * row.amount)))
        flows.append((defaults_at, round(alive * (1 - survive) * outstanding * (1 - loss_given_default))))
        alive *= survive
    return flows


def expected_yield(loan: LoanRow, paid: int, now: int, notes: int, price: int, pd: float | None,
                   loss_given_default: float, late_rate: float | None = None) -> float | None:  # fmt: skip
    """The annual yield of paying `price` now for `notes` notes of `loan`, defaults expected at `pd`
    and, when late, `late_rate` on the installment behind (None: no PD known, or nothing left to earn)."""
    if pd is None:
        return None
    flows = [(t, amount * notes // loan.principal)
             for t, amount in expected_flows(loan, paid, now, pd, loss_given_default, late_rate)]  # fmt: skip
    return xirr([(now, -price), *flows])


def fair_value(loan: LoanRow, paid: int, now: int, notes: int, pd: float | None, loss_given_default: float,
               late_rate: float | None = None) -> int | None:  # fmt: skip
    """What `notes` notes of `loan` are worth now: their expected flows (as `expected_yield`'s)
    discounted at the loan's own rate, so the price at which the buyer's expected yield is what the
    borrower pays. A loan no one expects to default is worth its principal outstanding on a due
    date; the chance of a default, and more so a late loan's, takes off what it is expected to
    cost (None: no PD known)."""
    if pd is None:
        return None
    growth = 1 + loan.apr_bps / 10_000 * loan.installment_period / YEAR  # one period at the loan's rate
    flows = expected_flows(loan, paid, now, pd, loss_given_default, late_rate)
    return int(sum(amount * notes // loan.principal / growth ** ((t - now) / loan.installment_period)
                   for t, amount in flows))  # fmt: skip
