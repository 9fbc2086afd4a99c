import math

import pytest

from backend.chain import loan_terms as lt
from backend.scoring import policy
from backend.scoring.pricing import (
    EXPECTED_CLAIMS,
    PRUDENT_CLAIMS,
    Price,
    amortised_exposure_share,
    amortised_wal_years,
    exposure_share,
    fee_cap_notes,
    installment,
    max_affordable_amount,
    on_chain_price,
    per_month,
    price,
    quote,
    reserve_fee_bps,
    risk_premium,
    uncovered_premium,
    with_policy,
)

# The policy of models before the expected-claims basis (their artifacts' copy): a flat 1% a year.
FLAT = {"base_rate": 0.05, "reserve_fee": 0.01, "lgd": 0.85, "max_apr": 0.36}
# The policy of models priced on expected claims at the mean PD over a linear principal (up to 0x0204544e...).
EXPECTED = {"base_rate": 0.05, "lgd": 0.85, "max_apr": 0.36, "reserve_fee_basis": "expected_claims",
            "reserve_cover": 0.8, "max_origination_fee_bps": 1000}  # fmt: skip
GRADE_B = (0.08014062767811497, 0.0980943265690383)  # the shipped model's grade B: mean PD, top of its band
DAY = 86_400


def brute_force_exposure(n: int, apr: float, period_days: int = 30) -> float:
    """Amortise 1 unit at `apr` x period / 365 a period with the level payment, one installment at a
    time, and average the principal outstanding when each of the n installments falls due."""
    r = apr * period_days / 365
    payment = 1 / n if r == 0 else r / (1 - (1 + r) ** -n)
    balance, shares = 1.0, []
    for _ in range(n):
        shares.append(balance)
        balance -= payment - balance * r
    assert abs(balance) < 1e-9  # it amortised
    return sum(shares) / n


def loanbook_exposure(n: int, apr_bps: int, principal: int = 10**12) -> float:
    """The same from LoanBook's own integer schedule (its Python mirror, tested against the contract
    in tests/contracts/test_loan_book_servicing.py)."""
    rows = lt.schedule(principal, apr_bps, 30 * DAY, n)
    return (principal + sum(row.balance_after for row in rows[:-1])) / n / principal


def test_the_exposure_at_default_is_the_average_principal_outstanding():
    """Defaults equally likely at any of n installments of a linearly amortizing schedule: the
    principal outstanding at installment k is (n - k + 1) / n, whose mean is (n + 1) / (2n)."""
    for n in (1, 6, 12, 60):
        assert exposure_share(n) == pytest.approx(sum((n - k + 1) / n for k in range(1, n + 1)) / n)
    assert exposure_share(12) == pytest.approx(13 / 24) and exposure_share(1) == 1


def test_one_installment_leaves_the_whole_principal_outstanding_at_default():
    assert amortised_exposure_share(1, 0.07, 30) == 1.0 and amortised_exposure_share(1, 0.0, 30) == 1.0


@pytest.mark.parametrize("n", [1, 2, 6, 7, 12, 36, 60])
@pytest.mark.parametrize("apr", [0.0, 0.05, 0.0685, 0.12, 0.36])
def test_the_exposure_is_the_level_payment_schedules_own(n, apr):
    """Defaults equally likely at any of n installments: the mean principal outstanding when each falls
    due, from the schedule amortised at the on-chain rate per 30-day period, not a straight line."""
    exact = amortised_exposure_share(n, apr, 30)
    assert exact == pytest.approx(brute_force_exposure(n, apr), abs=1e-12)
    assert exact == pytest.approx(loanbook_exposure(n, round(apr * 10_000)), abs=1e-9)
    assert exact >= exposure_share(n) - 1e-12  # a level payment repays principal slower than a line
    # the weighted average life is the same schedule's mean balance over its n periods
    assert amortised_wal_years(n, apr, 30) == pytest.approx(exact * n * 30 / 365)


