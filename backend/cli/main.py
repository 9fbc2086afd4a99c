"""`loanchain`: one Typer app, one sub-app per domain. Commands call the same services as the API."""

from __future__ import annotations

import inspect
import os
import sys
from collections.abc import Sequence

import typer
from rich.text import Text

from backend.cli import (
    anchor,
    audit,
    backup,
    bench,
    chain,
    content,
    db,
    deploy,
    disclosure,
    index,
    kyc,
    loan,
    market,
    model,
    outbox,
    portfolio,
    roles,
    servicing,
    toolchain,
    verify,
    worker,
)
from backend.cli.failures import explain
from backend.cli.output import err_console
from backend.config import get_settings

app = typer.Typer(name="loanchain", help="Blockchain-anchored P2P lending platform.", no_args_is_help=True)
app.command("compile")(toolchain.compile_command)
app.command("deploy")(deploy.deploy_command)
app.command("serve")(deploy.serve_command)
app.command("cid")(content.cid_command)
app.add_typer(chain.app, name="chain")
app.add_typer(db.app, name="db")
app.add_typer(outbox.app, name="outbox")
app.add_typer(index.app, name="index")
app.add_typer(worker.app, name="worker")
app.add_typer(anchor.app, name="anchor")
app.command("verify")(verify.verify_command)
app.add_typer(audit.app, name="audit")
app.add_typer(kyc.app, name="kyc")
app.add_typer(bench.app, name="bench")
app.add_typer(model.app, name="model")
app.add_typer(disclosure.app, name="disclosure")
app.add_typer(loan.app, name="loan")
app.add_typer(portfolio.app, name="portfolio")
app.add_typer(market.app, name="market")
app.add_typer(servicing.app, name="servicing")
app.add_typer(backup.app, name="backup")
app.add_typer(roles.app, name="roles")


def _unwrap_summaries(group: typer.Typer) -> None:
    """Typer's rich help prints a docstring's line breaks as they are in a group's command list,
    mid-sentence; each command's help is its docstring with every paragraph on one line."""
    for info in group.registered_commands:
        doc = info.callback.__doc__ if info.help is None and info.callback else None
        if doc:
            info.help = "\n\n".join(" ".join(paragraph.split()) for paragraph in inspect.cleandoc(doc).split("\n\n"))
    for sub in group.registered_groups:
        _unwrap_summaries(sub.typer_instance)


_unwrap_summaries(app)



def main(argv: Sequence[str] | None = None) -> None:
    """The `loanchain` command: `app`, with a chain node or database that cannot be reached (or a
    database behind this release) said in one line and exit status 1 instead of a traceback."""
    try:
        app(args=argv, prog_name="loanchain")
    except Exception as exc:
        if os.environ.get("LOANCHAIN_DEBUG"):
            raise
        try:
            line = explain(exc, get_settings())
        except Exception:  # noqa: BLE001 - a second failure while explaining: show the first as it is
            line = None
        if line is None:
            raise
        err_console.print(Text.assemble(("error:", "red"), " ", line), soft_wrap=True)
        sys.exit(1)


if __name__ == "__main__":
    main()
