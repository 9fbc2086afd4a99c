"""backend/chain/loan_terms.py mirrors LoanBook's amortization floor: terms `createLoan` would
refuse with `LoanBookScheduleDoesNotAmortize` are refused (422) before anyone signs them."""

from __future__ import annotations

from fractions import Fraction

import pytest

from backend.chain import loan_terms as lt
from backend.errors import ValidationFailed

DAY = 86_400
UNIT = 10**6


def test_the_first_principal_portion_is_the_exact_schedules_rounded_down():
    principal, apr, period, n = 12_000 * UNIT, 1_200, 30 * DAY, 12
    amount, first = lt.annuity(principal, apr, period, n)
    r = Fraction(apr * period, 10_000 * 365 * DAY)
    assert amount == lt.installment_amount(principal, apr, period, n)
    assert abs(first - principal * r / ((1 + r) ** n - 1)) < 1
    assert lt.annuity(7, 0, period, 3) == (3, 3)  # without interest the installment is all principal


@pytest.mark.parametrize("principal,apr,period,n", [
    (10_000 * UNIT, 10_000, 30 * DAY, 360),  # interest only, the whole principal a balloon
    (1_000 * UNIT, 10_000, 366 * DAY, 39),
    (10_000 * UNIT, 6_000, 30 * DAY, 360),  # amortizes, but rounding drifts ~37 tokens into the balloon
    (1, 1_200, 30 * DAY, 12),
])  # fmt: skip
def test_schedules_that_would_not_amortize_are_refused(principal, apr, period, n):
    with pytest.raises(ValidationFailed) as info:
        lt.check_amortizes(principal, apr, period, n)
    details = info.value.details
    assert details["first_principal"] == lt.annuity(principal, apr, period, n)[1] < lt.MIN_FIRST_PRINCIPAL
    assert details["installment_amount"] == lt.installment_amount(principal, apr, period, n)
    assert details["first_interest"] == lt.period_interest(principal, apr, period)
    assert info.value.status_code == 422


@pytest.mark.parametrize("principal,apr,period,n", [
    (12_000 * UNIT, 1_200, 30 * DAY, 12), (100 * UNIT, 3_600, 30 * DAY, 60), (10_000 * UNIT, 10_000, 30 * DAY, 120),
    (1, 0, 30 * DAY, 12),  # without interest nothing compounds
])  # fmt: skip
def test_ordinary_schedules_pass(principal, apr, period, n):
    lt.check_amortizes(principal, apr, period, n)


def test_the_floor_bounds_the_rounding_drift():
    """Above the floor the last installment carries less than P / first principal portion (1 bp of P)
    beyond the exact schedule's last principal portion."""
    for principal, apr, n in ((3 * 10**9, 10_000, 120), (10**12, 6_000, 300), (5 * 10**8, 3_600, 60)):
        period = 30 * DAY
        _, first = lt.annuity(principal, apr, period, n)
        assert first >= lt.MIN_FIRST_PRINCIPAL
        rows = lt.schedule(principal, apr, period, n)
        r = Fraction(apr * period, 10_000 * 365 * DAY)
        exact_last = principal * r / ((1 + r) ** n - 1) * (1 + r) ** (n - 1)
        assert abs(rows[-1].principal - exact_last) < Fraction(principal, first)