def test_the_linear_approximation_understated_a_long_loans_exposure():
    """review 2026-12-01 M2: at 60 months and about 5% the mean share is 0.529, not (n + 1) / 2n = 0.508."""
    assert amortised_exposure_share(60, 0.05, 30) == pytest.approx(0.529, abs=5e-4)
    assert exposure_share(60) == pytest.approx(0.508, abs=5e-4)


def test_the_prudent_fee_is_the_claim_at_the_top_of_the_grades_band_on_the_exact_schedule():
    """The reserve fee is PD_fee x cover x the schedule's exact exposure, rounded up to a basis point:
    the reserve's claim at the prudent PD equals it to within that rounding; the interest APR is the
    base + the mean PD's uncovered loss over the exact weighted average life."""
    pricing = policy.snapshot()["pricing"]
    assert pricing["reserve_fee_basis"] == PRUDENT_CLAIMS
    mean, top = GRADE_B
    for n in (6, 12, 36, 60):
        p = price(mean, n, pricing, fee_pd=top, period_days=30)
        interest = p.interest_apr_bps / 10_000
        e = amortised_exposure_share(n, interest, 30)
        wal = amortised_wal_years(n, interest, 30)
        assert p.interest_apr_bps == math.ceil(round(10_000 * (0.05 + mean * (0.85 - 0.80) * e / wal), 6))
        claim_bps = 10_000 * top * 0.80 * e
        assert claim_bps <= p.origination_fee_bps < claim_bps + 1
        assert p.apr_bps == math.ceil(round(p.interest_apr_bps + p.origination_fee_bps / wal, 6))
        assert p.basis == PRUDENT_CLAIMS
    assert price(mean, 12, pricing, fee_pd=top, period_days=30) == Price(1338, 541, 429, PRUDENT_CLAIMS)


def test_the_margin_is_the_band_top_over_the_mean_and_the_fee_needs_it():
    """The fee is priced at the prudent PD, not the mean: grade B over 36 months pays 4.14%, where the
    mean PD's claim on the same schedule would be 3.38%. A prudent basis without the PD to price at is
    refused, not priced at the mean."""
    mean, top = GRADE_B
    prudent = price(mean, 36, fee_pd=top, period_days=30)
    at_mean = price(mean, 36, fee_pd=mean, period_days=30)
    assert (prudent.origination_fee_bps, at_mean.origination_fee_bps) == (414, 338)
    assert prudent.interest_apr_bps == at_mean.interest_apr_bps  # investors' premium stays at the mean PD
    with pytest.raises(ValueError, match="fee_pd"):
        price(mean, 36)


def test_a_decision_under_the_expected_claims_basis_prices_as_it_did():
    """Models up to 0x0204544e... priced the fee at the mean PD over a linear principal: grade B over 12
    months 11.84% quoted, 5.41% interest and a 3.48% fee, whatever fee_pd is passed."""
    mean, top = GRADE_B
    assert price(mean, 12, EXPECTED) == price(mean, 12, EXPECTED, fee_pd=top) == Price(1184, 541, 348, EXPECTED_CLAIMS)


def test_the_reserve_fee_is_the_reserves_expected_claim_rounded_up():
    # PD 10%, 80% cover, 12 months: 0.10 x 0.80 x 13/24 = 4.3333...% -> 434 bps (up, never short)
    assert reserve_fee_bps(0.10, 12, 0.80) == 434
    assert reserve_fee_bps(0.25, 1, 0.80) == 2000  # 0.25 x 0.8 x 1 = 20.00% exactly: not 2001
    assert reserve_fee_bps(0.0, 36, 0.80) == 0


def test_investors_premium_is_the_uncovered_loss_over_the_term():
    # PD 10%, LGD 0.85, cover 0.80: 0.5% of principal lost after cover over e(n) x principal, spread
    # over the weighted average life: 0.005 x e(n) / WAL = 0.005 x 12 / n a year
    assert uncovered_premium(0.10, 12, 0.80) == pytest.approx(0.005)
    assert uncovered_premium(0.10, 24, 0.80) == pytest.approx(0.0025)
    n = 36
    wal = (n + 1) / 24
    assert uncovered_premium(0.10, n, 0.80) * wal == pytest.approx(0.10 * (0.85 - 0.80) * exposure_share(n))


