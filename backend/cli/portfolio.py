"""`loanchain portfolio ...`: an investor's statement (the same service as
GET /api/v1/portfolio/statement), for the investor's accountant or an auditor."""

from __future__ import annotations

from pathlib import Path

import typer
from rich.table import Table

from backend.cli.output import cli_errors, console, print_json
from backend.config import get_settings

app = typer.Typer(no_args_is_help=True, help="Investors' statements from the chain index.")


@app.command("statement")
def statement_command(
    wallet: str = typer.Argument(..., help="The investor's wallet"),
    year: int | None = typer.Option(None, min=2015, max=9998, help="Calendar year (UTC, block time); all by default"),
    csv_out: Path | None = typer.Option(None, "--csv", help="Write the lines as CSV to this file"),
    json_out: bool = typer.Option(False, "--json"),
) -> None:
    """Every movement between WALLET and LoanBook, with the transaction that proves it (run
    `loanchain index sync` first for fresh data)."""
    from backend.db.session import session_scope
    from backend.identity.roles import checksum
    from backend.lending.statement import statement_csv, statement_of

    settings = get_settings()
    with cli_errors(), session_scope(settings) as session:
        report = statement_of(session, settings, checksum(wallet), year)
    if csv_out:
        csv_out.write_text(statement_csv(report))
    if json_out:
        print_json(report.model_dump(mode="json"))
        return
    table = Table("loan", "status", "grade", "funded", "refunded", "collected", "net", "notes now", "claimable now",
                  title=f"{report.wallet} {year or 'all years'} ({len(report.lines)} movements)")  # fmt: skip
    for loan in report.loans:
        table.add_row(str(loan.loan_id), loan.status, loan.grade or "-", f"{loan.funded:,}", f"{loan.refunded:,}",
                      f"{loan.collected:,}", f"{loan.net_cash:,}", f"{loan.notes_held:,}", f"{loan.claimable:,}")  # fmt: skip
    console.print(table)
    console.print(f"net cash {report.net_cash:,} base units (10^{report.decimals} per token)"
                  + (f"; lines written to {csv_out}" if csv_out else ""))  # fmt: skip
