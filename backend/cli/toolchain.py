from __future__ import annotations

import typer
from rich.table import Table

from backend.chain.compiler import compile_contracts
from backend.cli.output import console, print_json
from backend.config import get_settings


def compile_command(
    force: bool = typer.Option(False, "--force", help="Compile even when sources are unchanged."),
    json_out: bool = typer.Option(False, "--json", help="Print the artifact summary as JSON."),
) -> None:
    """Compile contracts/ with solc (npm solcjs via the adapter, or a native solc) into artifacts/."""
    settings = get_settings()
    with console.status("compiling contracts…"):
        result = compile_contracts(settings, force=force)
    summary = {
        name: {"artifactHash": a["artifactHash"], "bytecodeBytes": (len(a["bytecode"]) - 2) // 2}
        for name, a in result.artifacts.items()
        if len(a["bytecode"]) > 2
    }
    if json_out:
        print_json({"inputHash": result.input_hash, "compiled": result.written, "contracts": summary})
        return
    table = Table(title=f"artifacts ({'compiled' if result.written else 'up to date'})")
    table.add_column("contract")
    table.add_column("bytes", justify="right")
    table.add_column("artifact hash (sha256 of creation bytecode)")
    for name, row in summary.items():
        table.add_row(name, str(row["bytecodeBytes"]), row["artifactHash"])
    console.print(table)
