"""`loanchain loan ...`: loans as indexed from LoanBook (the same service as GET /api/v1/loans)."""

from __future__ import annotations

import json
from pathlib import Path

import typer
from rich.console import Console
from rich.table import Table

from backend.cli.output import LOAN_ID, cli_errors, console, iso_day, plain, print_json
from backend.config import get_settings

app = typer.Typer(no_args_is_help=True, help="Loans from the chain index: list them, show one with its schedule, its position, its statement and its release letter.")


@app.command("list")
def list_command(
    status: str | None = typer.Option(None, help="funding, active, repaid, defaulted or cancelled"),
    borrower: str | None = typer.Option(None, help="A borrower's wallet"),
    limit: int = typer.Option(50, min=1, max=500),
    json_out: bool = typer.Option(False, "--json"),
) -> None:
    """Loans, newest first, from the chain index (`make run`'s indexer keeps it within seconds of the
    chain; with the platform stopped, `loanchain index sync` catches it up)."""
    from backend.db.session import session_scope
    from backend.lending.loans import list_loans

    with cli_errors(), session_scope(get_settings()) as session:
        page = list_loans(session, status=status, borrower=borrower, limit=limit)
    if json_out:
        print_json(page.model_dump(mode="json"))
        return
    table = Table("id", "status", "borrower", "principal", "funded", "APR", "term", title=f"loans ({page.total})")
    for loan in page.loans:
        table.add_row(str(loan.loan_id), loan.status, loan.borrower, f"{loan.principal:,}", f"{loan.funded:,}",
                      f"{loan.apr_bps / 100:.2f}%", str(loan.installments))  # fmt: skip
    console.print(table)


@app.command("show")
def show_command(loan_id: int = LOAN_ID, json_out: bool = typer.Option(False, "--json")) -> None:
    """One loan: terms, funding, the agreement document and the schedule the contract enforces."""
    from backend.db.session import session_scope
    from backend.lending.loans import get_loan

    with cli_errors(), session_scope(get_settings()) as session:
        loan = get_loan(session, loan_id)
    if json_out:
        print_json(loan.model_dump(mode="json"))
        return
    console.print(f"loan {loan.loan_id} [bold]{plain(loan.status)}[/] borrower {plain(loan.borrower)}", markup=True)
    console.print(f"principal {loan.principal:,}, funded {loan.funded:,}, outstanding {loan.principal_outstanding:,}; "
                  f"APR {loan.apr_bps / 100:.2f}%, origination fee {loan.origination_fee_bps / 100:.2f}%")  # fmt: skip
    anchored = "anchored" if loan.agreement_anchored else "not yet anchored"
    console.print(f"agreement {loan.agreement_cid or 'not held here'} ({anchored}); decision {loan.decision_hash}")
    table = Table("#", "due", "amount", "interest", "principal", "balance after")
    for row in loan.schedule:
        table.add_row(str(row.number), str(row.due_at or "-"), f"{row.amount:,}", f"{row.interest:,}",
                      f"{row.principal:,}", f"{row.balance_after:,}")  # fmt: skip
    console.print(table)


@app.command("position")
def position_command(loan_id: int = LOAN_ID, json_out: bool = typer.Option(False, "--json")) -> None:
    """An active loan's standing now, read from LoanBook: due now, payoff, next due date, days past due."""
    from backend.db.session import session_scope
    from backend.servicing.service import position_now

    settings = get_settings()
    with cli_errors(), session_scope(settings) as session:
        position = position_now(session, settings, loan_id)
    if json_out:
        print_json(position.model_dump(mode="json"))
        return
    console.print(f"loan {loan_id} [bold]{plain(position.bucket)}[/], {position.days_past_due} days past due; "
                  f"{position.installments_paid} installments paid, next due {iso_day(position.next_due_date)}; "
                  f"due now {position.due_now:,}, payoff {position.payoff:,}", markup=True)  # fmt: skip


@app.command("borrower")
def borrower_command(loan_id: int = LOAN_ID, json_out: bool = typer.Option(False, "--json")) -> None:
    """The loan's borrower as investors see it: banded facts and the credit decision, never identity
    (= GET /api/v1/loans/{id}/borrower)."""
    from backend.db.session import session_scope
    from backend.lending.borrower_profile import borrower_profile

    settings = get_settings()
    with cli_errors(), session_scope(settings) as session:
        p = borrower_profile(session, settings, loan_id, None)
    if json_out:
        print_json(p.model_dump(mode="json"))
        return
    ratio = "n/a (income band from 0)" if p.debt_service_ratio_band is None else p.debt_service_ratio_band
    console.print(f"loan {loan_id}: grade [bold]{plain(p.grade)}[/] (PD {p.pd_low:.1%} to {p.pd_high:.1%}), "
                  f"{plain(p.purpose)}, {p.term_months} months", markup=True)  # fmt: skip
    console.print(f"income {p.monthly_income_band} a month, employed {p.employment_length}, housing {p.housing}, "
                  f"credit history {p.credit_history}, {p.existing_loans_with_us} loans with us")  # fmt: skip
    console.print(f"debt service {ratio} of income (cap {p.debt_service_ratio_cap:.0%})")
    if p.score_reasons:
        console.print("lowered the score, of the facts shown:")
    for reason in p.score_reasons:
        console.print(f"  - {reason}")


