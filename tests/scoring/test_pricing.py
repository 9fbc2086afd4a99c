import pytest

from backend.scoring import policy
from backend.scoring.pricing import apr_bps, max_affordable_amount, monthly_payment, quote, risk_premium


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


def test_monthly_payment_is_the_annuity():
    assert monthly_payment(1200, 0.0, 12) == pytest.approx(100)
    assert monthly_payment(10_000, 0.12, 12) == pytest.approx(888.49, abs=0.01)


def test_affordability_keeps_debt_service_within_the_ratio():
    amount = max_affordable_amount(net_income=2000, monthly_debt=100, apr=0.10, term_months=24)
    assert amount % policy.AMOUNT_STEP == 0
    assert monthly_payment(amount, 0.10, 24) + 100 <= policy.DEBT_SERVICE_RATIO * 2000
    assert monthly_payment(amount + policy.AMOUNT_STEP, 0.10, 24) + 100 > policy.DEBT_SERVICE_RATIO * 2000


def test_no_income_or_debt_above_the_ratio_means_nothing_affordable():
    assert max_affordable_amount(0, 0, 0.1, 24) == 0
    assert max_affordable_amount(1000, 400, 0.1, 24) == 0


def test_affordability_is_capped_by_the_product_maximum():
    assert max_affordable_amount(1_000_000, 0, 0.1, 60) == policy.MAX_AMOUNT


def test_quote_breaks_the_price_down():
    q = quote(0.12, 5000, 36, 3000, 0).to_json()
    assert q["apr_bps"] == q["base_rate_bps"] + q["reserve_fee_bps"] + q["risk_premium_bps"]
    assert q["lgd"] == policy.LGD and q["max_amount"] > 0
