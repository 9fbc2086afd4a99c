"""`loanchain disclosure`: the public platform figures, as the API serves them, and the monthly
reports published from them (the same services as /api/v1/disclosure)."""

from __future__ import annotations

from pathlib import Path

import typer
from rich.table import Table

from backend.cli.output import cli_errors, console, iso_day, plain, print_json
from backend.config import get_settings

app = typer.Typer(help="Public platform figures and the monthly disclosure reports.")


@app.callback(invoke_without_command=True)
def disclosure_command(ctx: typer.Context, json_out: bool = typer.Option(False, "--json")) -> None:
    """Loans by status, principal originated / outstanding / repaid, defaults, reserve cover and
    net loss, from the chain index (`make run`'s indexer keeps it within seconds of the chain; with
    the platform stopped, `loanchain index sync` catches it up)."""
    if ctx.invoked_subcommand is not None:
        return
    from backend.db.session import session_scope
    from backend.disclosure.service import platform_disclosure

    settings = get_settings()
    with cli_errors(), session_scope(settings) as session:
        report = platform_disclosure(session, settings)
    if json_out:
        print_json(report.model_dump(mode="json"))
        return
    console.print(f"as of block {report.as_of_block}")
    console.print("loans: " + ", ".join(f"{k} {v}" for k, v in report.loans.model_dump().items()))
    console.print(
        f"principal originated {report.principal_originated:,}, outstanding {report.principal_outstanding:,}, "
        f"repaid {report.principal_repaid:,}; interest paid {report.interest_paid:,}"
    )
    d = report.defaults
    rate = "n/a" if report.net_loss_rate is None else f"{report.net_loss_rate:.2%}"
    fee_only = f" ({d.fee_only} on late fees only)" if d.fee_only else ""
    console.print(f"defaults {d.count}{fee_only}: principal {d.principal_at_default:,}, reserve cover {d.reserve_cover:,}, "
                  f"recovered {d.recovered:,}, net loss {d.net_loss:,} ({rate} of originated)")  # fmt: skip
    if report.gross_charge_off_rate is not None:
        console.print(f"gross charge-offs {d.gross_charge_off:,}: {report.gross_charge_off_rate:.2%} a year of the "
                      f"average principal outstanding ({report.average_principal_outstanding:,})")  # fmt: skip
    reserve = report.reserve
    if reserve.balance_difference:
        console.print(f"reserve balance on chain {reserve.balance_on_chain:,} differs from its events' "
                      f"{reserve.balance_from_events:,} by {reserve.balance_difference:,}")  # fmt: skip
    for out in reserve.unexplained_outflows:
        console.print(f"reserve outflow not explained by a default: {out.amount:,} to {out.to} ({out.reason}, "
                      f"tx {out.tx_hash})")  # fmt: skip
    if reserve.expected_cover_share is not None:
        stressed = ", ".join(f"{s.expected_cover_share:.1%} with {s.pd_multiple:g}x the defaults" for s in reserve.stress)
        largest = "" if reserve.largest_claim is None else (
            f"; the largest loan's default would get {min(1.0, reserve.largest_claim_coverage):.1%} of its claim of "
            f"{reserve.largest_claim:,}")  # fmt: skip
        console.print(f"reserve {reserve.balance:,}: pays {reserve.expected_cover_share:.1%} of a default's principal "
                      f"as expected ({stressed}){largest}")  # fmt: skip
    rolls = ", ".join(f"{r.bucket} {r.rate:.1%}" for r in report.roll_rates)
    settled = report.roll_rates[0].episodes if report.roll_rates else 0
    console.print(f"roll rates to default: {rolls} (from {settled} settled late installments, with a stated prior)")
    late, held = report.delinquency, report.forbearance
    console.print(f"{late.loans_16_plus} loans 16+ days late ({late.principal_16_plus:,} principal); {held.loans} under a "
                  f"hardship plan kept so far ({held.principal:,} principal, {held.loans_16_plus} of them 16+ days late)")
    platform = sorted(name for name, source in report.sources.items() if source.startswith("platform records"))
    console.print(f"from the platform's own records, not the chain: {', '.join(platform)}")
    m = report.market
    console.print(f"secondary market: {m.open_listings} open offers ({m.notes_offered:,} notes), "
                  f"{m.open_bids} open bids ({m.notes_wanted:,} notes), {m.trades} trades, "
                  f"{m.notes_traded:,} notes for {m.volume:,}")  # fmt: skip


@app.command("publish")
def publish_command(
    period: str = typer.Option(..., help="A month that has ended on chain, YYYY-MM"),
    json_out: bool = typer.Option(False, "--json"),
) -> None:
    """Freeze PERIOD's figures, as of its last block, into a document, store it by CID and queue it
    for anchoring (once per month; the servicing worker does this by itself, oldest month first)."""
    from backend.db.session import session_scope
    from backend.disclosure.reports import publish

    settings = get_settings()
    with cli_errors(), session_scope(settings) as session:
        report, created = publish(session, settings, period, actor="cli")
    if json_out:
        print_json(report.model_dump(mode="json"))
        return
    state = "published" if created else "already published"
    console.print(f"{report.period} {state}: cid {report.cid}, hash {report.doc_hash}, as of block {report.as_of_block}")


@app.command("reports")
def reports_command(json_out: bool = typer.Option(False, "--json")) -> None:
    """The monthly reports published, newest first, with their CID and anchoring transaction, then
    the months that have ended with no report yet and why (the JSON is the published list, as the API's)."""
    from backend.db.session import session_scope
    from backend.disclosure.reports import list_reports, missing_reports

    with cli_errors(), session_scope(get_settings()) as session:
        reports, missing = list_reports(session), missing_reports(session)
    if json_out:
        print_json([r.model_dump(mode="json") for r in reports])
        return
    table = Table("period", "as of block", "cid", "anchored in", title="Published disclosure reports")
    for r in reports:
        table.add_row(r.period, str(r.as_of_block), r.cid, r.anchor_tx or "(pending)")
    console.print(table)
    for m in missing:
        console.print(f"{m.period} not published: {m.reason}")


