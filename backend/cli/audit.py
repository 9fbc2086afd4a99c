"""`loanchain audit verify`, `list`, `trace` and `alerts` (transaction monitoring of notes).

`verify` exits 0 when the log is intact, 1 when an entry was edited, inserted, deleted, rewritten
or misdated, when a seq was anchored twice with different hashes (reanchored), or when its
anchors cannot vouch for it (unverifiable, unanchored, stale: the newest anchor older than an idle
platform's heartbeat allows).
"""

from __future__ import annotations

import typer
from rich.table import Table
from rich.text import Text

from backend.cli.output import cli_errors, console, loan_id_of, plain, print_json
from backend.config import get_settings

app = typer.Typer(help="The tamper-evident audit log, traces, and transaction monitoring.", no_args_is_help=True)


@app.command("verify")
def verify(
    rpc_url: str = typer.Option(None, "--rpc-url", help="Check the anchors against this node."),
    offline: bool = typer.Option(False, "--no-chain", help="Only recompute the hash chain; skip the anchors."),
    chain_scan: bool = typer.Option(
        True, "--chain-scan/--no-chain-scan",
        help="Also find checkpoints from the chain's Anchored events and batch manifests, not only the database's.",
    ),  # fmt: skip
    from_block: int = typer.Option(
        None, "--from-block", min=0,
        help="Scan the chain from this block (default: where DocumentAnchor was created, as the chain confirms "
        "the deployment manifest's block; else 0). Anchors before it are not seen.",
    ),  # fmt: skip
    json_out: bool = typer.Option(False, "--json"),
) -> None:
    """Recompute the hash chain, check it against its on-chain anchors, name the first bad entry."""
    from backend.audit.schemas import AuditReportPublic
    from backend.audit.verify import verify_audit_log
    from backend.db.session import session_scope

    settings = get_settings()
    with cli_errors(), session_scope(settings) as session, console.status("verifying the audit log…"):
        report = AuditReportPublic.of(verify_audit_log(
            session, settings, rpc_url=rpc_url, check_anchors=not offline, scan_chain=chain_scan, from_block=from_block
        ))
    if json_out:
        print_json(report.model_dump(mode="json"))
        raise typer.Exit(0 if report.ok else 1)
    console.print(f"{report.entries} entries, head at seq {report.head_seq}")
    for cp in report.checkpoints:
        colour = {"holds": "green", "pending": "cyan", "lost in restore": "yellow"}.get(cp.status, "red")
        where = f" block {cp.block_number}" if cp.block_number else ""
        console.print(f"  anchor at seq {cp.seq}: [{colour}]{plain(cp.status)}[/]{where}  {plain(cp.detail)}", markup=True)
    if report.ok:
        words = _anchored_words(report.last_verified_anchor_seq, "verifies")
        console.print(f"[bold green]INTACT[/]  {plain(words)}", markup=True)
        covered = report.last_verified_anchor_seq or 0
        if not offline and report.head_seq and covered < report.head_seq:
            console.print(f"  entries {covered + 1}..{report.head_seq} are not anchored yet (within the allowed delay)")
        raise typer.Exit(0)
    first = report.first_issue
    if first.kind in ("unverifiable", "unanchored", "stale"):
        console.print(f"[bold red]{plain(first.kind.upper())}[/]  {plain(first.detail)}", markup=True)
    elif first.kind in ("reanchored", "checkpoint"):
        console.print(f"[bold red]TAMPERED[/]  {plain(first.kind)} at seq {first.seq}: {plain(first.detail)}", markup=True)
    else:
        console.print(f"[bold red]TAMPERED[/]  first {plain(first.kind)} entry: seq {first.seq}  ({plain(first.detail)})",
                      markup=True)  # fmt: skip
    for issue in report.issues[1:]:
        console.print(f"  also: {issue.kind} at seq {issue.seq}: {issue.detail}")
    console.print(_anchored_words(report.last_verified_anchor_seq, "still verifies"))
    raise typer.Exit(1)


def _anchored_words(seq: int | None, verb: str) -> str:
    if seq is None:
        return "no anchored entry verifies yet (none is anchored, or the first anchor does not hold)"
    return f"last anchored seq that {verb}: {seq}"


