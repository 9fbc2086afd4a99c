"""`loanchain servicing ...`: run a servicing pass, and the aging and collections views."""

from __future__ import annotations

import typer
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn
from rich.table import Table

from backend.cli.output import cli_errors, console, iso_day, print_json
from backend.config import get_settings
from backend.workers.lock import exclusive

app = typer.Typer(no_args_is_help=True, help="Post-loan management: aging buckets, reminders, collections, defaults.")


@app.command("run")
def run_command(json_out: bool = typer.Option(False, "--json")) -> None:
    """One round of the `servicing` worker (it runs every minute): positions from LoanBook, notices
    due, payouts, cancellations and markDefault queued in the outbox where the contract allows them;
    then the monthly disclosure report when due, release letters, and e-mail and SMS delivery."""
    from backend.db.session import session_scope
    from backend.servicing.service import active_loan_count, after_pass, servicing_pass

    settings = get_settings()
    # The worker's lock, as `index` and `outbox` commands take theirs: a round by hand never runs
    # beside the worker's (two deliveries at once; the claim in `channels.deliver` is the last word).
    with cli_errors(), exclusive(settings, "servicing"):
        with session_scope(settings) as session:
            total = active_loan_count(session)
            with Progress(TextColumn("servicing"), BarColumn(), MofNCompleteColumn(), console=console,
                          disable=json_out) as bar:  # fmt: skip
                task = bar.add_task("loans", total=total)
                report = servicing_pass(session, settings, progress=lambda: bar.advance(task))
        after = after_pass(settings)
    if json_out:
        print_json(report.model_dump(mode="json") | {"emails_sent": after.emailed, "sms_sent": after.texted,
                                                     "releases_issued": after.released,
                                                     "monthly_report_published": after.published})  # fmt: skip
        return
    buckets = ", ".join(f"{k} {v}" for k, v in sorted(report.buckets.items())) or "none"
    console.print(f"{report.loans} active loans ({buckets}); {report.notices_created} notices "
                  f"({report.investor_notices} to investors, {after.emailed} e-mailed, {after.texted} texted), "
                  f"{report.defaults_queued} defaults, {report.cancels_queued} cancellations and "
                  f"{report.disbursals_queued} payouts queued; {after.released} release letters issued"
                  + ("; the monthly disclosure report published" if after.published else ""))  # fmt: skip


@app.command("aging")
def aging_command(json_out: bool = typer.Option(False, "--json")) -> None:
    """Active loans by days past due, as of the last pass."""
    from backend.db.session import session_scope
    from backend.servicing.service import aging_report

    with cli_errors(), session_scope(get_settings()) as session:
        report = aging_report(session)
    if json_out:
        print_json(report.model_dump(mode="json"))
        return
    table = Table("bucket", "loans", "principal outstanding", "due now", title=f"aging as of {iso_day(report.as_of) or 'no servicing pass yet'}")
    for b in report.buckets:
        table.add_row(b.bucket, str(b.loans), f"{b.principal_outstanding:,}", f"{b.due_now:,}")
    console.print(table)
    if report.delinquent_share is not None:
        console.print(f"16+ days past due: {report.delinquent_share:.2%} of outstanding principal")


@app.command("collections")
def collections_command(json_out: bool = typer.Option(False, "--json")) -> None:
    """The collections queue: requests for help awaiting an answer first, then promises holding a default, the late (most days first), the defaultable, the defaulted; each case log's latest entry and hardship plan (proposed, on track, or broken last)."""
    from backend.db.session import session_scope
    from backend.servicing.service import collections_queue

    settings = get_settings()
    with cli_errors(), session_scope(settings) as session:
        items = collections_queue(session, settings)
    if json_out:
        print_json([item.model_dump(mode="json") for item in items])
        return
    table = Table("loan", "bucket", "days past due", "owed", "notices", "markDefault")
    for item in items:
        table.add_row(str(item.loan_id), item.bucket, str(item.days_past_due or "-"), f"{item.amount_owed:,}",
                      ", ".join(item.notices), item.default_status or "-")  # fmt: skip
    console.print(table)
    for item in items:  # the latest entry of each case log
        if item.actions:
            last = item.actions[0]
            promise = f" of {last.promised_amount:,} ({last.promise_status})" if last.promise_status else ""
            console.print(f"loan {item.loan_id}, last action: {last.kind}{promise}: {last.note or '(erased)'}")
    for item in items:  # a plan proposed (a second person confirms it: on the web page or the API), on track, or broken
        if plan := item.plan:
            decided = f", confirmed by {plan.decided_by}" if plan.decided_by else ""
            console.print(f"loan {item.loan_id}, hardship plan {plan.id} {plan.status.replace('_', ' ')}: {plan.periods} "
                          f"payments of {plan.installment_amount:,} every {plan.period_days} days, proposed by "
                          f"{plan.proposed_by}{decided}")  # fmt: skip
