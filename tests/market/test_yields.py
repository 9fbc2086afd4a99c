"""Yield to maturity of notes at a price: at face value on a loan paid as billed, it is the loan's own
rate compounded over its period; a discount raises it, a premium lowers it; paying on schedule
after installments were paid changes nothing; a loan paid off early or with nothing left has none. The expected yield weighs defaults in: none
expected, it is the yield to maturity; more expected, or more lost in one, it is lower."""

from __future__ import annotations

import pytest

from backend.chain.deploy_params import DEFAULT_AFTER
from backend.chain.loan_terms import installment_amount, schedule
from backend.chain.projection_models import LoanRow
from backend.disclosure.reserve import loss_after_cover
from backend.market.yields import expected_flows, expected_yield, fair_value, remaining_flows, yield_to_maturity
from backend.scoring.artifact import load_artifact
from backend.scoring.grade_pd import priced_pd
from backend.servicing.roll_rates import PRIOR, remaining_share

DAY, UNIT = 86_400, 10**6
START = 1_800_000_000
PRINCIPAL, APR, PERIOD, N = 12_000 * UNIT, 1_200, 30 * DAY, 12
RATE = (1 + APR / 10_000 * PERIOD / (365 * DAY)) ** (365 * DAY / PERIOD) - 1  # 12% APR, 30-day periods: 12.68%


def _loan(paid: int = 0) -> LoanRow:
    rows = schedule(PRINCIPAL, APR, PERIOD, N)
    outstanding = rows[paid - 1].balance_after if paid else PRINCIPAL
    return LoanRow(loan_id=1, principal=PRINCIPAL, apr_bps=APR, installments=N, installment_period=PERIOD,
                   installment_amount=installment_amount(PRINCIPAL, APR, PERIOD, N), principal_outstanding=outstanding,
                   start_time=START, last_installment=paid)  # fmt: skip


def test_at_face_value_the_yield_is_the_loans_own_rate_compounded():
    loan = _loan()
    assert yield_to_maturity(loan, 0, START, PRINCIPAL, PRINCIPAL) == pytest.approx(RATE, abs=1e-6)
    notes = 1_000 * UNIT  # any fraction of the loan earns the same
    assert yield_to_maturity(loan, 0, START, notes, notes) == pytest.approx(RATE, abs=1e-5)