@app.command("list")
def list_entries(
    after: int = typer.Option(0, help="Entries after this seq."),
    limit: int = typer.Option(50, help="How many."),
    json_out: bool = typer.Option(False, "--json"),
) -> None:
    """Audit entries in order."""
    from backend.audit.log import entries
    from backend.audit.schemas import AuditEntryPublic
    from backend.db.session import session_scope

    with cli_errors(), session_scope(get_settings()) as session:
        found = entries(session, after_seq=after, limit=limit)
        rows = [AuditEntryPublic.model_validate(e).model_dump(mode="json") for e in found]
    if json_out:
        print_json(rows)
        return
    table = Table("seq", "when", "actor", "action", "subject", "hash")
    for r in rows:
        table.add_row(str(r["seq"]), r["recorded_at"], r["actor"], r["action"], r["subject"], r["entry_hash"][:18] + "…")
    console.print(table)


@app.command("trace")
def trace_command(
    kind: str = typer.Argument(..., help="loan, tx or address"),
    ref: str = typer.Argument(..., help="The loan id, transaction hash (0x and 64 hex digits) or address"),
    json_out: bool = typer.Option(False, "--json"),
) -> None:
    """Trace a loan, a transaction or an address end to end, with the checks an auditor needs."""
    from backend.audit import trace
    from backend.db.session import session_scope
    from backend.errors import ValidationFailed

    settings = get_settings()
    with cli_errors(), session_scope(settings) as session:
        if kind == "loan":
            report = trace.trace_loan(session, settings, loan_id_of(ref))
        elif kind == "tx":
            report = trace.trace_tx(session, settings, ref)
        elif kind == "address":
            report = trace.trace_address(session, settings, ref)
        else:
            raise ValidationFailed("trace what: loan, tx or address")
    if json_out:
        print_json(report.model_dump(mode="json"))
        return
    verdict = Text("consistent", style="green") if getattr(report, "consistent", True) else Text("INCONSISTENT", style="red")
    if kind == "loan":
        console.print(f"loan {report.loan_id} {report.status}, borrower {report.borrower}: ", verdict, sep="")
    if kind == "tx":
        console.print(f"tx {report.tx_hash}: ", verdict, sep="")
    if kind == "address":
        console.print(f"address {report.address}: ", verdict, sep="")
    for check in getattr(report, "checks", []):
        console.print(f"  {'[green]ok[/]' if check.ok else '[red]FAIL[/]'} {plain(check.name)}: {plain(check.detail)}",
                      markup=True)  # fmt: skip
    for event in getattr(report, "events", []):
        console.print(f"  block {event.block_number} tx {event.tx_hash[:12]}… {event.event}")
    if kind == "address":
        console.print(f"  KYC level {report.attestation_level}, borrower of {report.loans_as_borrower}, "
                      f"notes in {sorted(report.notes)}, in {report.total_in:,}, out {report.total_out:,}")  # fmt: skip
        for entry in report.ledger:
            console.print(f"  block {entry.block_number} {entry.direction:>8} {entry.amount:>16,} {entry.kind} "
                          f"loan {entry.loan_id} {entry.counterparty}{' via ' + entry.via if entry.via else ''}")  # fmt: skip
        for kind_, total in sorted(report.totals.items()):
            console.print(f"  total {kind_}: {total:,}")
        if report.reconciliation:
            r = report.reconciliation
            console.print(f"  {'[green]ok[/]' if r.ok else '[red]FAIL[/]'} reconciliation: {plain(r.detail)}", markup=True)


@app.command("alerts")
def alerts_command(
    rule: str = typer.Option(None, help="round_trip, cycle, off_market_price, large_gift, structured_gifts, "
                             "first_payment_default, early_payment_default, related_party_funding, role_change, pause, "
                             "reserve_outflow, promise_chain, answers_changed or collection_wallet"),
    since: int = typer.Option(0, help="Only movements at or after this block time (Unix seconds)."),
    open_only: bool = typer.Option(False, "--open", help="Only alerts nobody has reviewed yet."),
    json_out: bool = typer.Option(False, "--json"),
) -> None:
    """Monitoring alerts: note movements, loans, contract control and credit applications a person
    should review, from the chain index (`make run`'s indexer keeps it current; with the platform
    stopped, `loanchain index sync`) and the decisions."""
    from backend.audit.monitoring import alerts
    from backend.db.session import session_scope

    settings = get_settings()
    with cli_errors(), session_scope(settings) as session:
        found = alerts(session, settings, since, rule, open_only)
    if json_out:
        print_json([a.model_dump(mode="json") for a in found])
        return
    table = Table("key", "rule", "loan", "wallets", "amount", "detail", "review", title=f"alerts ({len(found)})")
    for a in found:
        review = f"{a.review.decision} by {a.review.reviewer}" if a.review else "open"
        table.add_row(a.key, a.rule, "" if a.loan_id is None else str(a.loan_id), "\n".join(a.wallets), f"{a.amount:,}", a.detail, review)
    console.print(table)
