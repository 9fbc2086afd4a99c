"""Roll rates: how late episodes resolve, the estimate's shrinkage towards the prior and its rise
bucket by bucket, and a loan's PD from where it stands. The servicing tests check the same figures
against a loan that defaults and one that catches up on the chain."""

from __future__ import annotations

import pytest

from backend.chain.projection_models import LoanRow
from backend.db.session import session_scope
from backend.scoring.grade_pd import priced_pd
from backend.scoring.policy import LGD
from backend.scoring.schemas import ApplicationCreate
from backend.scoring.service import score_application
from backend.servicing.roll_rates import (
    LATE_BUCKETS,
    PRIOR,
    PRIOR_EPISODES,
    Episode,
    estimate,
    outcomes,
    pd_now,
    remaining_share,
)
from backend.servicing.schemas import ServicingPublic
from backend.servicing.service import servicing_pass
from tests.identity.conftest import client_for, minted_bearer
from tests.scoring.conftest import SAMPLE
from tests.servicing.conftest import index

GRACE, LATE_16_30, LATE_31_120, DEFAULTABLE = range(4)
DAY = 86_400


def _loan(loan_id: int, status: str, installments: int = 12, paid: int = 0, touched: int | None = None) -> LoanRow:
    """`paid` installments settled, the last payment towards `touched` (by default the last settled)."""
    return LoanRow(loan_id=loan_id, status=status, installments=installments, installments_settled=paid,
                   last_installment=paid if touched is None else touched)  # fmt: skip


def _standing(bucket: str, paid: int) -> ServicingPublic:
    return ServicingPublic(bucket=bucket, days_past_due=0, installments_paid=paid, due_now=0, payoff=0,
                           next_due_date=0, defaultable_at=0, as_of=0)  # fmt: skip


def test_with_no_late_loan_resolved_the_prior_is_the_estimate():
    rates = estimate([])
    assert list(rates) == list(LATE_BUCKETS)
    assert {b: (r.episodes, r.defaulted, r.rate) for b, r in rates.items()} == {b: (0, 0, PRIOR[b]) for b in LATE_BUCKETS}


def test_episodes_count_for_every_bucket_they_reached_and_the_book_pulls_the_prior_its_way():
    cured_in_grace = [(Episode(i, 1, GRACE), False) for i in range(30)]
    defaulted = [(Episode(100 + i, 1, DEFAULTABLE), True) for i in range(10)]
    rates = estimate(cured_in_grace + defaulted)
    grace = rates["grace"]
    assert (grace.episodes, grace.defaulted) == (40, 10)
    assert grace.rate == pytest.approx((10 + PRIOR["grace"] * PRIOR_EPISODES) / (40 + PRIOR_EPISODES))
    late = rates["late_31_120"]  # only the defaulted ones got this far
    assert (late.episodes, late.defaulted) == (10, 10)
    assert late.rate == pytest.approx((10 + PRIOR["late_31_120"] * PRIOR_EPISODES) / (10 + PRIOR_EPISODES))


def test_a_later_bucket_is_never_estimated_safer_than_an_earlier_one():
    # Defaults the servicing pass last saw in their grace period (declared before its next pass)
    # and cures after a month late: the raw 16-30 rate would fall under grace's, but a loan
    # further behind is not less likely to default.
    resolved = [(Episode(i, 1, GRACE), True) for i in range(10)] + [(Episode(100 + i, 1, LATE_31_120), False)
                                                                  for i in range(10)]  # fmt: skip
    rates = estimate(resolved)
    raw = (0 + PRIOR["late_16_30"] * PRIOR_EPISODES) / (10 + PRIOR_EPISODES)
    assert raw < rates["grace"].rate == rates["late_16_30"].rate < rates["late_31_120"].rate


