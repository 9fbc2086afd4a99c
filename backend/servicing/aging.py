"""Aging buckets, after LendingClub's note statuses: a 15-day grace period, Late (16-30 days),
Late (31-120 days), then Default. The grace and default periods are LoanBook's own constructor
parameters, so the backend's buckets turn exactly when the contract's late fee and default do."""

from __future__ import annotations

from backend.chain import deploy_params
from backend.chain.servicing_reader import LoanPosition
from backend.servicing.models import ServicingState
from backend.servicing.schemas import ServicingPublic

DAY = 86_400
LATE_SPLIT = 30 * DAY

BUCKETS = ("current", "grace", "late_16_30", "late_31_120", "defaultable")
DELINQUENT = ("late_16_30", "late_31_120", "defaultable")  # 16+ days late: the collections queue
# What the borrower is told on entering a bucket (and a few days before a due date).
NOTICE_OF_BUCKET = {"grace": "overdue", "late_16_30": "late", "late_31_120": "collections", "defaultable": "default"}
DUE_SOON = "due_soon"


def days_past_due(now: int, next_due_date: int) -> int:
    """Days past due counting a day begun (a second late is day 1), so that more than 15 days past
    due is exactly past the grace period (`late_16_30`, the late fee charged) and more than 30 is
    `late_31_120`: the disclosure's figures by days and the buckets never disagree."""
    return -(-max(0, now - next_due_date) // DAY) if next_due_date else 0


def bucket_of(now: int, next_due_date: int, defaultable_at: int, grace: int = deploy_params.GRACE_PERIOD) -> str:
    overdue = now - next_due_date
    if overdue <= 0:
        return "current"
    if overdue <= grace:
        return "grace"
    if overdue <= LATE_SPLIT:
        return "late_16_30"
    if now <= defaultable_at:  # markDefault reverts until block.timestamp > defaultableAt
        return "late_31_120"
    return "defaultable"


def standing(pos: LoanPosition, now: int) -> ServicingPublic:
    """An active loan's position (as LoanBook computes it) aged at chain time `now`."""
    return ServicingPublic(bucket=bucket_of(now, pos.next_due_date, pos.defaultable_at),
                           days_past_due=days_past_due(now, pos.next_due_date), installments_paid=pos.installments_paid,
                           due_now=pos.due_now, payoff=pos.payoff, next_due_date=pos.next_due_date,
                           defaultable_at=pos.defaultable_at, as_of=now)  # fmt: skip


def stored_standing(state: ServicingState) -> ServicingPublic:
    """The standing the last servicing pass stored."""
    return ServicingPublic(bucket=state.bucket, days_past_due=state.days_past_due,
                           installments_paid=state.installments_paid, due_now=state.due_now, payoff=state.payoff,
                           next_due_date=state.next_due_date, defaultable_at=state.defaultable_at,
                           as_of=state.as_of)  # fmt: skip