def test_the_expected_claims_price_split_into_interest_and_the_reserve_fee():
    """Models up to 0x0204544e...: interest APR = base + uncovered premium, rounded up; the quoted APR
    adds the fee as a yearly rate over the weighted average life, rounded up. Grade B's pricing PD, by hand."""
    pd_ = 0.08014062767811497
    for term, (quoted, interest, fee) in {12: (1184, 541, 348), 36: (729, 514, 330), 60: (638, 509, 326)}.items():
        assert math.ceil(10_000 * (0.05 + pd_ * 0.05 * 12 / term)) == interest
        assert math.ceil(10_000 * pd_ * 0.80 * (term + 1) / (2 * term)) == fee
        assert math.ceil(interest + fee * 24 / (term + 1)) == quoted
        assert price(pd_, term, EXPECTED) == Price(quoted, interest, fee, EXPECTED_CLAIMS)


def test_models_before_the_expected_claims_basis_keep_the_flat_fee():
    # PD 10%, LGD 0.85, 23 months: average life (23 + 1) / 24 = 1 year -> premium 8.5%
    assert risk_premium(0.10, 23) == pytest.approx(0.085)
    old = price(0.10, 23, FLAT)
    assert old.apr_bps == round((policy.BASE_RATE + 0.01 + 0.085) * 10_000) and old.basis is None
    assert old.interest_apr_bps == old.apr_bps - 100 and old.origination_fee_bps == 100  # 1% x 1 year
    assert price(0.08014062767811497, 12, FLAT).apr_bps == 1858  # grade B over 12 months, as the README said


def test_riskier_grades_pay_more_and_longer_terms_spread_the_premium():
    def p(pd_, n):
        return price(pd_, n, fee_pd=pd_ * 1.2)

    assert p(0.05, 36).apr_bps < p(0.10, 36).apr_bps < p(0.20, 36).apr_bps
    assert p(0.10, 12).apr_bps > p(0.10, 36).apr_bps > p(0.10, 60).apr_bps
    assert p(0.05, 36).origination_fee_bps < p(0.10, 36).origination_fee_bps


def test_zero_pd_costs_the_base_rate_and_no_fee():
    base = round(policy.BASE_RATE * 10_000)
    assert price(0.0, 36, fee_pd=0.0) == Price(base, base, 0, PRUDENT_CLAIMS)


def test_a_fee_above_the_contracts_limit_declines_whatever_the_score_said():
    pricing = policy.snapshot()["pricing"]
    assert pricing["max_origination_fee_bps"] == 1_000 and pricing["reserve_cover"] == 0.80
    assert fee_cap_notes(1_000, pricing) == []
    notes = fee_cap_notes(1_001, pricing)
    assert notes == ["reserve fee above the contract's limit: 10.01% of the amount, the loan contract takes at most 10.00%"]
    assert with_policy("approve", notes) == with_policy("refer", notes) == "decline"
    assert fee_cap_notes(5_000, FLAT) == []  # models before the rule had none


