"""`loanchain bench ...`: benchmarks."""

from __future__ import annotations

from contextlib import nullcontext
from pathlib import Path

import typer
from rich.text import Text

from backend.cli.model import bench_score_command
from backend.cli.output import cli_errors, console, err_console, plain, print_json, write_report
from backend.config import get_settings

app = typer.Typer(help="Benchmarks")
app.command("score")(bench_score_command)


def _timed(what: str, run, json_out: bool, output: Path | None) -> dict | None:
    """A long benchmark run under a spinner (none with --json: the JSON is the output), its report
    written to `output`; the report to print as text, or None once printed as JSON."""
    waiting = nullcontext() if json_out else console.status(what)
    with waiting, cli_errors():
        report = run()
    write_report(report, output)
    if json_out:
        print_json(report)
        return None
    return report


@app.command("gas")
def gas_command(
    json_out: bool = typer.Option(False, "--json", help="Print the full report as JSON."),
    output: Path = typer.Option(None, "--output", "-o", help="Also write the JSON report to this file."),
    rpc_url: str = typer.Option(None, "--rpc-url", help="Measure on this local chain instead, snapshotted and reverted "
                                "afterwards: never one the platform is using (its indexer would see a reorg)."),
) -> None:
    """Gas of each lending operation, on a temporary Anvil of its own (the chain `make run` serves
    is left alone)."""
    from backend.chain.bench.gas import BUDGETS, KEYS, run_gas_bench

    with cli_errors():
        report = run_gas_bench(get_settings(), rpc_url=rpc_url)
    write_report(report, output)
    if json_out:
        print_json(report)
    else:
        for key in KEYS:
            budget = BUDGETS.get(key)
            mark = "" if budget is None else ("[green]ok[/]" if report[key] <= budget else "[red]over[/]")
            console.print(f"{key:<22} {report[key]:>10,}  {'<= ' + format(budget, ',') if budget else '':<14} {mark}",
                          markup=True)  # fmt: skip
        console.print(f"{'per-loan deploy (TrueFi)':<22} {report['baseline_per_loan_contract_deploy']:>10,}  "
                      f"lifecycle/deploy = {report['lifecycle_vs_contract_deploy_ratio']}")  # fmt: skip
    failed = [k for k, ok in report["within_budget"].items() if not ok]
    if failed:
        err_console.print(f"[red]over budget:[/] {plain(', '.join(failed))}", markup=True)
        raise typer.Exit(1)


@app.command("outbox")
def outbox_command(
    transactions: int = typer.Option(200, min=20, help="Transactions sent each way with automine."),
    interval_transactions: int = typer.Option(20, min=20, help="Transactions sent each way with 1-second blocks."),
    json_out: bool = typer.Option(False, "--json", help="Print the full report as JSON."),
    output: Path = typer.Option(None, "--output", "-o", help="Also write the JSON report to this file."),
) -> None:
    """Outbox throughput and latency against sending one transaction at a time (temporary Anvil)."""
    from backend.chain.bench.outbox import run_outbox_bench

    report = run_outbox_bench(get_settings(), transactions, interval_transactions)
    write_report(report, output)
    if json_out:
        print_json(report)
        return
    for scenario in ("automine", "block_time_1s"):
        console.print(Text(scenario, style="bold"))
        for key, value in report[scenario].items():
            console.print(f"  {key:<36} {value}")


@app.command("disclosure")
def disclosure_command(
    loans: list[int] = typer.Option([1_000, 10_000], "--loans", min=10, help="Book sizes to time (repeat the option)."),
    repeats: int = typer.Option(5, min=1, help="Timed reads per size."),
    json_out: bool = typer.Option(False, "--json", help="Print the full report as JSON."),
    output: Path = typer.Option(None, "--output", "-o", help="Also write the JSON report to this file."),
) -> None:
    """Time of the public disclosure read against the size of the book (synthetic books in
    temporary SQLite databases; no chain)."""
    from backend.disclosure.bench import run_disclosure_bench

    report = _timed("building the books and timing the reads", lambda: run_disclosure_bench(get_settings(), sorted(loans), repeats), json_out, output)
    if report is None:
        return
    for row in report["sizes"]:
        console.print(f"{row['loans']:>8,} loans: {row['read_ms_p50']:>8.1f} ms a read (p50), {row['read_ms_max']:.1f} max; "
                      f"{row['unchanged_read_ms_p50']} ms with nothing changed since the last; loan tape "
                      f"{row['loan_tape_ms_p50']:.1f} ms")
    console.print(f"{report['size_ratio']:.0f}x the loans: {report['time_ratio']}x the time")


@app.command("alerts")
def alerts_command(
    loans: list[int] = typer.Option([1_000, 10_000, 50_000], "--loans", min=10,
                                    help="Book sizes to time (repeat the option)."),  # fmt: skip
    repeats: int = typer.Option(3, min=1, help="Timed reads per size."),
    json_out: bool = typer.Option(False, "--json", help="Print the full report as JSON."),
    output: Path = typer.Option(None, "--output", "-o", help="Also write the JSON report to this file."),
) -> None:
    """Time of a monitoring alerts read against the size of the book (synthetic books in temporary
    SQLite databases, the contracts on a temporary Anvil of their own)."""
    from backend.audit.bench import run_alerts_bench

    report = _timed("building the books and timing the reads", lambda: run_alerts_bench(get_settings(), sorted(loans), repeats), json_out, output)
    if report is None:
        return
    for row in report["sizes"]:
        slowest = max(row["rule_ms_p50"], key=row["rule_ms_p50"].get)
        console.print(f"{row['loans']:>8,} loans, {row['note_transfers']:,} note transfers, {row['credit_decisions']:,} "
                      f"decisions: {row['read_ms_p50']:>8.1f} ms a read (p50), {row['alerts']:,} alerts; slowest rule "
                      f"alone {slowest} {row['rule_ms_p50'][slowest]:.1f} ms")  # fmt: skip
    console.print(f"{report['size_ratio']:.0f}x the loans: {report['time_ratio']}x the time "
                  f"({report['time_ratio_per_10x_loans']}x per 10x)")


@app.command("trace")
def trace_command(
    loans: list[int] = typer.Option([5, 25], "--loans", min=1, help="Loans on the chain (repeat the option)."),
    repeats: int = typer.Option(20, min=1, help="Timed traces per size."),
    json_out: bool = typer.Option(False, "--json", help="Print the full report as JSON."),
    output: Path = typer.Option(None, "--output", "-o", help="Also write the JSON report to this file."),
) -> None:
    """Latency (p50, p95) and JSON-RPC calls of one loan's trace against the number of other loans
    on the chain (temporary Anvil and SQLite database)."""
    from backend.chain.bench.trace import run_trace_bench

    report = _timed("making the loans and timing the traces", lambda: run_trace_bench(get_settings(), sorted(loans), repeats), json_out, output)
    if report is None:
        return
    for row in report["sizes"]:
        console.print(f"{row['loans']:>6,} loans ({row['blocks']:,} blocks): {row['trace_ms_p50']:>7.1f} ms a trace (p50), "
                      f"{row['trace_ms_p95']:.1f} p95; {row['rpc_calls']} JSON-RPC calls in {row['http_requests']} requests")
    console.print(f"{report['rpc_calls_ratio']}x the calls, {report['time_ratio']}x the time")
