"""Who holds each worker lock and how its rounds go, for `loanchain worker status` and `GET /health`
(the lock itself is authoritative)."""

from __future__ import annotations

from sqlalchemy import select

from backend.chain.models import WorkerLease, utcnow
from backend.config import Settings
from backend.db.session import session_scope


def record_lease(settings: Settings, name: str, holder: str, acquired: bool, runs: int, *, ok: bool = False,
                 error: str | None = None) -> None:  # fmt: skip
    """A heartbeat; `ok`: a round completed since the last one; `error`: the round just failed so."""
    with session_scope(settings) as session:
        lease = session.get(WorkerLease, name)
        now = utcnow()
        if lease is None:
            lease = WorkerLease(name=name, holder=holder, acquired_at=now, heartbeat_at=now, runs=runs)
            session.add(lease)
        elif acquired:
            lease.holder, lease.acquired_at = holder, now
        lease.heartbeat_at, lease.runs = now, runs
        if ok:
            lease.last_ok_at = now
        if error is not None:
            lease.last_error, lease.last_error_at = error[:500], now


def leases(settings: Settings) -> list[WorkerLease]:
    with session_scope(settings) as session:
        return list(session.scalars(select(WorkerLease).order_by(WorkerLease.name)))
