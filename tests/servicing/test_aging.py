"""Aging buckets turn exactly where LoanBook's grace period and default threshold do."""

from backend.chain import deploy_params
from backend.chain.projection_models import LoanRow
from backend.disclosure.service import _delinquency
from backend.servicing.aging import DAY, DELINQUENT, bucket_of, days_past_due
from backend.servicing.schemas import ServicingPublic

DUE = 1_800_000_000
DEFAULTABLE = DUE + deploy_params.DEFAULT_AFTER


def test_bucket_boundaries():
    cases = [
        (DUE - 1, "current"),
        (DUE, "current"),
        (DUE + 1, "grace"),
        (DUE + deploy_params.GRACE_PERIOD, "grace"),
        (DUE + deploy_params.GRACE_PERIOD + 1, "late_16_30"),
        (DUE + 30 * DAY, "late_16_30"),
        (DUE + 30 * DAY + 1, "late_31_120"),
        (DEFAULTABLE, "late_31_120"),  # markDefault needs block.timestamp > defaultableAt
        (DEFAULTABLE + 1, "defaultable"),
    ]
    assert [(now, bucket_of(now, DUE, DEFAULTABLE)) for now, _ in cases] == cases


def test_days_past_due_counts_a_started_day_and_never_goes_negative():
    # A second past the due date is the first day past due (as a calendar counts it: the day after).
    assert [days_past_due(DUE + d, DUE) for d in (-5 * DAY, 0, 1, DAY - 1, DAY, DAY + 1, 45 * DAY + 7)] == [0, 0, 1, 1, 1, 2, 46]
    assert days_past_due(DUE, 0) == 0  # no due date: not an active loan


def test_days_past_due_agree_with_the_buckets_and_the_disclosure_counts_by_them():
    # The review's L1: 15 days and an hour past due the late fee is charged and the bucket is
    # late_16_30; the days past due said 15, so the public "more than 15 days" figure left it out.
    for now in range(DUE - DAY, DUE + 40 * DAY, 3_600):
        dpd, bucket = days_past_due(now, DUE), bucket_of(now, DUE, DEFAULTABLE)
        assert (dpd > 0) == (bucket != "current") and (dpd > 15) == (bucket in DELINQUENT), now
        assert (dpd > 30) == (bucket in ("late_31_120", "defaultable")), now
    hour = DUE + deploy_params.GRACE_PERIOD + 3_600
    late = ServicingPublic(bucket=bucket_of(hour, DUE, DEFAULTABLE), days_past_due=days_past_due(hour, DUE),
                           installments_paid=0, due_now=7, payoff=10, next_due_date=DUE, defaultable_at=DEFAULTABLE,
                           as_of=hour)  # fmt: skip
    second = DUE + 1  # in grace: overdue all the same
    grace = late.model_copy(update=dict(bucket="grace", days_past_due=days_past_due(second, DUE), due_now=5, as_of=second))
    figures = _delinquency([LoanRow(loan_id=1, status="active", principal_outstanding=100),
                           LoanRow(loan_id=2, status="active", principal_outstanding=50)],
                           {1: late, 2: grace})  # fmt: skip
    assert (late.bucket, late.days_past_due) == ("late_16_30", 16)
    assert (figures.loans_16_plus, figures.principal_16_plus, figures.amount_overdue) == (1, 100, 12)
