"""Every command's help renders, and a group lists each command's summary as one sentence: a
docstring's line breaks are not printed as breaks mid-sentence (Typer's "rich" mode kept them)."""

from __future__ import annotations

import inspect

import typer
from typer.testing import CliRunner

from backend.cli.main import app

WIDE = 400  # every summary fits on one line


def groups(command, path: list[str]):
    # Typer vendors its own click: a group is whatever has commands.
    if hasattr(command, "commands"):
        yield path, command
        for name, sub in command.commands.items():
            yield from groups(sub, [*path, name])


def test_each_group_lists_its_commands_summaries_unbroken():
    runner = CliRunner()
    checked = 0
    for path, group in groups(typer.main.get_command(app), []):
        listing = runner.invoke(app, [*path, "--help"], terminal_width=WIDE, env={"COLUMNS": str(WIDE)})
        assert listing.exit_code == 0, (path, listing.output)
        lines = [line.strip("│ ") for line in listing.output.splitlines()]
        for name, sub in group.commands.items():
            summary = " ".join(inspect.cleandoc(sub.help or "").split("\n\n")[0].split())
            assert any(summary in line for line in lines), (path, name, summary)
            checked += 1
    assert checked > 50
