"""Shared Rich console and JSON printing for every CLI command."""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import typer
from rich.console import Console
from rich.markup import escape
from rich.text import Text

from backend.bounds import DB_ID_MAX
from backend.errors import LoanchainError, ValidationFailed

# A loan id as a command argument: past what the database holds is a usage error, not a traceback.
LOAN_ID = typer.Argument(min=1, max=DB_ID_MAX, help="LoanBook's loan id")


def loan_id_of(text: str) -> int:
    """A loan id given as text (an argument that may also be a hash or an address), bounded as
    LOAN_ID is: anything else is ValidationFailed, one line under `cli_errors`. ASCII digits only
    ("²".isdigit() is true, and int() refuses it)."""
    if not (text.isascii() and text.isdecimal() and len(text) <= len(str(DB_ID_MAX))) or not 1 <= int(text) <= DB_ID_MAX:
        raise ValidationFailed(f"a loan id is a whole number from 1 to {DB_ID_MAX}")
    return int(text)


# Piped or redirected output has no terminal to fit; Rich would assume 80 columns and cut every
# cell of a wide table. Wide enough for every table, unless COLUMNS says otherwise.
PIPED_WIDTH = 200
# Markup and emoji codes off: most of what is printed is data (names, notes, e-mails, chain strings,
# messages that repeat the user's input), where "[/x]" would crash the command as a bad tag and
# "[bold]" or ":cd:" would be swallowed. A line styled on purpose passes markup=True and escapes
# (`plain`) every value it interpolates, or prints a rich.text.Text.
console = Console(width=None if sys.stdout.isatty() or os.environ.get("COLUMNS") else PIPED_WIDTH, markup=False, emoji=False)
err_console = Console(stderr=True, width=None if sys.stderr.isatty() or os.environ.get("COLUMNS") else PIPED_WIDTH,
                      markup=False, emoji=False)  # fmt: skip


def plain(value: Any) -> str:
    """`value` as text that a markup=True print shows as it is."""
    return escape(str(value))


def print_json(data: Any) -> None:
    # Plain print, not Rich: machine-readable output must not be wrapped or coloured.
    print(json.dumps(data, indent=2, sort_keys=True, default=str))


@contextmanager
def cli_errors(exit_code: int = 2) -> Iterator[None]:
    """A deliberate LoanchainError becomes one red line and `exit_code`, not a traceback."""
    try:
        yield
    except LoanchainError as exc:
        # soft_wrap: one line however narrow the terminal, so the message is never cut or split.
        err_console.print(Text.assemble(("error:", "red"), " ", exc.message), soft_wrap=True)
        raise typer.Exit(exit_code) from None


def write_report(report: dict, output: Path | None) -> None:
    """Write a benchmark's JSON report to `output` when one was asked for."""
    if output:
        output.parent.mkdir(parents=True, exist_ok=True)
        output.write_text(json.dumps(report, indent=2, sort_keys=True) + "\n")


def iso_day(timestamp: int | None) -> str:
    """A block time as its UTC day (empty for none)."""
    return datetime.fromtimestamp(timestamp, UTC).date().isoformat() if timestamp else ""
