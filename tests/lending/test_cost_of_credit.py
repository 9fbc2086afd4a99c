"""The cost of credit stated before signing: amount financed, finance charge, total of payments,
the actuarial APR (Regulation Z) and the annual effective APRC (EU), from the loan's cash flows."""

from __future__ import annotations

from backend.chain import loan_terms
from backend.lending.cost_of_credit import cost_of_credit
from backend.lending.returns import YEAR

MONTH = YEAR // 12
DAYS_30 = 30 * 86_400


def test_a_textbook_loan_costs_what_the_textbook_says():
    # 1,000.00 repaid by 12 monthly payments of 88.85 (1% a month's 88.8488, rounded up): an APR of
    # 12.00% and an APRC of 1.01^12 - 1 = 12.68%, a hair more for the rounding.
    cost = cost_of_credit(100_000, 0, [8_885] * 12, MONTH)
    assert (cost.amount_financed, cost.total_of_payments, cost.finance_charge) == (100_000, 106_620, 6_620)
    assert cost.apr_bps == 1_200 and cost.aprc_bps == 1_269


def test_without_a_fee_the_apr_is_the_interest_rate_and_a_fee_raises_it():
    payments = [i.amount for i in loan_terms.schedule(12_000 * 10**6, 1_200, DAYS_30, 12)]
    plain = cost_of_credit(12_000 * 10**6, 0, payments, DAYS_30)
    assert plain.apr_bps == 1_200 and plain.aprc_bps > plain.apr_bps  # compounding counted in the APRC only
    with_fee = cost_of_credit(12_000 * 10**6, 100, payments, DAYS_30)
    assert with_fee.amount_financed == 11_880 * 10**6  # LoanBook's fee: principal * 1%, rounded down
    assert with_fee.finance_charge == plain.finance_charge + 120 * 10**6
    # A 1% fee up front on a loan whose money is out for about half a year on average costs about
    # 2 points a year.
    assert 1_380 <= with_fee.apr_bps <= 1_400


def test_a_loan_at_no_interest_and_no_fee_costs_nothing():
    cost = cost_of_credit(1_200, 0, [100] * 12, DAYS_30)
    assert (cost.finance_charge, cost.apr_bps, cost.aprc_bps) == (0, 0, 0)
