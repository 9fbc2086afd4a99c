from __future__ import annotations

import typer
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn
from rich.table import Table

from backend.chain.outbox import intent_public, list_intents, outbox_counts
from backend.chain.restore_reconcile import outbox_hold
from backend.cli.output import console, err_console, plain, print_json
from backend.config import get_settings
from backend.db.session import session_scope

app = typer.Typer(help="The transaction outbox: every on-chain action the platform takes, exactly once.")


@app.command("status")
def status(json_out: bool = typer.Option(False, "--json")) -> None:
    """Intents per status, and who runs the sender."""
    from backend.workers.lease import leases

    settings = get_settings()
    with session_scope(settings) as session:
        counts, held = outbox_counts(session), outbox_hold(session)
    sender = next((lease for lease in leases(settings) if lease.name == "outbox"), None)
    if json_out:
        print_json({"counts": counts, "held_after_restore": held, "sender": sender and {"holder": sender.holder, "heartbeat_at": sender.heartbeat_at}})
        return
    console.print("  ".join(f"{plain(k)} [bold]{v}[/]" for k, v in counts.items()), markup=True)
    if sender:
        console.print(f"sender: {sender.holder} (last seen {sender.heartbeat_at:%Y-%m-%d %H:%M:%S})")
    else:
        console.print("sender: [yellow]none has run yet[/]", markup=True)
    if held:
        console.print("[yellow]held after restore:[/] nothing is sent until `loanchain outbox reconcile`", markup=True)


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


@app.command("reconcile")
def reconcile(
    from_block: int = typer.Option(None, "--from-block", help="Scan from this block instead of the backup's "
                                   "(a chain whose clock lags the backup host's, or an outbox not held)"),
    json_out: bool = typer.Option(False, "--json"),
) -> None:
    """After a restore: find on chain the restored intents the lost host already sent, mark them
    sent (the sender confirms them), list the rest, and lift the hold on the outbox."""
    from backend.chain.restore_reconcile import reconcile_after_restore
    from backend.cli.output import cli_errors

    settings = get_settings()
    with cli_errors(), Progress(TextColumn("reading the blocks since the backup"), BarColumn(), MofNCompleteColumn(),
                                console=err_console, transient=True, disable=json_out) as bar:  # fmt: skip
        task = bar.add_task("scan", total=None)
        report = reconcile_after_restore(settings, from_block,
                                         progress=lambda done, total: bar.update(task, completed=done, total=total))
    if json_out:
        print_json(report.__dict__)
        return
    if not report.held and report.from_block is None:
        console.print("the outbox is not held: nothing to reconcile")
        return
    console.print(f"blocks {report.from_block}..{report.to_block}: {len(report.matched)} intents found executed "
                  f"(now sent, confirmed by the sender), {len(report.left)} not found (sent from now on); hold lifted",
                  soft_wrap=True)  # one line however narrow the terminal: scripts and people grep it  # fmt: skip
    for m in report.matched:
        console.print(f"  executed: {m['key']} as {m['tx_hash']} (nonce {m['nonce']}, block {m['block']})")
    for left in report.left:
        console.print(f"  not found: {left['key']} ({left['status']})")
    for tx in report.unknown:
        console.print(f"  [yellow]unknown to the backup:[/] {plain(tx['tx_hash'])} to {plain(tx['to'])} "
                      f"(nonce {tx['nonce']}, block {tx['block']}): its intent was enqueued after the backup", markup=True)  # fmt: skip


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