def test_a_discount_raises_the_yield_and_a_premium_lowers_it():
    loan, notes = _loan(), 3_000 * UNIT
    at = {bps: yield_to_maturity(loan, 0, START, notes, notes * bps // 10_000) for bps in (9_000, 9_500, 10_000, 10_500)}
    assert at[9_000] > at[9_500] > at[10_000] > at[10_500] > 0
    assert at[10_000] == pytest.approx(RATE, abs=1e-5)


def test_after_installments_paid_on_schedule_the_outstanding_principal_earns_the_same():
    loan = _loan(paid=3)
    now, share = START + 3 * PERIOD, loan.principal_outstanding // 4
    assert [t for t, _ in remaining_flows(loan, 3, now)] == [START + k * PERIOD for k in range(4, N + 1)]
    assert yield_to_maturity(loan, 3, now, PRINCIPAL // 4, share) == pytest.approx(RATE, abs=1e-5)


def test_overdue_installments_count_as_paid_now_and_nothing_left_has_no_yield():
    loan = _loan(paid=3)
    late = START + 5 * PERIOD + 10 * DAY  # installments 4 and 5 are overdue
    flows = remaining_flows(loan, 3, late)
    assert [t for t, _ in flows[:3]] == [late, late, START + 6 * PERIOD]
    done = _loan(paid=N)
    assert done.principal_outstanding == 0 and remaining_flows(done, N, START) == []
    assert yield_to_maturity(done, N, START, UNIT, UNIT) is None


def test_with_no_default_expected_the_expected_yield_is_the_yield_to_maturity():
    loan, notes = _loan(), 3_000 * UNIT
    price = notes * 9_500 // 10_000
    assert expected_yield(loan, 0, START, notes, price, 0.0, 0.85) == pytest.approx(
        yield_to_maturity(loan, 0, START, notes, price), abs=1e-6)
    assert expected_yield(loan, 0, START, notes, price, None, 0.85) is None  # no PD known: no figure


def test_defaults_lower_the_expected_yield_by_the_chance_and_the_loss():
    loan, notes = _loan(), PRINCIPAL
    at = {(pd, loss): expected_yield(loan, 0, START, notes, notes, pd, loss)
          for pd in (0.05, 0.2) for loss in (0.0, 0.85)}  # fmt: skip
    assert RATE > at[0.05, 0.0] > at[0.05, 0.85] > at[0.2, 0.85]
    assert at[0.05, 0.0] > at[0.2, 0.0] > at[0.2, 0.85]
    # Losing nothing, a default only delays principal: the yield falls a little, not by the PD.
    assert RATE - at[0.2, 0.0] < 0.02 < RATE - at[0.2, 0.85]


def test_the_expected_flows_add_up_to_the_pd_spread_over_the_installments():
    loan, pd = _loan(), 0.2
    flows = expected_flows(loan, 0, START, pd, 1.0)  # all lost in a default: only installments come back
    paid = [a for _, a in flows[0::2]]
    assert all(a == 0 for _, a in flows[1::2])
    # The last installment comes with the chance of no default over the whole term.
    assert paid[-1] == pytest.approx((1 - pd) * schedule(PRINCIPAL, APR, PERIOD, N)[-1].amount, rel=1e-9)
    recovered = expected_flows(loan, 0, START, pd, 0.0)[1::2]  # nothing lost: the principal comes back late
    assert recovered[0] == (START + PERIOD + DEFAULT_AFTER, round((1 - (1 - pd) ** (1 / N)) * PRINCIPAL))


def test_a_late_loan_defaults_on_the_installment_it_is_behind_on_at_its_roll_rate():
    loan, pd, late_rate = _loan(), 0.05, 0.5
    flows = expected_flows(loan, 0, START, pd, 1.0, late_rate)
    first = schedule(PRINCIPAL, APR, PERIOD, N)[0].amount
    assert flows[0][1] == round((1 - late_rate) * first)  # half the chance it pays the one it is behind on
    on_time = expected_flows(loan, 0, START, pd, 1.0)
    # After that one, the same per-installment hazard as a loan on time, from a smaller survivor.
    assert flows[2][1] / on_time[2][1] == pytest.approx((1 - late_rate) / (1 - pd) ** (1 / N), rel=1e-6)
    assert expected_yield(loan, 0, START, PRINCIPAL, PRINCIPAL, pd, 0.85, late_rate) < expected_yield(
        loan, 0, START, PRINCIPAL, PRINCIPAL, pd, 0.85)


def test_the_fair_value_is_the_price_at_which_the_expected_yield_is_the_loans_own_rate():
    loan, notes = _loan(), 3_000 * UNIT
    assert fair_value(loan, 0, START, notes, 0.0, 0.85) == pytest.approx(notes, abs=notes * 1e-6)  # no default: face
    assert fair_value(loan, 0, START, notes, None, 0.85) is None
    fair = fair_value(loan, 0, START, notes, 0.05, 0.85)
    assert fair < notes and expected_yield(loan, 0, START, notes, fair, 0.05, 0.85) == pytest.approx(RATE, abs=1e-4)
    late = fair_value(loan, 0, START, notes, 0.05, 0.85, late_rate=0.5)
    assert late < fair and expected_yield(loan, 0, START, notes, late, 0.05, 0.85, 0.5) == pytest.approx(RATE, abs=1e-4)
    halfway = _loan(paid=6)  # on a due date, half paid: worth its principal outstanding share
    share = halfway.principal_outstanding * notes // PRINCIPAL
    assert fair_value(halfway, 6, START + 6 * PERIOD, notes, 0.0, 0.85) == pytest.approx(share, abs=share * 1e-6)


def test_the_readmes_examples():
    """The README's figures (`pytest tests/market/test_yields.py -k readme`). The fair price's PD is
    that of the sample application's grade (A, 3.9%), which priced its loan and which investors are
    shown; `tests/servicing/test_roll_rates.py` makes that loan 20 days late on the chain."""
    loan = _loan()
    at_face = {cover: expected_yield(loan, 0, START, PRINCIPAL, PRINCIPAL, 0.03, loss_after_cover(cover, cover))
               for cover in (None, 0.5)}  # fmt: skip
    assert round(at_face[None], 3) == 0.097 and round(RATE, 3) == 0.127
    assert round(at_face[0.5], 3) == 0.114  # half a default's principal covered: 35% of it lost, not 42.5%
    grade_a = priced_pd(load_artifact()["model_version"], "A")
    assert round(grade_a, 3) == 0.039
    late = fair_value(loan, 0, START + PERIOD + 20 * DAY, PRINCIPAL, grade_a, loss_after_cover(0.8, 0.8), late_rate=0.5)
    assert round(late / PRINCIPAL, 3) == 0.967
    late_pd = PRIOR["late_16_30"] + (1 - PRIOR["late_16_30"]) * remaining_share(grade_a, N, N - 1)
    assert round(late_pd, 2) == 0.52  # its PD now, 20 days late before any episode has resolved


def test_a_late_loans_default_is_dated_at_its_defaultable_at_so_its_fair_value_rises_towards_it():
    """LoanBook may mark a default DEFAULT_AFTER past the oldest unpaid due date (`defaultableAt`),
    and the reserve's cover comes with it: the later the loan, the nearer that date, the more its
    notes are worth (with the same chance of default); once past it, the default may come now."""
    loan, due = _loan(), START + PERIOD  # installment 1 unpaid
    flows = expected_flows(loan, 0, due + 60 * DAY, 0.03, 0.05, late_rate=0.9)
    assert flows[0][0] == due + 60 * DAY and flows[1][0] == due + DEFAULT_AFTER  # paid now, or defaulted then
    assert flows[3][0] == START + 2 * PERIOD + DEFAULT_AFTER  # the next installment's, from its own due date
    past = due + DEFAULT_AFTER + 5 * DAY
    assert expected_flows(loan, 0, past, 0.03, 0.05, late_rate=0.9)[1][0] == past
    # A 12-month 12% loan, PD 3%, 5% of a default's principal lost after cover, a late rate of 90%.
    worth = [fair_value(loan, 0, due + days * DAY, PRINCIPAL, 0.03, 0.05, late_rate=0.9) / PRINCIPAL
             for days in (20, 60, 100)]  # fmt: skip
    assert [round(w, 4) for w in worth] == [0.9289, 0.9410, 0.9530]
