"""Who holds each worker lock, for `loanchain worker status` (the lock itself is authoritative)."""

from __future__ import annotations

from sqlalchemy import select

from backend.chain.models import WorkerLease, utcnow
from backend.config import Settings
from backend.db.session import session_scope


def record_lease(settings: Settings, name: str, holder: str, acquired: bool, runs: int) -> None:
    with session_scope(settings) as session:
        lease = session.get(WorkerLease, name)
        now = utcnow()
        if lease is None:
            lease = WorkerLease(name=name, holder=holder, acquired_at=now, heartbeat_at=now, runs=runs)
            session.add(lease)
            return
        if acquired:
            lease.holder, lease.acquired_at = holder, now
        lease.heartbeat_at, lease.runs = now, runs


def leases(settings: Settings) -> list[WorkerLease]:
    with session_scope(settings) as session:
        return list(session.scalars(select(WorkerLease).order_by(WorkerLease.name)))