def test_an_episode_resolves_as_a_cure_once_paid_and_as_a_default_when_the_loan_defaulted_on_it():
    found = [
        Episode(1, 2, LATE_16_30),  # repaid later: cured
        Episode(2, 1, GRACE), Episode(2, 4, LATE_31_120),  # defaulted on 4: 1 cured, 4 defaulted
        Episode(3, 3, GRACE),  # active, paid installment 3 since: cured
        Episode(4, 5, LATE_16_30),  # active, still behind on it: open, left out
        Episode(5, 1, GRACE),  # a loan not in the index: left out
        Episode(6, 1, GRACE), Episode(6, 2, GRACE),  # defaulted on 3, which no pass saw late: both cured
        Episode(8, 2, GRACE),  # defaulted on 2 while a pass last saw it in grace
    ]
    loans = {1: _loan(1, "repaid"), 2: _loan(2, "defaulted", paid=3), 3: _loan(3, "active"), 4: _loan(4, "active"),
             6: _loan(6, "defaulted", paid=2), 7: _loan(7, "defaulted", paid=0), 8: _loan(8, "defaulted", paid=1)}  # fmt: skip
    aging = {3: _standing("current", 3), 4: _standing("late_16_30", 4)}
    resolved = outcomes(found, loans, aging)
    assert [((e.loan_id, e.installment, e.worst), defaulted) for e, defaulted in resolved] == [
        ((1, 2, LATE_16_30), False), ((2, 1, GRACE), False), ((2, 4, DEFAULTABLE), True), ((3, 3, GRACE), False),
        ((6, 1, GRACE), False), ((6, 2, GRACE), False), ((8, 2, DEFAULTABLE), True),
        # Defaults no pass saw late: the installment after the last paid, through every bucket.
        ((6, 3, DEFAULTABLE), True), ((7, 1, DEFAULTABLE), True)]
    rates = estimate(resolved)
    assert all(rate.defaulted == 4 for rate in rates.values())  # every default reached every bucket


def test_a_part_payment_before_the_default_is_no_cure():
    # The review's M2: loan 7 settled 2 installments, fell behind on 3, paid part of it in
    # collections (a payment towards 3) and was declared in default on it.
    found = [Episode(7, 3, DEFAULTABLE)]
    resolved = outcomes(found, {7: _loan(7, "defaulted", paid=2, touched=3)}, {})
    assert [((e.loan_id, e.installment, e.worst), defaulted) for e, defaulted in resolved] == [((7, 3, DEFAULTABLE), True)]
    # The review's book: 40 such defaults and 40 loans cured in grace and repaid. By hand, with 20
    # prior episodes: grace (40 + 0.20 x 20) / (80 + 20) = 0.44, each later bucket (40 + prior x 20) /
    # (40 + 20): 0.833, 0.917, 0.983 (published before: 0.314, 0.50, 0.55, 0.59).
    book = [Episode(i, 3, DEFAULTABLE) for i in range(40)] + [Episode(100 + i, 1, GRACE) for i in range(40)]
    loans = {i: _loan(i, "defaulted", paid=2, touched=3) for i in range(40)}
    loans |= {100 + i: _loan(100 + i, "repaid", paid=12) for i in range(40)}
    rates = {b: round(r.rate, 3) for b, r in estimate(outcomes(book, loans, {})).items()}
    assert rates == {"grace": 0.44, "late_16_30": 0.833, "late_31_120": 0.917, "defaultable": 0.983}


def test_a_default_with_every_installment_settled_is_no_default_of_an_installment():
    """A loan that settled all 12 installments but left a late fee unpaid stays Active and may be
    declared in default: it defaulted on no installment, so it adds no default to the roll rates
    (its late episode on installment 1 was cured)."""
    found = [Episode(9, 1, GRACE)]
    resolved = outcomes(found, {9: _loan(9, "defaulted", paid=12, touched=12)}, {})
    assert [((e.loan_id, e.installment, e.worst), defaulted) for e, defaulted in resolved] == [((9, 1, GRACE), False)]


def test_the_pd_now_of_a_loan_follows_where_it_stands():
    pd, rates = 0.12, estimate([])
    assert pd_now(pd, _loan(1, "funding"), None, rates) == pd  # not started: its whole term ahead
    assert pd_now(pd, _loan(1, "active"), _standing("current", 0), rates) == pytest.approx(pd)
    halfway = pd_now(pd, _loan(1, "active"), _standing("current", 6), rates)
    assert halfway == pytest.approx(1 - (1 - pd) ** 0.5) and halfway < pd
    assert pd_now(pd, _loan(1, "active", paid=6), None, rates) == pytest.approx(halfway)  # no pass yet: the index
    late = pd_now(pd, _loan(1, "active"), _standing("late_31_120", 6), rates)
    left = remaining_share(pd, 12, 5)
    assert late == pytest.approx(PRIOR["late_31_120"] + (1 - PRIOR["late_31_120"]) * left) and late > pd
    grace = pd_now(pd, _loan(1, "active"), _standing("grace", 6), rates)
    assert halfway < grace < late


