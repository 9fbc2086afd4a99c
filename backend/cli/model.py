"""`loanchain model ...`: train, evaluate, score a CSV, write the model card. Plus the
`bench score` command body (`bench_score_command`), registered by the bench sub-app."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING

import typer
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table
from rich.text import Text

from backend.cli.output import cli_errors, console, err_console, plain, print_json, write_report

if TYPE_CHECKING:  # the CLI imports the scoring stack lazily, per command
    from backend.scoring.schemas import FairLendingPublic

app = typer.Typer(no_args_is_help=True, help="Credit scoring model: train, evaluate, score, model card.")

DataOption = typer.Option(
    None, "--data", help="Labelled CSV with the german_credit.csv columns (default: data/german_credit.csv)."
)
ArtifactOption = typer.Option(None, "--artifact", help="Model artifact JSON (default: the shipped one).")


@contextmanager
def _progress(description: str, total: int) -> Iterator[Callable[[], None]]:
    # On stderr, so `--json` output on stdout stays machine-readable.
    columns = (TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn())
    with Progress(*columns, console=err_console, transient=True) as bar:
        task = bar.add_task(description, total=total)
        yield lambda: bar.advance(task)


def _dataset(data: Path | None, require_label: bool = True):
    from backend.scoring.dataset import TRAINING_CSV, load_dataset

    return load_dataset(Path(data or TRAINING_CSV), require_label=require_label)


def _scorer(artifact: Path | None):
    from backend.scoring.scorer import get_scorer

    return get_scorer(artifact)


def _with_cv_scheme(config, folds: int | None, repeats: int | None):
    """The recipe with the command line's folds and repeats, where given."""
    from dataclasses import replace

    return replace(config, folds=folds or config.folds, repeats=repeats or config.repeats)


@app.command("train")
def train(
    data: Path = DataOption,
    output: Path = typer.Option(None, "--output", "-o", help="Where to write the artifact (default: the shipped one)."),
    folds: int | None = typer.Option(
        None, min=2, help="CV folds (for the out-of-fold calibration and grade bands) (default: the recipe's, 5)."
    ),
    repeats: int | None = typer.Option(None, min=1, help="CV repeats (default: the recipe's, 10)."),
    json_out: bool = typer.Option(False, "--json", help="Print the artifact's metrics as JSON."),
) -> None:
    """Fit the scorecard, calibrate it out of fold, and write the versioned JSON artifact."""
    from backend.scoring.artifact import DEFAULT_ARTIFACT, write_artifact
    from backend.scoring.builder import build_artifact
    from backend.scoring.training import TrainingConfig

    with cli_errors():
        dataset = _dataset(data)
        config = _with_cv_scheme(TrainingConfig(), folds, repeats)
        with _progress("cross-validating and fitting", config.folds * config.repeats + 1) as advance:
            artifact = build_artifact(dataset, config, advance)
        path = Path(output or DEFAULT_ARTIFACT)
        write_artifact(artifact, path)
    if json_out:
        print_json({"model_version": artifact["model_version"], "artifact": str(path), "metrics": artifact["metrics"]})
        return
    cv = artifact["metrics"]["cross_validated"]
    console.print(f"wrote [bold]{plain(path)}[/]\nmodel version {plain(artifact['model_version'])}", markup=True)
    console.print(f"CV AUC {cv['auc']['mean']:.3f} ± {cv['auc']['std']:.3f} ({cv['scheme']})")


@app.command("evaluate")
def evaluate(
    data: Path = DataOption,
    artifact: Path = ArtifactOption,
    cv: bool = typer.Option(True, "--cv/--no-cv", help="Also cross-validate the training recipe on the file."),
    folds: int = typer.Option(None, min=2, help="CV folds (default: as trained, 5)."),
    repeats: int = typer.Option(None, min=1, help="CV repeats (default: as trained, 10)."),
    json_out: bool = typer.Option(False, "--json", help="Print the full report as JSON."),
) -> None:
    """Metrics of the shipped model on a labelled file, plus cross-validated AUC with spread.

    AUC, Gini, KS, Brier, calibration by decile, approval rate and bad rate among approved;
    then the training recipe re-fitted by repeated stratified k-fold on the same file."""
    from backend.scoring.evaluation import evaluate as run
    from backend.scoring.training import TrainingConfig

    with cli_errors():
        scorer = _scorer(artifact)
        dataset = _dataset(data)
        config = _with_cv_scheme(TrainingConfig.from_json(scorer.artifact["hyperparameters"]), folds, repeats)
        if cv:
            with _progress("cross-validating", config.folds * config.repeats) as advance:
                report = run(dataset, scorer, True, config, advance)
        else:
            report = run(dataset, scorer, False)
    if json_out:
        print_json(report)
        return
    _print_evaluation(report)


