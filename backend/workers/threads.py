"""Runs background workers as threads of the current process (API startup, `worker run all`)."""

from __future__ import annotations

import logging
import threading
import time

from backend.config import Settings
from backend.workers.registry import build_worker, worker_names

log = logging.getLogger("loanchain.workers")


class BackgroundWorkers:
    def __init__(self, settings: Settings, names: list[str] | None = None) -> None:
        self.settings = settings
        self.names = names or worker_names()
        self.stop_event = threading.Event()
        self.threads: list[threading.Thread] = []

    def start(self) -> None:
        for name in self.names:
            worker = build_worker(name)
            thread = threading.Thread(
                target=worker.run, args=(self.settings, self.stop_event), name=f"worker-{name}", daemon=True
            )
            thread.start()
            self.threads.append(thread)
        log.info("background workers started: %s", ", ".join(self.names))

    def stop(self, timeout: float = 30.0) -> None:
        self.stop_event.set()
        deadline = time.monotonic() + timeout
        for thread in self.threads:
            thread.join(max(0.0, deadline - time.monotonic()))
        # One still in a round past the timeout stays listed, so `alive()` names it.
        self.threads = [t for t in self.threads if t.is_alive()]
        if self.threads:
            log.warning("background workers still running after %.0f s: %s", timeout, ", ".join(self.alive()))

    def alive(self) -> list[str]:
        return [t.name for t in self.threads if t.is_alive()]