@app.command("statement")
def statement_command(
    loan_id: int = LOAN_ID,
    year: int | None = typer.Option(None, min=2015, max=9998, help="Calendar year (UTC, block time); the loan's life by default"),
    csv_out: Path | None = typer.Option(None, "--csv", help="Write the lines as CSV to this file"),
    json_out: bool = typer.Option(False, "--json"),
) -> None:
    """The loan's statement for its borrower: every movement on the debt with the transaction that
    proves it, opening and closing balance (= GET /api/v1/loans/{id}/statement, as staff)."""
    from backend.db.session import session_scope
    from backend.lending.loan_statement import loan_statement, loan_statement_csv

    settings = get_settings()
    with cli_errors(), session_scope(settings) as session:
        report = loan_statement(session, settings, loan_id, viewer="", staff=True, year=year)
    if csv_out:
        csv_out.write_text(loan_statement_csv(report))
    if json_out:
        print_json(report.model_dump(mode="json"))
        return
    table = Table("date", "what", "#", "cash", "orig. fee", "late fee", "interest", "principal", "balance after",
                  title=f"loan {loan_id} ({report.status}), {year or 'whole life'}: {len(report.lines)} movements")  # fmt: skip
    for line in report.lines:
        late_fee = line.late_fee_charged or line.late_fee_paid
        balance = line.recoverable if line.kind in ("defaulted", "recovery") else line.principal_outstanding
        table.add_row(iso_day(line.timestamp), line.kind.replace("_", " "), str(line.installment or ""), f"{line.cash:,}",
                      f"{line.origination_fee:,}" if line.origination_fee else "", f"{late_fee:,}" if late_fee else "",
                      f"{line.interest_paid:,}", f"{line.principal_paid:,}", "" if balance is None else f"{balance:,}")  # fmt: skip
    # A statement is read for its figures: nine columns of base units need about 120 characters,
    # and a narrower terminal or a pipe (80 by default) would cut them to "12,000,…".
    Console(width=max(console.width, 120), markup=False, emoji=False).print(table)
    console.print(f"principal {report.opening_principal:,} -> {report.closing_principal:,}; received {report.received:,}, "
                  f"paid {report.paid:,} (interest {report.interest_paid:,}, principal {report.principal_paid:,}, "
                  f"late fees {report.late_fee_paid:,} of {report.late_fee_charged:,} charged)"
                  + (f"; at default {report.charged_at_default:,} of interest and late fees folded into the debt"
                     if report.charged_at_default else "")
                  + (f"; recovered after default {report.recovered:,} (not split by LoanBook)" if report.recovered else "")
                  + (f"; still owed after default {report.closing_recoverable:,}" if report.closing_recoverable else "")
                  + f" (base units, 10^{report.decimals} per token)" + (f"; written to {csv_out}" if csv_out else ""))  # fmt: skip


@app.command("release")
def release_command(
    loan_id: int = LOAN_ID,
    output: Path | None = typer.Option(None, "--output", help="Write the letter's exact bytes to this file"),
    json_out: bool = typer.Option(False, "--json"),
) -> None:
    """The borrower's release letter once nothing more is owed on the loan (= GET
    /api/v1/loans/{id}/release, as staff): its CID, whether it is anchored, and the letter."""
    from backend.db.session import session_scope
    from backend.servicing.release import release_of

    settings = get_settings()
    with cli_errors(), session_scope(settings) as session:
        release = release_of(session, settings, loan_id, viewer="", staff=True)
    if output:
        output.write_text(json.dumps(release.letter, sort_keys=True, separators=(",", ":")))
    if json_out:
        print_json(release.model_dump(mode="json"))
        return
    console.print(f"{release.letter['statement']}\nletter {release.cid} ({'anchored' if release.anchored else 'anchoring'})"
                  + (f"; written to {output}" if output else ""))  # fmt: skip


@app.command("autopay")
def autopay_command(loan_id: int = LOAN_ID, json_out: bool = typer.Option(False, "--json")) -> None:
    """The loan's autopay (= GET /api/v1/loans/{id}/autopay, as staff): the repayment mandate its
    borrower signed, the payments made under it, and why the next one could not be paid, if so."""
    from backend.db.session import session_scope
    from backend.lending.autopay import get_autopay

    settings = get_settings()
    with cli_errors(), session_scope(settings) as session:
        shown = get_autopay(session, settings, "", loan_id, staff=True)
    if json_out:
        print_json(shown.model_dump(mode="json"))
        return
    console.print(f"autopay {shown.mandate_hash} ({shown.status}, until {shown.expires_at:%Y-%m-%d} UTC): at most "
                  f"{shown.mandate.max_per_payment:,} a payment; {len(shown.payments)} paid "
                  f"({sum(p.amount for p in shown.payments):,})")  # fmt: skip
    for warning in shown.warnings:
        console.print(f"[yellow]warning:[/] {plain(warning)}", markup=True)

