"""The right to cure: the platform's own default waits `servicing_cure_days` after the borrower's first
written warning of the late installment.

That warning is the `collections` notice (31+ days late), 90 days before LoanBook allows a default on
a schedule kept by the worker, so the wait only bites when a pass first finds a loan defaultable (the
worker was down for weeks): it then gives the `default`
notice, saying until when the platform holds off, and queues `markDefault` no earlier. LoanBook still
lets anyone default the loan from `defaultableAt`: the wait binds the platform only.

Judged by chain time, as LoanBook judges lateness: each notice records its pass's (migration 0056); a
notice given before that is dated by its `created_at`."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

from backend.config import Settings
from backend.db.base import as_utc
from backend.servicing.models import ServicingNotice

DAY = 86_400
WARNINGS = ("collections", "default")


def first_warning(db: Session, loan_id: int, installment: int, borrower: str) -> int | None:
    """The chain time of the borrower's first written warning of `installment` being late, or None."""
    rows = db.execute(select(ServicingNotice.chain_time, ServicingNotice.created_at).where(
        ServicingNotice.loan_id == loan_id, ServicingNotice.installment == installment,
        ServicingNotice.kind.in_(WARNINGS), ServicingNotice.recipient == borrower,
    )).all()  # fmt: skip
    times = [at if at is not None else int(as_utc(created).timestamp()) for at, created in rows]
    return min(times, default=None)


def cure_ends(db: Session, settings: Settings, loan_id: int, installment: int, borrower: str, now: int) -> int:
    """The chain time from which the platform may default the loan: the cure period after the first
    warning, or after `now` when none was given yet (the pass gives it now)."""
    warned = first_warning(db, loan_id, installment, borrower)
    return (now if warned is None else warned) + settings.servicing_cure_days * DAY