def _print_evaluation(report: dict) -> None:
    shipped = report["shipped_model"]
    table = Table(title=f"model {report['model_version'][:18]}... on {report['data']['file']}")
    table.add_column("metric")
    table.add_column("shipped model on file")
    table.add_column("cross-validated (mean ± sd)")
    cv = report.get("cross_validated", {})
    for name in ("auc", "gini", "ks", "brier"):
        spread = cv.get(name)
        table.add_row(name, f"{shipped[name]:.3f}", f"{spread['mean']:.3f} ± {spread['std']:.3f}" if spread else "-")
    console.print(table)
    console.print(Text(shipped["note"], style="dim"))
    console.print(
        f"approval rate {shipped['approval_rate']:.1%}, bad rate among approved "
        f"{(shipped['bad_rate_among_approved'] or 0):.1%} (cut-offs {report['cutoffs']})"
    )


@app.command("score")
def score(
    input: Path = typer.Option(..., "--input", "-i", help="CSV with the german_credit.csv columns."),
    output: Path = typer.Option(..., "--output", "-o", help="CSV to write: score, grade, pd, decision, reasons."),
    artifact: Path = ArtifactOption,
) -> None:
    """Score every row of a CSV with the german_credit.csv columns, in input order.

    A `creditability` column is ignored. A bad cell stops the run with its field and row
    (row 1 = first line after the header)."""
    from backend.scoring.batch import score_csv

    with cli_errors():
        rows = score_csv(_scorer(artifact), input, output)
    err_console.print(f"scored {rows} rows -> {output}")


@app.command("card")
def card(
    data: Path = DataOption,
    artifact: Path = ArtifactOption,
    output_dir: Path = typer.Option(None, "--output-dir", help="Where the card and its plots go (default: docs/model_card)"),
) -> None:
    """Write the model card (Markdown + PNG plots) to docs/model_card/.

    Data, method, bins and points, cross-validated metrics, candidates, calibration, score
    distribution, fairness by sex and age group. Re-fits the model ~1,450 times (1,000 of them for the bagged challenger): several minutes on two cores."""
    from backend.config import ROOT
    from backend.scoring.card import CARD_DIR, write_card
    from backend.scoring.card_analysis import analyse, steps
    from backend.scoring.training import TrainingConfig

    with cli_errors():
        scorer = _scorer(artifact)
        dataset = _dataset(data)
        config = TrainingConfig.from_json(scorer.artifact["hyperparameters"])
        with _progress("model card: cross-validating candidates", steps(config, len(scorer.table.names))) as advance:
            analysis = analyse(dataset, scorer, advance)
        path = write_card(analysis, scorer, dataset, Path(output_dir or ROOT / CARD_DIR))
    console.print(f"wrote {path}")


@app.command("prove-decision")
def prove_decision(
    decision_hash: str = typer.Argument(..., help="The decision hash, e.g. from a loan's on-chain terms."),
    json_out: bool = typer.Option(False, "--json"),
) -> None:
    """Show which model and inputs produced a decision hash: check the record against its hash,
    replay it with the same model version, list the on-chain loans that carry it. Exit 1 if it
    does not verify."""
    from backend.config import get_settings
    from backend.db.session import session_scope
    from backend.scoring.service import prove_decision as prove

    with cli_errors(), session_scope(get_settings()) as session:
        proof = prove(session, decision_hash)
    if json_out:
        print_json(proof.model_dump(mode="json"))
        raise typer.Exit(0 if proof.verified else 1)
    d = proof.decision
    console.print(f"decision {d.id} at {d.created_at:%Y-%m-%d %H:%M:%S} (recorded {proof.records}x)")
    console.print(f"  model {d.model_version}, inputs {d.input_hash}")
    console.print(f"  score {d.score}, grade {d.grade}, PD {d.pd:.4f}, {d.decision}")
    console.print(f"  record matches its hash: {'yes' if proof.hash_intact else '[red]NO[/]'}"
                  + (f" (columns altered: {plain(', '.join(proof.altered_columns))})" if proof.altered_columns else ""),
                  markup=True)  # fmt: skip
    if not proof.model_available:
        console.print("  replay: [yellow]this installation does not hold that model version[/]", markup=True)
    else:
        replay = "same outputs" if proof.reproduced else f"[red]differs[/] ({plain(', '.join(proof.differences))})"
        console.print(f"  replay with the same model: {replay}", markup=True)
    for loan in proof.loans:
        console.print(f"  on-chain loan {loan.loan_id} ({loan.status}), block {loan.block_number}, tx {loan.tx_hash}")
        differs = f"[red]NOT the decision's[/] ({plain('; '.join(loan.differences))})"
        terms = "the decision's" if loan.matches_decision else differs
        console.print(f"    its terms: {terms}", markup=True)
    if not proof.loans:
        console.print("  no indexed on-chain loan carries this hash")
    console.print("[bold green]VERIFIED[/]" if proof.verified else "[bold red]NOT VERIFIED[/]", markup=True)
    raise typer.Exit(0 if proof.verified else 1)


