"""Scheduled fair-lending checks: the live report (fair_lending.py) over a trailing window, run once a
UTC day by the `fair-lending` worker, and kept.

A report nobody asks for finds nothing: run on a schedule, a band whose approval rate falls below
four fifths of the best band's is flagged the day it happens, stays on record with the counts that
showed it, and shows in the staff's list (`GET /api/v1/score/fairness/checks`) and, as `overdue`
when checks stop, in `/health` (which is public, so it says whether checks run, never what they
found). Each check reads the applicants' dates of birth like a staff report, audited as
`fairness.live` by the worker, and stores only what the staff report shows: counts, never an
applicant. The window (`LOANCHAIN_FAIR_LENDING_WINDOW_DAYS`, 90) keeps a band's count large enough
to judge while a drift still shows within a quarter."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from backend.config import Settings
from backend.db.base import as_utc
from backend.db.session import begin_write, session_scope
from backend.scoring.fair_lending import live_fairness
from backend.scoring.models import FairLendingCheck
from backend.scoring.schemas import FairLendingCheckPublic, FairLendingPublic

WORKER = "worker:fair-lending"
OVERDUE_AFTER = timedelta(days=2)  # a day's check missed, and then some


def run_check(session: Session, settings: Settings, actor: str = WORKER, now: datetime | None = None) -> FairLendingCheck | None:
    """Today's check, taken now unless it was already taken today (then None: nothing read, nothing
    audited). Two at once store one: the loser's reading and audit entry roll back with its savepoint."""
    now = now or datetime.now(UTC)
    today = now.date()
    # SQLite: one writer at a time, the other then finds today's check; PostgreSQL: both may take it,
    # the unique `checked_on` keeps one.
    begin_write(session, FairLendingCheck)
    if session.scalar(select(FairLendingCheck.id).where(FairLendingCheck.checked_on == today)) is not None:
        return None
    since = now - timedelta(days=settings.fair_lending_window_days)
    try:
        with session.begin_nested():
            report = live_fairness(session, settings, actor, since, now)
            check = FairLendingCheck(checked_on=today, checked_at=now, checked_by=actor, since=since, until=now,
                                     flagged=list(report.flagged), report=report.model_dump(mode="json"))  # fmt: skip
            session.add(check)
    except IntegrityError:
        return None
    return check


def fair_lending_step(settings: Settings) -> int:
    """The worker's round: 1 when it took today's check, 0 when today's was already taken."""
    with session_scope(settings) as session:
        return 0 if run_check(session, settings) is None else 1


def checks(session: Session, limit: int = 30, offset: int = 0) -> list[FairLendingCheckPublic]:
    """The checks taken, newest first."""
    rows = session.scalars(select(FairLendingCheck).order_by(FairLendingCheck.checked_on.desc()).limit(limit).offset(offset))
    return [public(row) for row in rows]


def public(row: FairLendingCheck) -> FairLendingCheckPublic:
    return FairLendingCheckPublic(checked_on=row.checked_on, checked_at=as_utc(row.checked_at), checked_by=row.checked_by,
                                  flagged=row.flagged, report=FairLendingPublic.model_validate(row.report))  # fmt: skip


def check_health(settings: Settings, now: datetime | None = None) -> dict[str, Any]:
    """For /health: whether the checks run (`ok`, `overdue`, `not run`), never what they found."""
    now = now or datetime.now(UTC)
    with session_scope(settings) as session:
        last: date | None = session.scalar(select(func.max(FairLendingCheck.checked_on)))
    if last is None:
        return {"ok": True, "status": "not run", "last_checked_on": None}
    overdue = now.date() - last > OVERDUE_AFTER
    return {"ok": True, "status": "overdue" if overdue else "ok", "last_checked_on": last.isoformat()}
