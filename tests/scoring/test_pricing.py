import pytest

from backend.scoring import policy
from backend.scoring.pricing import apr_bps, installment, max_affordable_amount, per_month, quote, risk_premium


def test_apr_is_base_plus_reserve_plus_expected_loss_over_average_life():
    # PD 10%, LGD 0.85, 23 months: average life (23 + 1) / 24 = 1 year -> premium 8.5%
    assert risk_premium(0.10, 23) == pytest.approx(0.085)
    expected = policy.BASE_RATE + policy.RESERVE_FEE + 0.085
    assert apr_bps(0.10, 23) == round(expected * 10_000)


def test_riskier_grades_pay_more_and_longer_terms_spread_the_premium():
    assert apr_bps(0.05, 36) < apr_bps(0.10, 36) < apr_bps(0.20, 36)
    assert apr_bps(0.10, 12) > apr_bps(0.10, 36) > apr_bps(0.10, 60)


def test_zero_pd_costs_base_rate_and_reserve_fee():
    assert apr_bps(0.0, 36) == round((policy.BASE_RATE + policy.RESERVE_FEE) * 10_000)


def test_the_installment_is_the_loans_own_every_30_days():
    assert installment(1200, 0.0, 12) == pytest.approx(100)
    # 12% a year is 12% x 30/365 per 30-day period, as LoanBook charges
    assert installment(10_000, 0.12, 12) == pytest.approx(887.72, abs=0.01)
    assert per_month(100) == pytest.approx(100 * 365 / 360)


@pytest.mark.parametrize(("income", "debt", "apr", "term"), [(2000, 100, 0.10, 24), (3500, 0, 0.0820, 8),
                                                             (2000, 300, 0.3594, 6), (5000, 1200, 0.05, 36)])  # fmt: skip
def test_affordability_keeps_debt_service_within_the_ratio_at_the_real_pace(income, debt, apr, term):
    """Installments fall every 30 days, 365/30 a year: counted by month that way, the loan's own
    on-chain installment plus existing debt stays within 35% of income at the limit, and one step
    more breaks it (review-pricing L1: a monthly annuity reached 35.33%)."""
    from backend.chain.loan_terms import installment_amount

    amount = max_affordable_amount(net_income=income, monthly_debt=debt, interest_apr=apr, term_months=term)
    assert amount % policy.AMOUNT_STEP == 0 and amount > 0

    def on_chain(principal: int) -> float:  # LoanBook's integer installment, in whole units, by month
        return per_month(installment_amount(principal * 10**6, round(apr * 10_000), 30 * 86_400, term) / 10**6)

    assert on_chain(amount) + debt <= policy.DEBT_SERVICE_RATIO * income
    assert on_chain(amount + policy.AMOUNT_STEP) + debt > policy.DEBT_SERVICE_RATIO * income


def test_no_income_or_debt_above_the_ratio_means_nothing_affordable():
    assert max_affordable_amount(0, 0, 0.1, 24) == 0
    assert max_affordable_amount(1000, 400, 0.1, 24) == 0


def test_affordability_is_capped_by_the_product_maximum():
    assert max_affordable_amount(1_000_000, 0, 0.1, 60) == policy.MAX_AMOUNT


def test_quote_breaks_the_price_down():
    q = quote(0.12, 5000, 36, 3000, 0).to_json()
    assert q["apr_bps"] == q["base_rate_bps"] + q["reserve_fee_bps"] + q["risk_premium_bps"]
    assert q["lgd"] == policy.LGD and q["max_amount"] > 0
