from __future__ import annotations

import logging
import signal

import typer
from rich.table import Table
from rich.text import Text

from backend.cli.output import console
from backend.config import get_settings
from backend.workers.registry import worker_names
from backend.workers.threads import BackgroundWorkers

app = typer.Typer(help="Background workers: exactly one active instance of each, across processes.")




def run_workers(names: list[str]) -> None:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(levelname)s %(message)s")
    workers = BackgroundWorkers(get_settings(), names)
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: workers.stop_event.set())
    workers.start()
    console.print(f"running {', '.join(names)} (Ctrl-C to stop)")
    while not workers.stop_event.wait(1.0):
        pass
    workers.stop()


@app.command("run")
def run(name: str = typer.Argument("all", help="outbox, indexer, ... or all")) -> None:
    """Run one worker, or all of them as threads; standby until its lock is free."""
    run_workers(worker_names(name))


@app.command("status")
def status() -> None:
    """Which process holds each worker lock, when it last reported, and its last error (red while
    no round has completed since)."""
    from backend.workers.lease import leases

    table = Table("worker", "holder", "since", "last seen", "rounds", "last error")
    for lease in leases(get_settings()):
        error = "" if lease.last_error_at is None else f"{lease.last_error_at:%Y-%m-%d %H:%M:%S} {lease.last_error}"
        table.add_row(lease.name, lease.holder, f"{lease.acquired_at:%Y-%m-%d %H:%M:%S}", f"{lease.heartbeat_at:%H:%M:%S}",
                      str(lease.runs), Text(error, style="red" if lease.failing else ""))  # fmt: skip
    console.print(table)
