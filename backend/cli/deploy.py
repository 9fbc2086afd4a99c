from __future__ import annotations

import typer

from backend.chain.compiler import compile_contracts
from backend.chain.deploy import deploy_all
from backend.cli.output import console, plain, print_json
from backend.config import get_settings
from backend.db.migrate import where


def deploy_command(
    json_out: bool = typer.Option(False, "--json", help="Print the report as JSON."),
    replace: list[str] = typer.Option(
        [], "--replace", metavar="CONTRACT",
        help="Off a local chain: replace this contract though its code changed on a chain that holds it (its state "
             "stays on the old address, no longer followed). Repeatable; what names it follows.",
    ),  # fmt: skip
) -> None:
    """Deploy and wire every contract; reuses what the chain already has (see deployments/<chainId>.json)."""
    settings = get_settings()
    compile_contracts(settings)
    with console.status(f"deploying to {where(settings.rpc_url)}…"):  # a hosted URL's path or query is its key
        report = deploy_all(settings, replace=replace)
    if json_out:
        print_json({"chainId": report.chain_id, "deployed": report.deployed, "reused": report.reused,
                    "wired": report.wired, "manifest": str(report.manifest_path)})  # fmt: skip
        return
    for name, entry in report.manifest["contracts"].items():
        state = "[green]deployed[/]" if name in report.deployed else "[dim]unchanged[/]"
        console.print(f"{plain(name):<16} {plain(entry['address'])}  {state}", markup=True)
    for step in report.wired:
        console.print(f"wired: {step}")
    console.print(f"manifest: {report.manifest_path}")


def serve_command(
    host: str = typer.Option(None, help="Bind address (default: settings.api_host)."),
    port: int = typer.Option(None, help="Port (default: settings.api_port)."),
    workers: int = typer.Option(1, help="API worker processes (use PostgreSQL for more than one)."),
) -> None:
    """Serve the API with uvicorn."""
    import uvicorn

    settings = get_settings()
    host, port = host or settings.api_host, port or settings.api_port
    base = f"http://{'127.0.0.1' if host in ('0.0.0.0', '::') else host}:{port}"
    console.print(f"web app {base}/app/  API docs {base}/docs  health {base}/health  (Ctrl-C or `make stop` stops it)")
    uvicorn.run("backend.api.main:app", host=host, port=port, workers=workers)
