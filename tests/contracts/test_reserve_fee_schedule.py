"""The reserve fee against LoanBook's real schedule (review 2026-12-01, M2): a loan made at the
shipped model's price for grade D over 60 months, its principal outstanding read from the chain when
each installment falls due (where a default there would be covered) and the cover the ReserveFund
would pay at that balance. The fee the reserve took at disbursal is its claim at the grade's prudent
PD, defaults equally likely at any installment, to within the basis point it is rounded up to."""

from __future__ import annotations

from fractions import Fraction

from backend.chain import loan_terms as lt
from backend.scoring.pricing import BPS, amortised_exposure_share, exposure_share, price
from backend.scoring.scorer import get_scorer
from tests.contracts.helpers import REPAID, events

UNIT = 10**6
DAY = 86_400


def test_the_reserve_fee_is_the_prudent_claim_on_loanbooks_own_schedule(world, snapshot):
    scorer = get_scorer()
    rules = scorer.artifact["policy"]
    band, n, period_days = scorer.grade_band("D"), 60, rules["product"]["installment_period_days"]
    priced = price(band.pd_mean_oof, n, rules["pricing"], fee_pd=band.pd_high, period_days=period_days)
    principal, period = 10_000 * UNIT, period_days * DAY
    book, reserve = world.book, world.reserve
    before = reserve.functions.balance().call()
    loan_id, start = world.active_loan(principal=principal, apr_bps=priced.interest_apr_bps, installments=n,
                                       installment_period=period, origination_fee_bps=priced.origination_fee_bps)  # fmt: skip
    assert reserve.functions.balance().call() - before == principal * priced.origination_fee_bps // BPS

    outstanding, cover = [], []  # at each installment's due date, before it is paid
    for row in lt.schedule(principal, priced.interest_apr_bps, period, n):
        at_due = world.loan(loan_id)["principalOutstanding"]
        outstanding.append(at_due)
        cover.append(reserve.functions.coverageFor(at_due).call())
        receipt = world.repay(loan_id, row.amount, at=start + row.number * period)
        assert not events(receipt, book, "LateFeeAssessed")
    assert world.loan(loan_id)["status"] == REPAID and outstanding[0] == principal

    share = Fraction(sum(outstanding), n * principal)  # the mean share outstanding at a default
    assert abs(float(share) - amortised_exposure_share(n, priced.interest_apr_bps / BPS, period_days)) < 1e-6
    assert float(share) - exposure_share(n) > 0.02  # the straight line the fee was priced on before fell short
    claim = Fraction(band.pd_high) * Fraction(sum(cover), n)  # the reserve's expected claim, in base units
    fee = Fraction(principal * priced.origination_fee_bps, BPS)
    assert claim <= fee < claim + Fraction(principal, BPS)  # equal to within the basis point rounded up
