"""What investors lose of a default once the reserve has paid: ReserveFund pays its coverage ratio of
the principal outstanding at once, and LoanBook pays recoveries to the investors' `debt - cover`
before the reserve's, so they lose the loss given default less the cover (none once the cover
meets it), not the loss given default times what the cover leaves (the review's M1)."""

from __future__ import annotations

import pytest

from backend.chain.loan_terms import installment_amount
from backend.chain.projection_models import LoanRow
from backend.disclosure.reserve import BookRisk, loss_after_cover
from backend.lending.portfolio import _after_cover
from backend.market.yields import fair_value
from backend.scoring.policy import LGD

DAY, UNIT = 86_400, 10**6


def _risk(cover_share: float | None, ratio: float | None) -> BookRisk:
    return BookRisk(aging={}, rates={}, cover_share=cover_share, coverage_ratio=ratio)


def test_investors_lose_the_loss_given_default_less_the_cover():
    # The review's case, per 1,000 of principal outstanding: the reserve pays 800, the 150
    # recovered (1 - LGD) all go to the investors, who lose 50: LGD - cover, not LGD x (1 - cover).
    assert LGD == 0.85
    assert _risk(0.8, 0.8).loss == pytest.approx(0.05)
    assert loss_after_cover(0.8, 0.8) == pytest.approx(1 - 0.8 - 0.15)


def test_a_reserve_short_of_its_claims_leaves_the_uncovered_defaults_the_whole_loss():
    # ReserveFund pays each default its full ratio while the balance lasts, then nothing: with half
    # the expected claims met (cover share 0.4 of a ratio of 0.8) half the defaults lose 0.05, half 0.85.
    assert loss_after_cover(0.4, 0.8) == pytest.approx(0.5 * 0.05 + 0.5 * 0.85) == pytest.approx(LGD - 0.4)
    # A ratio above the loss given default cannot make a covered default a gain (the recoveries
    # past the investors' part repay the reserve): covered, nothing lost; half covered, half the LGD.
    assert loss_after_cover(1.0, 1.0) == 0.0
    assert loss_after_cover(0.5, 1.0) == pytest.approx(0.5 * LGD)  # not LGD - 0.5 = 0.35
    assert loss_after_cover(0.0, 0.0) == LGD and loss_after_cover(None, None) == LGD  # no cover, or none stated
    assert _risk(None, 0.8).loss == LGD


def test_the_expected_loss_after_cover_is_pd_times_the_loss_left_to_investors():
    # The review's portfolio case: PD 10% on 1,000 at stake, 80% covered: 1,000 x 0.10 x (0.85 - 0.80).
    assert _after_cover(0.10, 1_000, _risk(0.8, 0.8), 1_000) == 5
    assert _after_cover(0.10, 1_000, _risk(None, 0.8), 1_000) is None  # the reserve's share cannot be told
    assert _after_cover(None, 1_000, _risk(0.8, 0.8), 1_000) is None  # no PD


def test_the_fair_value_of_a_late_loan_with_the_reviewers_figures():
    # /tmp/audit-math/fv.py: a 12-month 12% loan of 12,000, 20 days late, a coin toss on the
    # installment behind, PD 3.9%, 80% cover: 96.68% of face, where LGD x (1 - cover) gives 90.77%
    # (96.38% and 90.51% in the review, which dated the default 120 days from now, not at the loan's
    # defaultableAt, 100 days from now).
    principal, period, start = 12_000 * UNIT, 30 * DAY, 1_800_000_000
    loan = LoanRow(loan_id=1, principal=principal, apr_bps=1_200, installments=12, installment_period=period,
                   installment_amount=installment_amount(principal, 1_200, period, 12), principal_outstanding=principal,
                   start_time=start, last_installment=0)  # fmt: skip
    now = start + period + 20 * DAY
    fair = fair_value(loan, 0, now, principal, 0.039, _risk(0.8, 0.8).loss, late_rate=0.5)
    assert fair / principal == pytest.approx(0.9668, abs=5e-5)
    old = fair_value(loan, 0, now, principal, 0.039, LGD * (1 - 0.8), late_rate=0.5)
    assert old / principal == pytest.approx(0.9077, abs=5e-5)


def test_an_empty_reserve_covers_nothing_even_with_no_claims_expected():
    # A new platform, or one whose loans are all still funding: no active loan, so no claims
    # expected; the first-user review saw "expected to pay 80%" with nothing in the reserve.
    from backend.disclosure.reserve import _cover

    assert _cover([], 8_000, 0) == (0, 0.0)
    assert _cover([], 8_000, -5) == (0, 0.0)  # a balance the events cannot explain is still nothing to pay from
    assert _cover([], 8_000, 100) == (0, pytest.approx(0.8))  # money in and nothing expected: the ratio holds
    # Ten loans of 20 at PD 50%: 100 expected to default, claims of 16 each (under the balance), 80
    # expected; a balance of 40 meets half of them.
    assert _cover([(0.5, 20)] * 10, 8_000, 40) == (80, pytest.approx(0.8 * 40 / 80))
    # One loan of 100 at PD 100%: its claim is 80, but the balance of 40 is all it can get.
    assert _cover([(1.0, 100)], 8_000, 40) == (40, pytest.approx(0.4))


def test_one_default_is_never_promised_more_cover_than_the_whole_balance():
    # ReserveFund.coverageFor pays min(ratio x principal outstanding, balance): a reserve of 100
    # against a loan of 10,000 pays 1% of its principal, however small the book's expected claims.
    risk = BookRisk(aging={}, rates={}, cover_share=0.8, coverage_ratio=0.8, balance=100)
    assert risk.loss_on(10_000) == pytest.approx(LGD - 0.01)
    assert risk.loss_on(125) == pytest.approx(LGD - 0.8) == risk.loss  # 100 pays 80% of 125 in full
    assert BookRisk(aging={}, rates={}, cover_share=0.8, coverage_ratio=0.8, balance=0).loss_on(10_000) == LGD
    assert _after_cover(0.10, 1_000, risk, 10_000) == round(0.10 * (LGD - 0.01) * 1_000)
