"""How the background workers are doing, from their leases: which are failing (their last round
raised and none has completed since) and which have gone quiet (no heartbeat for five rounds, and
at least five minutes: stopped, or stuck inside a round)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from backend.config import Settings
from backend.db.base import as_utc
from backend.workers.lease import leases
from backend.workers.registry import WORKERS

QUIET_AFTER = 300.0  # seconds, at least


def worker_health(settings: Settings, now: datetime | None = None) -> dict[str, Any]:
    now = now or datetime.now(UTC)
    rows = leases(settings)
    workers, failing, stale = {}, [], []
    for lease in rows:
        interval = WORKERS[lease.name].interval(settings) if lease.name in WORKERS else 0.0
        quiet = (now - as_utc(lease.heartbeat_at)).total_seconds()
        if lease.failing:
            failing.append(lease.name)
        elif quiet > max(QUIET_AFTER, 5 * interval):
            stale.append(lease.name)
        workers[lease.name] = {"last_seen_seconds": round(quiet), "runs": lease.runs, "failing": lease.failing}
    status = "not started" if not rows else "failing" if failing else "stale" if stale else "ok"
    return {"ok": True, "status": status, "failing": failing, "stale": stale, "workers": workers}
