from __future__ import annotations

import typer
from rich.table import Table

from backend.chain.outbox import intent_public, list_intents, outbox_counts
from backend.cli.output import console, plain, print_json
from backend.config import get_settings
from backend.db.session import session_scope

app = typer.Typer(help="The transaction outbox: every on-chain action the platform takes, exactly once.")


@app.command("status")
def status(json_out: bool = typer.Option(False, "--json")) -> None:
    """Intents per status, and who runs the sender."""
    from backend.workers.lease import leases

    settings = get_settings()
    with session_scope(settings) as session:
        counts = outbox_counts(session)
    sender = next((lease for lease in leases(settings) if lease.name == "outbox"), None)
    if json_out:
        print_json({"counts": counts, "sender": sender and {"holder": sender.holder, "heartbeat_at": sender.heartbeat_at}})
        return
    console.print("  ".join(f"{plain(k)} [bold]{v}[/]" for k, v in counts.items()), markup=True)
    if sender:
        console.print(f"sender: {sender.holder} (last seen {sender.heartbeat_at:%Y-%m-%d %H:%M:%S})")
    else:
        console.print("sender: [yellow]none has run yet[/]", markup=True)


@app.command("list")
def list_command(
    status: str = typer.Option(None, help="Only intents in this status."),
    limit: int = typer.Option(50, help="How many, newest first."),
    json_out: bool = typer.Option(False, "--json"),
) -> None:
    """The newest intents."""
    with session_scope(get_settings()) as session:
        rows = [intent_public(i) for i in list_intents(session, status, limit)]
    if json_out:
        print_json(rows)
        return
    table = Table("key", "status", "call", "nonce", "tx", "block", "error")
    for r in rows:
        table.add_row(r["key"], r["status"], f"{r['contract']}.{r['function']}", str(r["nonce"] or ""),
                      (r["tx_hash"] or "")[:18], str(r["block_number"] or ""), r["error"] or "")  # fmt: skip
    console.print(table)


@app.command("run")
def run(once: bool = typer.Option(False, "--once", help="One round, then exit.")) -> None:
    """Run the sender (the `outbox` worker, holding its lock) until interrupted."""
    if once:
        from backend.chain.sender import OutboxSender
        from backend.cli.output import cli_errors
        from backend.workers.lock import exclusive

        settings = get_settings()
        with cli_errors(1), exclusive(settings, "outbox"):
            console.print(f"{OutboxSender().run_once(settings)} intents changed")
        return
    from backend.cli.worker import run_workers

    run_workers(["outbox"])
