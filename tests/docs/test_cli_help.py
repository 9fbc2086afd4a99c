"""The CLI's help says what is true while `make run` is up: its indexer keeps the index current, and
`loanchain index sync` (which refuses while that indexer runs) is for a stopped platform."""

from __future__ import annotations

import pytest
from typer.testing import CliRunner

from backend.cli.main import app


@pytest.mark.parametrize("command", [["loan", "list"], ["market", "offers"], ["market", "bids"],
                                     ["portfolio", "statement"], ["audit", "alerts"]])  # fmt: skip
def test_index_backed_commands_do_not_send_users_to_a_command_that_refuses(command):
    result = CliRunner().invoke(app, [*command, "--help"], env={"COLUMNS": "200"})
    assert result.exit_code == 0, result.output
    text = " ".join(result.output.replace("│", " ").split())
    assert "run `loanchain index sync` first" not in text and "index sync" in text
    assert "make run" in text and "stopped" in text
