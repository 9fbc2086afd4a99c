"""`loanchain cid FILE` prints the CID and stores nothing."""

from __future__ import annotations

import typer
from typer.testing import CliRunner

from backend.cli.content import cid_command
from tests.content.conftest import SIZES, payload


def _app() -> typer.Typer:
    app = typer.Typer()
    app.command("cid")(cid_command)
    app.command("other")(lambda: None)  # two commands, so `cid` is addressed by name as in main.py
    return app


def test_cid_prints_the_ipfs_cid(tmp_path, expected_cids):
    size = SIZES[-1]
    file = tmp_path / "contract.pdf"
    file.write_bytes(payload(size))
    result = CliRunner().invoke(_app(), ["cid", str(file)])
    assert result.exit_code == 0, result.output
    assert result.output == expected_cids[size] + "\n"
    assert sorted(path.name for path in tmp_path.iterdir()) == ["contract.pdf"]


def test_cid_of_a_missing_file_fails(tmp_path):
    result = CliRunner().invoke(_app(), ["cid", str(tmp_path / "absent.pdf")])
    assert result.exit_code != 0
