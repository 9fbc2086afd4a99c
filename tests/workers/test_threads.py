"""Stopping the background workers: bounded in time, and one that has not stopped is still named."""

from __future__ import annotations

import threading

from backend.workers import threads
from backend.workers.threads import BackgroundWorkers


class _Stubborn:
    """A worker whose round outlasts the stop timeout."""

    def __init__(self, release: threading.Event) -> None:
        self.release = release

    def run(self, settings, stop_event) -> None:
        self.release.wait(10)


def test_a_worker_still_in_its_round_after_the_timeout_stays_named(monkeypatch):
    release = threading.Event()
    monkeypatch.setattr(threads, "build_worker", lambda name: _Stubborn(release))
    workers = BackgroundWorkers(settings=None, names=["slow-a", "slow-b"])
    workers.start()
    workers.stop(timeout=0.2)  # both share the 0.2 s: the whole stop is bounded
    assert workers.alive() == ["worker-slow-a", "worker-slow-b"]
    release.set()
    workers.stop(timeout=5)
    assert workers.alive() == []