def test_a_late_loan_is_valued_at_its_buckets_roll_rate_and_its_cure_is_counted(servicing_settings, world):
    settings, chain = servicing_settings, world.chain
    with session_scope(settings) as session:
        decision = score_application(session, ApplicationCreate(**SAMPLE), settings=settings)
    pd = priced_pd(decision.model_version, decision.grade)  # the grade's PD, which priced it, not the decision's own
    assert pd != decision.pd
    loan_id, start = world.active_loan(decision_hash=decision.decision_hash)
    index(settings)
    chain.mine_at(start + 50 * DAY)  # installment 1 is 20 days late
    with session_scope(settings) as session:
        assert servicing_pass(session, settings).buckets == {"late_16_30": 1}
    client, investor = client_for(settings), world.investors[0]
    holder = minted_bearer(settings, investor)

    def position() -> dict:
        (held,) = client.get("/api/v1/portfolio", headers=holder).json()["positions"]
        return held

    late = position()
    expected = PRIOR["late_16_30"] + (1 - PRIOR["late_16_30"]) * remaining_share(pd, 12, 11)
    assert late["pd_now"] == pytest.approx(expected) and late["pd_now"] > 3 * pd
    assert late["expected_loss"] == round(late["pd_now"] * LGD * late["exposure"])
    disclosed = client.get("/api/v1/disclosure").json()
    rates = {r["bucket"]: r for r in disclosed["roll_rates"]}
    assert (rates["late_16_30"]["episodes"], rates["late_16_30"]["rate"]) == (0, PRIOR["late_16_30"])  # still open
    outstanding = world.loan(loan_id)["principalOutstanding"]
    assert disclosed["reserve"]["expected_loss"] == round(late["pd_now"] * outstanding * LGD)
    quote = client.get("/api/v1/market/quote", params={"loan_id": loan_id, "notes": late["notes"], "price_bps": 10_000}).json()
    assert quote["pd"] == pd and quote["pd_now"] == pytest.approx(late["pd_now"])
    # A coin toss on the installment behind: half the time its holder gets 95% of the principal
    # (LGD 85% less the reserve's 80%) 120 days after the due date instead of the installments.
    assert quote["expected_yield"] < quote["yield_to_maturity"] - 0.1
    assert late["expected_loss_after_cover"] == round(late["pd_now"] * (LGD - 0.8) * late["exposure"])
    # Worth less than face: the price at which the buyer still expects the loan's own rate. By hand,
    # at 12% a year in 30-day periods (1.00986 a period): half the time the installment behind is
    # paid now with its interest and the rest on schedule (1.016 of face), half the time 95% of face
    # is recovered at `defaultableAt`, 100 days from now (0.95 / 1.00986^(100 / 30) = 0.919): 0.968,
    # a little less for the PD on the other 11: 96.7% of face.
    assert 9_550 < quote["fair_price_bps"] < 9_700 and late["fair_value"] == pytest.approx(
        late["notes"] * quote["fair_price_bps"] / 10_000, abs=late["notes"] / 10_000)

    world.repay(loan_id, world.book.functions.amountDue(loan_id).call()[0])  # caught up: installment 1 (2 is due on day 60)
    index(settings)
    with session_scope(settings) as session:
        assert servicing_pass(session, settings).buckets == {"current": 1}
    cured = {r["bucket"]: r for r in client.get("/api/v1/disclosure").json()["roll_rates"]}
    for bucket in ("grace", "late_16_30"):  # skipped grace between two passes, but passed through it
        assert (cured[bucket]["episodes"], cured[bucket]["defaulted"]) == (1, 0)
        assert cured[bucket]["rate"] == pytest.approx(PRIOR[bucket] * PRIOR_EPISODES / (1 + PRIOR_EPISODES))
    assert cured["late_31_120"]["episodes"] == 0
    cured_position = position()
    assert cured_position["pd_now"] == pytest.approx(remaining_share(pd, 12, 11))
    assert cured_position["pd_now"] < pd  # one of twelve paid
    # Per unit of principal at stake, worth nearly its face again.
    assert cured_position["fair_value"] / cured_position["exposure"] > 0.97 > late["fair_value"] / late["exposure"] > 0.95