BINDING_EXIT = {"bound": 0, "replaced": 1, "unbound": 3, "pending": 4}  # as `loanchain verify`'s verdicts


@app.command("verify-report")
def verify_report_command(
    period: str = typer.Argument(..., help="The month, YYYY-MM"),
    file: Path | None = typer.Option(None, "--file", exists=True, dir_okay=False,
                                     help="A copy of the report to judge (default: the one the platform serves)"),
    rpc_url: str | None = typer.Option(None, "--rpc-url", help="Your own node (default: the configured one)"),
    from_block: int | None = typer.Option(None, "--from-block", min=0,
                                          help="Scan from here (default: DocumentAnchor's deployment block)"),
    json_out: bool = typer.Option(False, "--json"),
) -> None:
    """Read every anchor naming PERIOD from the node: the report must be the one the first names,
    and no second may exist. Exit 0 bound, 1 replaced, 3 unbound (published before reports were
    bound to their month), 4 pending, 2 bad input."""
    from backend.db.session import session_scope
    from backend.disclosure.report_binding import verify_report
    from backend.disclosure.reports import check_period, report_document

    settings = get_settings()
    with cli_errors(), session_scope(settings) as session:
        check_period(period)  # with --file too: the period is printed and asked of the node
        data = file.read_bytes() if file else report_document(session, settings, period)[1]
        binding = verify_report(session, settings, period, data, rpc_url=rpc_url, from_block=from_block)
    if json_out:
        print_json(binding.model_dump(mode="json"))
    else:
        colour = {"bound": "green", "replaced": "red"}.get(binding.status, "yellow")
        console.print(f"[{colour}]{binding.status}[/] {period} report {plain(binding.doc_hash)}: {plain(binding.reason)}",
                      markup=True)  # fmt: skip
        for a in binding.anchors:
            console.print(f"  anchor in block {a.block_number} (tx {a.tx_hash}): {plain(a.doc_hash)}"
                          + (" [red]forged uri[/]" if a.forged else ""), markup=True)  # fmt: skip
    raise typer.Exit(BINDING_EXIT[binding.status])


@app.command("tape")
def tape_command(output: Path | None = typer.Option(None, "--output", "-o", help="Write the CSV here (stdout if not)")) -> None:
    """The loan tape: one CSV row per disbursed loan (terms, grade, PD, payments, delinquency,
    losses), with nothing that identifies a borrower."""
    from backend.db.session import session_scope
    from backend.disclosure.tape import loan_tape, tape_csv

    with cli_errors(), session_scope(get_settings()) as session:
        body = tape_csv(loan_tape(session))
    if output:
        output.write_text(body)
        console.print(f"{body.count(chr(10)) - 1} loans written to {output}")
    else:
        typer.echo(body, nl=False)


@app.command("flows")
def flows_command(
    period: str | None = typer.Option(None, help="YYYY-MM; the month so far (of the index's latest block) by default"),
    json_out: bool = typer.Option(False, "--json"),
) -> None:
    """What happened within a month: loans disbursed, repaid and defaulted, fees, recoveries, trades."""
    from backend.db.session import session_scope
    from backend.disclosure.reports import month_flows

    with cli_errors(), session_scope(get_settings()) as session:
        flows = month_flows(session, period)
    if json_out:
        print_json(flows.model_dump(mode="json"))
        return
    from backend.disclosure.flows import NOT_FLOWS

    so_far = "" if flows.complete else f", so far: to block {flows.as_of_block} ({iso_day(flows.as_of)})"
    table = Table("flow", "amount", title=f"{iso_day(flows.start)} to {iso_day(flows.end)} (UTC, end excluded){so_far}")
    for name, value in flows.model_dump(exclude=set(NOT_FLOWS)).items():
        table.add_row(name.replace("_", " "), f"{value:,}")
    console.print(table)


@app.command("vintages")
def vintages_command(json_out: bool = typer.Option(False, "--json")) -> None:
    """Loans by month of disbursal and how each month's have done as they aged: defaults, losses
    and the cumulative default rate by month on book (the vintage curve)."""
    from backend.db.session import session_scope
    from backend.disclosure.service import indexed_until
    from backend.disclosure.vintages import vintages

    with cli_errors(), session_scope(get_settings()) as session:
        latest = indexed_until(session)
        rows = vintages(session, latest.timestamp if latest else None)
    if json_out:
        print_json([v.model_dump(mode="json") for v in rows])
        return
    table = Table(title="Vintages (months on book: 30 days each)")
    table.add_column("month", no_wrap=True)
    for name in ("loans", "repaid", "defaulted", "originated", "default rate", "net loss", "on book"):
        table.add_column(name)
    table.add_column("by 3 / 6 / 12", no_wrap=True)  # three figures read together: never split across lines
    for v in rows:
        curve = v.cumulative_default_rate
        # Only a month on book every loan has completed is a figure; a partial one is "n/a", not a record.
        at = " / ".join(f"{curve[m - 1]:.1%}" if v.complete_months >= m else "n/a" for m in (3, 6, 12))
        table.add_row(v.vintage, str(v.loans), str(v.repaid_loans), str(v.defaulted_loans), f"{v.principal_originated:,}",
                      f"{v.default_rate:.2%}", f"{v.net_loss_rate:.2%}", str(v.months_on_book), at)  # fmt: skip
    console.print(table)
