from __future__ import annotations

import dataclasses

import typer
from rich.text import Text

from backend.chain.indexer import Indexer, index_status, rebuild
from backend.cli.output import cli_errors, console, plain, print_json
from backend.config import get_settings
from backend.workers.lock import exclusive

app = typer.Typer(help="The chain index: contract events and projections in SQL.")


@app.command("status")
def status(json_out: bool = typer.Option(False, "--json")) -> None:
    """Chain head, indexed block and lag."""
    st = index_status(get_settings())
    if json_out:
        print_json(st.__dict__)
        return
    console.print(f"head {st.head}  target {st.target}  indexed {st.indexed}  lag [bold]{st.lag}[/]  "
                  f"events {st.events}  reorgs {st.reorgs}", markup=True)  # fmt: skip


@app.command("sync")
def sync() -> None:
    """Index up to head - confirmations, then exit (holds the indexer lock meanwhile)."""
    settings = get_settings()
    with cli_errors(1), exclusive(settings, "indexer"), console.status("indexing…"):
        blocks = Indexer().catch_up(settings)
    console.print(f"indexed {blocks} blocks; at {index_status(settings).indexed}")


@app.command("rebuild")
def rebuild_command(yes: bool = typer.Option(False, "--yes", help="Do not ask.")) -> None:
    """Drop the index and projections and re-read them from the chain (waits for no indexer worker)."""
    if not yes:
        typer.confirm("Drop and rebuild the chain index?", abort=True)
    settings = get_settings()
    with cli_errors(1), exclusive(settings, "indexer"), console.status("rebuilding the index from the chain…"):
        events = rebuild(settings)
    console.print(f"[green]rebuilt[/]: {events} events up to block {index_status(settings).indexed}", markup=True)


@app.command("verify")
def verify_command(
    from_block: int = typer.Option(None, "--from-block", min=0, help="First block to check (default: the deployment's)."),
    to_block: int = typer.Option(None, "--to-block", min=0,
                                 help="Last block to check (default: the chain's confirmed head, latest - confirmations)."),
    json_out: bool = typer.Option(False, "--json"),
) -> None:
    """Re-fetch every followed contract's logs from the node, up to the chain's confirmed head, and
    compare them with the index row by row (missing, extra, altered); over the whole range, the
    projections with a fresh fold too. Logs past the index's checkpoint are listed as not indexed
    yet. Exits 1 on any difference, or when the index is not current (LOANCHAIN_INDEX_STALE_AFTER)."""
    from backend.chain.index_check import verify_index

    settings = get_settings()
    with cli_errors(1), console.status("reading the chain's logs…"):
        report = verify_index(settings, from_block, to_block)
    if json_out:
        print_json({**dataclasses.asdict(report), "ok": report.ok})
    else:
        console.print(f"blocks {report.from_block}-{report.to_block} (indexed through {report.indexed_through}): "
                      f"{report.events_on_chain} logs on chain, {report.events_indexed} indexed events")  # fmt: skip
        console.print(f"  {'' if report.current else '[red]STALE: [/]'}{plain(report.lag)}", markup=True)
        for difference in report.differences:
            console.print(Text(f"  {difference}", style="red"))
        for pending in report.not_indexed_yet:
            console.print(f"  not indexed yet: {pending}")
        for difference in report.projection_differences:
            console.print(f"  [red]projection[/] {plain(difference)}", markup=True)
        for note in report.notes:
            console.print(f"  note: {note}")
        projections = "projections as a fresh fold" if report.projections_checked else "projections not compared"
        console.print("[green]index matches the chain[/]" if report.ok else "[red]INDEX DIFFERS FROM THE CHAIN[/]",
                      f"({projections})", markup=True)  # fmt: skip
    if not report.ok:
        raise typer.Exit(1)