def test_today_grade_e_is_above_the_limit_at_every_term_and_grade_d_only_at_6_and_7_months():
    """At the top of its band (31.9%) grade E needs 13.44% at its cheapest term; D's (21.8%) is above
    the 10% cap at 6 and 7 months (10.22%, 10.02%), which are declined, and at most 9.87% from 8 on.
    A to C stay well under it at every term. Under the expected-claims basis (models up to 0x0204544e...)
    E was above it at every term (11.04% at least) and D at none (8.52% at most)."""
    from backend.scoring.scorer import get_scorer

    scorer = get_scorer()
    rules = scorer.artifact["policy"]
    assert rules["pricing"]["reserve_fee_basis"] == PRUDENT_CLAIMS

    def fee(g, t):
        band = scorer.grade_band(g)
        return price(band.pd_mean_oof, t, rules["pricing"], fee_pd=band.pd_high,
                     period_days=rules["product"]["installment_period_days"]).origination_fee_bps  # fmt: skip

    fees = {g: {t: fee(g, t) for t in range(6, 61)} for g in "ABCDE"}
    cap = rules["pricing"]["max_origination_fee_bps"]
    assert {(g, t) for g in "ABCD" for t, f in fees[g].items() if f > cap} == {("D", 6), ("D", 7)}
    assert (fees["D"][6], fees["D"][7], fees["D"][8]) == (1022, 1002, 987) and min(fees["E"].values()) == 1344
    assert max(fees["A"].values()) == 279 and max(fees["B"].values()) == 460 and max(fees["C"].values()) == 695
    old = {g: [price(scorer.grade_band(g).pd_mean_oof, t, EXPECTED).origination_fee_bps for t in range(6, 61)]
           for g in "DE"}  # fmt: skip
    assert min(old["E"]) == 1104 and max(old["D"]) == 852


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
    q = quote(0.12, 5000, 36, 3000, 0, fee_pd=0.15).to_json()
    assert q["apr_bps"] == q["base_rate_bps"] + q["reserve_fee_bps"] + q["risk_premium_bps"]
    assert q["interest_apr_bps"] == q["base_rate_bps"] + q["risk_premium_bps"]
    e = amortised_exposure_share(36, q["interest_apr_bps"] / 10_000, 30)
    assert q["origination_fee_bps"] == math.ceil(round(10_000 * 0.15 * 0.80 * e, 6))
    assert q["reserve_fee_basis"] == PRUDENT_CLAIMS
    assert q["lgd"] == policy.LGD and q["max_amount"] > 0
    assert on_chain_price(q, 36) == (q["interest_apr_bps"], q["origination_fee_bps"])


def test_an_older_models_quote_keeps_its_keys_and_its_flat_fee_on_chain():
    q = quote(0.12, 5000, 36, 3000, 0, pricing=FLAT).to_json()
    assert set(q) == {"apr_bps", "base_rate_bps", "reserve_fee_bps", "risk_premium_bps", "lgd", "monthly_payment",
                      "max_amount"}  # fmt: skip
    assert q["reserve_fee_bps"] == 100
    assert on_chain_price(q, 36) == (q["apr_bps"] - 100, math.ceil(100 * 37 / 24))


def test_affordability_counts_the_interest_apr_not_the_quote():
    """The fee is taken from the disbursal, not repaid: the installment is at the interest APR."""
    q = quote(0.12, 5000, 36, 3000, 0, fee_pd=0.15)
    assert q.monthly_payment == round(installment(5000, q.interest_apr_bps / 10_000, 36), 2)


def test_the_amount_rule_probes_both_sides_of_every_amount_bin_edge_below_the_amount():
    """review-fraud H4: with `bin_edges`, the credit_amount splits and the monthly_amount splits
    times the term, each as the lowest whole amount of its bin and the highest of the one beneath,
    below the amount and not under the product minimum; the 5% probe is kept. Without it (models
    before), the 5% probe alone."""
    from backend.scoring.pricing import probe_amounts

    features = [{"name": "credit_amount", "splits": [1387.0, 3446.5, 3913.5]},
                {"name": "monthly_amount", "splits": [20.0, 286.79]},
                {"name": "duration_in_month", "splits": [11.5]}]  # fmt: skip
    old = {"probe": 0.05, "grade_jump": 2}
    assert probe_amounts(3800, 12, old, features) == [3610]
    assert probe_amounts(3800, 12, {**old, "bin_edges": True}, features) == [1386, 1387, 3441, 3442, 3446, 3447, 3610]
    assert probe_amounts(260, 12, {**old, "bin_edges": True}, features) == [250]  # 240/241 are below the minimum
