"""Aging buckets turn exactly where LoanBook's grace period and default threshold do."""

from backend.chain import deploy_params
from backend.servicing.aging import DAY, bucket_of, days_past_due

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


def test_days_past_due_counts_whole_days_and_never_goes_negative():
    assert [days_past_due(DUE + d, DUE) for d in (-5 * DAY, 0, DAY - 1, DAY, 45 * DAY + 7)] == [0, 0, 0, 1, 45]
    assert days_past_due(DUE, 0) == 0  # no due date: not an active loan
