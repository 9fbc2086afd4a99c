"""`loanchain portfolio ...`: an investor's positions (the same service as GET /api/v1/portfolio)
and statement, cash and earnings (GET /api/v1/portfolio/statement), for the investor's accountant
or an auditor."""

from __future__ import annotations

from pathlib import Path

import typer
from rich.table import Table

from backend.cli.output import cli_errors, console, plain, print_json
from backend.config import get_settings

app = typer.Typer(no_args_is_help=True, help="Investors' positions and statements from the chain index.")


@app.command("show")
def show_command(wallet: str = typer.Argument(..., help="The investor's wallet"), json_out: bool = typer.Option(False, "--json")) -> None:
    """WALLET's positions, exposure and concentration, expected loss, what it can collect or take
    back, and the warnings the investor sees."""
    from backend.db.session import session_scope
    from backend.identity.roles import checksum
    from backend.lending.portfolio import portfolio_of

    settings = get_settings()
    with cli_errors(), session_scope(settings) as session:
        report = portfolio_of(session, settings, checksum(wallet))
    if json_out:
        print_json(report.model_dump(mode="json"))
        return
    table = Table("loan", "status", "standing", "grade", "PD now", "notes", "at stake", "expected loss", "to collect", "bids now",
                  title=f"{report.wallet} ({len(report.positions)} positions)")  # fmt: skip
    for p in report.positions:
        standing = "-" if p.days_past_due is None else f"{p.days_past_due} days late" if p.days_past_due else "current"
        pd = "-" if p.pd_now is None else f"{p.pd_now:.1%}"
        table.add_row(str(p.loan_id), p.status, standing, p.grade or "-", pd, f"{p.notes:,}", f"{p.exposure:,}",
                      "-" if p.expected_loss is None else f"{p.expected_loss:,}", f"{p.claimable:,}", f"{p.bid_now:,}")  # fmt: skip
    console.print(table)
    annual = "n/a" if report.net_annual_return is None else f"{report.net_annual_return:.2%}"
    console.print(f"exposure {report.exposure:,} in {report.loans_at_risk} loans (largest {report.largest_share:.1%}, "
                  f"effective {report.effective_loans:.1f}); expected loss {report.expected_loss:,} "
                  f"({report.expected_loss_after_cover:,} after the reserve's cover); fair value "
                  f"{report.fair_value:,}; to collect "
                  f"{report.claimable:,}; to take back {report.refundable:,}; net annual return {annual}")  # fmt: skip
    for warning in report.warnings:
        console.print(f"[yellow]warning:[/] {plain(warning)}", markup=True)


