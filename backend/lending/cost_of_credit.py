"""The cost of credit as consumer-credit rules have a lender state it before the borrower signs,
from the loan's own cash flows (the borrower receives the principal less the origination fee at
disbursal and pays the scheduled installments, on time):

- amount financed: what the borrower receives (LoanBook's fee is `principal * feeBps / 10_000`,
  rounded down);
- total of payments: the scheduled installments;
- finance charge: the difference, the interest and the fee together;
- APR, by the actuarial method of US Regulation Z (Appendix J): the rate per installment period
  at which the payments are worth the amount financed, times the periods in a year (365 days);
- APRC, the EU Consumer Credit Directive's annual percentage rate of charge: the same flows'
  annual effective rate (their XIRR), so compounding within the year is counted.

The quoted "all-in APR" of a credit decision adds the reserve fee's yearly rate to the interest
rate; these two rates are what the cash flows actually cost, with the fee paid up front."""

from __future__ import annotations

from dataclasses import dataclass

from backend.lending.returns import YEAR, xirr

BPS = 10_000


@dataclass(frozen=True)
class CostOfCredit:
    amount_financed: int
    total_of_payments: int
    finance_charge: int
    apr_bps: int  # Regulation Z, actuarial
    aprc_bps: int  # EU CCD, annual effective


def cost_of_credit(principal: int, origination_fee_bps: int, payments: list[int], period: int) -> CostOfCredit:
    """The cost of a loan of `principal` repaid by `payments`, one per `period` seconds after disbursal."""
    financed = principal - principal * origination_fee_bps // BPS
    total = sum(payments)
    annual = xirr([(0, financed)] + [(k * period, -amount) for k, amount in enumerate(payments, start=1)]) or 0.0
    per_period = (1 + annual) ** (period / YEAR) - 1
    return CostOfCredit(amount_financed=financed, total_of_payments=total, finance_charge=total - financed,
                        apr_bps=round(per_period * YEAR / period * BPS), aprc_bps=round(annual * BPS))  # fmt: skip
