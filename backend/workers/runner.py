"""A background worker: a step function run in a loop while holding the worker's lock.

Instances that do not get the lock wait as hot standbys and retry, so when the holder dies (its
PostgreSQL connection or its flock goes with it) another one takes over within a standby period.
"""

from __future__ import annotations

import logging
import os
import socket
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

from backend.config import Settings
from backend.workers.lease import record_lease
from backend.workers.lock import WorkerLock, make_lock

log = logging.getLogger("loanchain.workers")

STANDBY_INTERVAL = 2.0  # seconds between attempts to take a lock someone else holds
MAX_ERROR_BACKOFF = 10.0  # a node back up is noticed within this
HEARTBEAT_INTERVAL = 30.0  # seconds between lease heartbeats of a worker that is doing fine


def holder_id() -> str:
    return f"{socket.gethostname()}:{os.getpid()}"


@dataclass
class Worker:
    name: str
    step: Callable[[Settings], int]  # returns how much work it did; 0 = idle
    interval: Callable[[Settings], float]

    def run(self, settings: Settings, stop_event: threading.Event, lock: WorkerLock | None = None) -> None:
        lock = lock or make_lock(settings, self.name)
        held, backoff, runs, reported = False, 0.0, 0, float("-inf")
        try:
            while not stop_event.is_set():
                was_held = held
                try:
                    held = lock.acquire() if not held else lock.still_held()
                except Exception as exc:
                    # The database is away (a restart, a fail-over): the lock cannot be proved held,
                    # so it is not; stand by and try again. An exception here must not end the
                    # thread: nothing restarts it, and the worker would be gone until the process is.
                    log.warning("worker %s: lock unavailable: %s: %s (retry in %.1fs)", self.name,
                                type(exc).__name__, str(exc).splitlines()[0] if str(exc) else "", STANDBY_INTERVAL)  # fmt: skip
                    held = False
                    _release_quietly(lock)
                if not held:
                    if was_held:
                        log.warning("worker %s: lock lost; standing by", self.name)
                    stop_event.wait(STANDBY_INTERVAL)
                    continue
                if not was_held:
                    log.info("worker %s: lock acquired by %s", self.name, holder_id())
                    _safe_lease(settings, self.name, acquired=True, runs=0)
                try:
                    done = self.step(settings)
                except Exception as exc:  # keep the worker alive; the next round retries
                    backoff = min(MAX_ERROR_BACKOFF, max(backoff * 2, self.interval(settings)))
                    log.warning("worker %s: %s: %s (retry in %.1fs)", self.name, type(exc).__name__, exc, backoff)
                    _safe_lease(settings, self.name, acquired=False, runs=runs, error=f"{type(exc).__name__}: {exc}")
                    reported = time.monotonic()
                    stop_event.wait(backoff)
                    continue
                runs += 1
                # A heartbeat every so often, and at once when a round succeeds after a failure.
                if backoff or time.monotonic() - reported >= HEARTBEAT_INTERVAL:
                    _safe_lease(settings, self.name, acquired=False, runs=runs, ok=True)
                    reported = time.monotonic()
                backoff = 0.0
                if not done:
                    stop_event.wait(self.interval(settings))
        finally:
            if held:
                _release_quietly(lock)
                log.info("worker %s: lock released", self.name)


def _release_quietly(lock: WorkerLock) -> None:
    """Let go of a lock whose connection may be dead already (the server then freed it)."""
    try:
        lock.release()
    except Exception as exc:
        log.debug("worker %s: release failed: %s", lock.name, exc)


def _safe_lease(settings: Settings, name: str, acquired: bool, runs: int, ok: bool = False, error: str | None = None) -> None:
    try:
        record_lease(settings, name, holder_id(), acquired=acquired, runs=runs, ok=ok, error=error)
    except Exception as exc:  # informational only: never stop the worker for it
        log.debug("worker %s: lease not recorded: %s", name, exc)
