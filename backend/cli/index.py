from __future__ import annotations

import typer

from backend.chain.indexer import Indexer, index_status, rebuild
from backend.cli.output import cli_errors, console, print_json
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
                  f"events {st.events}  reorgs {st.reorgs}")  # fmt: skip


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
    console.print(f"[green]rebuilt[/]: {events} events up to block {index_status(settings).indexed}")
