"""Worker health from the leases: a worker whose round raised is `failing` (with the error in its
lease) until a round completes, one that stopped reporting goes `stale`, and /health says so
without ever answering 503 for it."""

from __future__ import annotations

import threading
from datetime import UTC, datetime, timedelta

from backend.db import migrate
from backend.services.health import health_report
from backend.workers.health import worker_health
from backend.workers.lease import leases
from backend.workers.runner import Worker
from tests.conftest import make_settings


class _HeldLock:
    def acquire(self) -> bool:
        return True

    def still_held(self) -> bool:
        return True

    def release(self) -> None:
        pass


def test_a_failing_worker_shows_until_a_round_completes_and_a_quiet_one_goes_stale(tmp_path):
    settings = make_settings(tmp_path)
    migrate.upgrade(settings)
    stop, seen = threading.Event(), []

    def step(_settings) -> int:
        seen.append(worker_health(settings))
        if len(seen) == 1:
            raise RuntimeError("node down")
        if len(seen) == 3:
            stop.set()
        return 1  # busy: the next round follows at once

    Worker("probe", step, lambda s: 0.01).run(settings, stop, _HeldLock())
    assert seen[0]["status"] == "ok"  # started: no error yet
    assert (seen[1]["status"], seen[1]["failing"]) == ("failing", ["probe"])
    assert seen[2]["status"] == "ok"  # the round after the failure completed
    (lease,) = leases(settings)
    assert lease.last_error == "RuntimeError: node down" and not lease.failing

    later = datetime.now(UTC) + timedelta(minutes=10)
    assert (worker_health(settings, later)["status"], worker_health(settings, later)["stale"]) == ("stale", ["probe"])
    health = health_report(settings)["workers"]
    assert health["ok"] and "node down" not in str(health)  # errors stay in `loanchain worker status`
