"""`loanchain anchor FILE...`, `anchor flush`, `anchor retry`, `anchor status`."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Annotated

import click
import typer
from rich.progress import Progress
from rich.table import Table
from typer.core import TyperGroup

from backend.cli.output import cli_errors, console, err_console, plain, print_json
from backend.config import Settings, get_settings


class _FilesByDefault(TyperGroup):
    """`loanchain anchor a.pdf b.pdf` means `loanchain anchor add a.pdf b.pdf`."""

    def resolve_command(self, ctx: click.Context, args: list[str]):
        if args and args[0] not in self.commands and not args[0].startswith("-"):
            args = ["add", *args]
        return super().resolve_command(ctx, args)


app = typer.Typer(
    cls=_FilesByDefault,
    no_args_is_help=True,
    help="Anchor documents on-chain: `loanchain anchor FILE...` stores and queues them; "
    "`flush` anchors the queue now.",
)


@app.command("add")
def add(
    files: Annotated[list[Path], typer.Argument(exists=True, dir_okay=False, readable=True, help="Files to anchor.")],
    actor: str = typer.Option("cli", help="Who is anchoring, for the audit log."),
    json_out: bool = typer.Option(False, "--json"),
) -> None:
    """Store each FILE in the content store and queue its hash for the next batch."""
    from backend.anchoring.documents import anchor_document
    from backend.db.session import session_scope

    settings = get_settings()
    rows = []
    with cli_errors(), Progress(console=err_console, transient=True, disable=len(files) < 5) as progress:
        task = progress.add_task("anchoring", total=len(files))
        for path in files:
            with session_scope(settings) as session:  # one commit per file: a failure loses no earlier file
                result = anchor_document(session, settings, path.read_bytes(), actor=actor)
                doc = result.document
                rows.append({"file": str(path), "cid": doc.cid, "doc_hash": doc.doc_hash, "id": doc.id,
                             "new": result.created, "batch_id": doc.batch_id})  # fmt: skip
            progress.advance(task)
    if json_out:
        print_json(rows)
        return
    table = Table("file", "CID", "document hash (keccak256)", "status")
    for r in rows:
        state = "queued" if r["new"] else ("already anchored" if r["batch_id"] else "already queued")
        table.add_row(r["file"], r["cid"], r["doc_hash"], state)
    console.print(table)
    console.print(f"batches are built every {settings.anchor_batch_size} documents or "
                  f"{settings.anchor_batch_interval:g}s; `loanchain anchor flush` anchors now")  # fmt: skip


def _send_and_wait(settings: Settings, timeout: float) -> None:
    """Send the queued anchors: ourselves if no outbox worker runs, else wait for it."""
    from backend.anchoring.batcher import batch_counts, reconcile
    from backend.anchoring.models import BATCH_QUEUED
    from backend.chain.outbox import send_unless_a_worker_does
    from backend.db.session import session_scope

    send_unless_a_worker_does(settings, timeout)
    deadline = time.monotonic() + timeout
    while True:
        reconcile(settings)
        with session_scope(settings) as session:
            waiting = batch_counts(session)[BATCH_QUEUED]
        if not waiting or time.monotonic() > deadline:
            return
        time.sleep(0.5)


@app.command("flush")
def flush(
    wait: bool = typer.Option(True, "--wait/--no-wait", help="Send and wait for the anchor transactions."),
    timeout: float = typer.Option(120.0, help="Seconds to wait for confirmation."),
    json_out: bool = typer.Option(False, "--json"),
) -> None:
    """Anchor everything queued now (and checkpoint the audit log), ignoring the batch interval."""
    from backend.anchoring.batcher import run_batcher_once

    settings = get_settings()
    with cli_errors():
        with console.status("building batches…"):
            report = run_batcher_once(settings, force=True)
        if wait and report.created:
            with console.status("anchoring on-chain…"):
                _send_and_wait(settings, timeout)
        _print_batches(settings, report.created, json_out)


@app.command("retry")
def retry(json_out: bool = typer.Option(False, "--json")) -> None:
    """Re-send failed batches (fix the cause first, e.g. grant ANCHORER_ROLE); roots are unchanged."""
    from backend.anchoring.batcher import retry_failed

    settings = get_settings()
    with cli_errors():
        ids = retry_failed(settings)
        if ids:
            _send_and_wait(settings, 120.0)
        _print_batches(settings, ids, json_out)


@app.command("status")
def status(json_out: bool = typer.Option(False, "--json")) -> None:
    """Queued documents and batches per status."""
    from backend.anchoring.batcher import batch_counts
    from backend.anchoring.documents import queue_stats
    from backend.db.session import session_scope

    with cli_errors(), session_scope(get_settings()) as session:
        queued, oldest = queue_stats(session)
        counts = batch_counts(session)
    if json_out:
        print_json({"queued_documents": queued, "oldest_queued_at": oldest, "batches": counts})
        return
    console.print(f"queued documents [bold]{queued}[/]" + (f" (oldest {oldest:%Y-%m-%d %H:%M:%S} UTC)" if oldest else ""),
                  markup=True)  # fmt: skip
    console.print("batches: " + "  ".join(f"{plain(k)} [bold]{v}[/]" for k, v in counts.items()), markup=True)


def _print_batches(settings: Settings, ids: list[int], json_out: bool) -> None:
    from backend.anchoring.models import AnchorBatch
    from backend.anchoring.schemas import BatchPublic
    from backend.db.session import session_scope

    with session_scope(settings) as session:
        batches = [BatchPublic.model_validate(session.get(AnchorBatch, i)).model_dump(mode="json") for i in ids]
    if json_out:
        print_json(batches)
        return
    if not batches:
        console.print("nothing queued: no batch built")
        return
    table = Table("batch", "documents", "root", "status", "block", "tx")
    for b in batches:
        block = str(b["block_number"] or "")
        table.add_row(str(b["id"]), str(b["count"]), b["root"], b["status"], block, b["tx_hash"] or "")
    console.print(table)