@app.command("statement")
def statement_command(
    wallet: str = typer.Argument(..., help="The investor's wallet"),
    year: int | None = typer.Option(None, min=2015, max=9998, help="Calendar year (UTC, block time); all by default"),
    csv_out: Path | None = typer.Option(None, "--csv", help="Write the lines as CSV to this file"),
    earnings_out: Path | None = typer.Option(None, "--earnings-csv", help="Write what the notes earned, per event, as CSV"),
    json_out: bool = typer.Option(False, "--json"),
) -> None:
    """Every movement between WALLET and LoanBook, with the transaction that proves it (as fresh as
    the chain index: `make run`'s indexer keeps it within seconds; with the platform stopped,
    `loanchain index sync` catches it up)."""
    from backend.db.session import session_scope
    from backend.identity.roles import checksum
    from backend.lending.statement import earnings_csv, statement_csv, statement_of

    settings = get_settings()
    with cli_errors(), session_scope(settings) as session:
        report = statement_of(session, settings, checksum(wallet), year)
    if csv_out:
        csv_out.write_text(statement_csv(report))
    if earnings_out:
        earnings_out.write_text(earnings_csv(report))
    if json_out:
        print_json(report.model_dump(mode="json"))
        return
    table = Table("loan", "status", "grade", "funded", "refunded", "collected", "net", "notes now", "claimable now",
                  "interest", "fees", "written off", "net return",
                  title=f"{report.wallet} {year or 'all years'} ({len(report.lines)} movements)")  # fmt: skip
    for loan in report.loans:
        e = loan.earnings
        table.add_row(str(loan.loan_id), loan.status, loan.grade or "-", f"{loan.funded:,}", f"{loan.refunded:,}",
                      f"{loan.collected:,}", f"{loan.net_cash:,}", f"{loan.notes_held:,}", f"{loan.claimable:,}",
                      f"{e.interest:,}", f"{e.late_fees:,}", f"{e.written_off:,}", f"{e.net_return:,}")  # fmt: skip
    console.print(table)
    e = report.earnings
    console.print(f"net cash {report.net_cash:,}; earned: interest {e.interest:,}, late fees {e.late_fees:,}, "
                  f"principal back {e.principal:,}, cover {e.cover:,}, recovered {e.recovered:,}, "
                  f"written off {e.written_off:,}, trading {e.market_result:,}, net return {e.net_return:,} "
                  f"(base units, 10^{report.decimals} per token)"
                  + "".join(f"; written to {p}" for p in (csv_out, earnings_out) if p))  # fmt: skip
    console.print(f"years with activity: {', '.join(map(str, report.years))}" if report.years else "no activity yet")


@app.command("mandate")
def mandate_command(wallet: str = typer.Argument(..., help="The investor's wallet"), json_out: bool = typer.Option(False, "--json")) -> None:
    """WALLET's funding mandate (its active one, else its latest): the bounds it signed, what it has
    funded on chain and what is left (the same service as GET /api/v1/portfolio/rule/mandate)."""
    from backend.db.session import session_scope
    from backend.identity.roles import checksum
    from backend.lending.mandates import get_mandate

    settings = get_settings()
    with cli_errors(), session_scope(settings) as session:
        shown = get_mandate(session, settings, checksum(wallet))
    if json_out:
        print_json(shown.model_dump(mode="json"))
        return
    m = shown.mandate
    console.print(f"mandate {shown.mandate_hash} ({shown.status}, until {shown.expires_at:%Y-%m-%d %H:%M} UTC): "
                  f"{shown.spent:,} of {m.budget:,} spent, {shown.left:,} left; at most {m.per_loan:,} per loan, "
                  f"APR {m.min_apr_bps / 100:.2f}% to {m.max_apr_bps / 100:.2f}%, at most {m.max_installments} "
                  f"installments and {m.max_term // 86_400:,} days")  # fmt: skip
    table = Table("loan", "amount", "block", "tx", title=f"fundings ({len(shown.fundings)})")
    for f in shown.fundings:
        table.add_row(str(f.loan_id), f"{f.amount:,}" + (" (released: loan cancelled, refunded)" if f.released else ""),
                      str(f.block_number), f.tx_hash[:18] + "…")  # fmt: skip
    console.print(table)


@app.command("fund-mandates")
def fund_mandates_command(json_out: bool = typer.Option(False, "--json")) -> None:
    """Queue a FundingAgent.fundWithMandate for every funding the active mandates call for (what the
    mandate-keeper worker does every `LOANCHAIN_MANDATE_KEEPER_INTERVAL` seconds); the outbox
    worker sends them."""
    from backend.db.session import session_scope
    from backend.lending.mandate_keeper import fund_by_mandates

    settings = get_settings()
    with cli_errors(), session_scope(settings) as session:
        queued = fund_by_mandates(session, settings)
    if json_out:
        print_json([vars(f) for f in queued])
        return
    table = Table("loan", "amount", "wallet", "mandate", title=f"fundings queued ({len(queued)})")
    for f in queued:
        table.add_row(str(f.loan_id), f"{f.amount:,}", f.wallet, f.mandate_hash[:18] + "…")
    console.print(table)