@app.command("verify-decisions")
def verify_decisions(json_out: bool = typer.Option(False, "--json")) -> None:
    """Check every recorded decision: against its hash, its columns against its hashed outputs,
    and a replay with its model version where this installation holds it. Exit 1 on any issue."""
    from backend.config import get_settings
    from backend.db.session import session_scope
    from backend.scoring.integrity import audit_decisions, decision_count

    with cli_errors(), session_scope(get_settings()) as session:
        columns = (TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn())
        with Progress(*columns, console=err_console, transient=True, disable=json_out) as bar:
            task = bar.add_task("checking decisions", total=decision_count(session))
            report = audit_decisions(session, lambda n: bar.advance(task, n))
    if json_out:
        print_json({**report.model_dump(mode="json"), "ok": report.ok})
        raise typer.Exit(0 if report.ok else 1)
    console.print(f"{report.checked} decisions checked, {report.replayed} replayed with their model version"
                  + (f"; {report.erased} not checked: their application was erased" if report.erased else ""))
    if report.issues:
        table = Table("decision", "hash", "problems", title="decisions that do not verify")
        for issue in report.issues:
            table.add_row(issue.id, issue.decision_hash, ", ".join(issue.problems))
        console.print(table)
    console.print("[bold green]ALL VERIFIED[/]" if report.ok else f"[bold red]{len(report.issues)} NOT VERIFIED[/]",
                  markup=True)  # fmt: skip
    raise typer.Exit(0 if report.ok else 1)


@app.command("fairness")
def fairness(
    since: datetime | None = typer.Option(None, help="Decisions from this date (UTC), e.g. 2026-01-01"),
    until: datetime | None = typer.Option(None, help="Decisions before this date (UTC)"),
    actor: str = typer.Option("cli", help="Who reads the dates of birth (audited)"),
    json_out: bool = typer.Option(False, "--json"),
) -> None:
    """Fair-lending monitoring of live decisions: approval rate and adverse impact ratio by age band.
    Exit 1 when a band falls below four fifths of the best band's approval rate."""
    from backend.config import get_settings
    from backend.db.session import session_scope
    from backend.scoring.fair_lending import live_fairness

    settings = get_settings()
    with cli_errors(), session_scope(settings) as session:
        report = live_fairness(session, settings, actor, since, until)
    if json_out:
        print_json(report.model_dump(mode="json"))
    else:
        _print_fairness(report)
    raise typer.Exit(1 if report.flagged else 0)


@app.command("fairness-check")
def fairness_check(json_out: bool = typer.Option(False, "--json")) -> None:
    """Today's scheduled fair-lending check (as the `fair-lending` worker takes it, over the trailing
    LOANCHAIN_FAIR_LENDING_WINDOW_DAYS), taken now if it was not yet; shows the latest. Exit 1 when it
    flagged a band."""
    from backend.config import get_settings
    from backend.db.session import session_scope
    from backend.scoring.fair_lending_checks import checks, run_check

    settings = get_settings()
    with cli_errors(), session_scope(settings) as session:
        run_check(session, settings, actor="cli")
    with cli_errors(), session_scope(settings) as session:
        (latest,) = checks(session, limit=1)
    if json_out:
        print_json(latest.model_dump(mode="json"))
    else:
        console.print(f"fair-lending check of {latest.checked_on} by {latest.checked_by}")
        _print_fairness(latest.report)
    raise typer.Exit(1 if latest.flagged else 0)


def _print_fairness(report: FairLendingPublic) -> None:
    small = f"<{report.min_group}"  # a withheld group: too few to show without singling someone out
    unknown = small if report.unknown_age is None else str(report.unknown_age)
    total = "applicants withheld" if report.applicants is None else f"{report.applicants} applicants"
    table = Table("age band", "applicants", "approved", "referred, open", "approval rate", "impact ratio",
                  title=f"{total} ({unknown} of unknown age)")  # fmt: skip
    for g in report.groups:
        if g.withheld:
            table.add_row(g.group, small, "", "", "", "")
            continue
        ratio = "" if g.adverse_impact_ratio is None else f"{g.adverse_impact_ratio:.2f}" + (" ✗" if g.below_four_fifths else "")
        table.add_row(g.group, str(g.applicants), str(g.approved), str(g.still_referred), f"{g.approval_rate:.1%}", ratio)
    console.print(table)
    if report.note:
        console.print(report.note)
    if report.flagged:
        console.print(Text(f"below four fifths: {', '.join(report.flagged)}", style="bold red"))


def bench_score_command(
    json_out: bool = typer.Option(False, "--json", help="Print the full report as JSON."),
    output: Path = typer.Option(None, "--output", "-o", help="Also write the JSON report to this file."),
) -> None:
    """Scoring latency (p50/p95 per decision) and batch throughput on one core."""

    from backend.scoring.bench import run_score_bench

    report = run_score_bench()
    write_report(report, output)
    if json_out:
        print_json(report)
    else:
        single, batch = report["single_decision_ms"], report["batch"]
        console.print(
            f"decision p50 {single['p50']:.3f} ms, p95 {single['p95']:.3f} ms (goal < {report['goals']['p95_ms']} ms)"
        )
        console.print(f"batch {batch['rows_per_s']:,.0f} rows/s (goal >= {report['goals']['rows_per_s']:,})")
    if not report["meets_goals"]:
        err_console.print("[red]scoring benchmark misses its goals[/]", markup=True)
        raise typer.Exit(1)
