"""The `loanchain` command with its surroundings failing: one line naming the part and what to do,
exit status 1, no traceback and no credential from a URL; LOANCHAIN_DEBUG=1 keeps the traceback.
A bug (a database error other than the server's own on a database at head) stays a traceback."""

from __future__ import annotations

import json
import os
import sqlite3
import subprocess
import sys

import pytest
from sqlalchemy.exc import IntegrityError, OperationalError, ProgrammingError

from tests.conftest import free_port, make_settings


def loanchain(*args: str, tmp_path, **env: str) -> subprocess.CompletedProcess:
    environment = {k: v for k, v in os.environ.items() if not k.startswith("LOANCHAIN_") and k not in ("RPC_URL", "DATABASE_URL")}
    environment |= {"DATABASE_URL": f"sqlite:///{tmp_path / 'empty.db'}", "RPC_URL": f"http://127.0.0.1:{free_port()}",
                    "LOANCHAIN_VAR_DIR": str(tmp_path / "var")} | env
    return subprocess.run([sys.executable, "-m", "backend.cli.main", *args], capture_output=True, text=True,
                          env=environment, cwd=tmp_path, timeout=120)


def test_a_database_behind_this_release_is_told_to_upgrade(tmp_path):
    done = loanchain("loan", "list", tmp_path=tmp_path)
    assert done.returncode == 1
    assert "Traceback" not in done.stderr
    assert "is at revision none (empty)" in done.stderr
    assert "run `loanchain db upgrade`" in done.stderr


@pytest.mark.parametrize("command", [["index", "status"], ["outbox", "run", "--once"], ["audit", "verify", "--rpc-url"]],
                         ids=["index status", "outbox run", "audit verify"])  # fmt: skip
def test_an_unreachable_node_is_named_without_the_urls_key(tmp_path, command):
    """Review-recent M4: the sender and the anchor reader put the whole URL, and requests' text that
    repeats it, in their error before the CLI could shorten it (also into the worker's last error)."""
    port = free_port()
    url = f"http://user:SECRET3@127.0.0.1:{port}/v3/SECRETKEY?k=SECRET2"
    deployments = tmp_path / "deployments"  # audit verify first looks up where DocumentAnchor is
    deployments.mkdir()
    (deployments / "31337.json").write_text(json.dumps({"chainId": 31337, "history": [],
                                                        "contracts": {"DocumentAnchor": {"address": "0x" + "11" * 20}}}))  # fmt: skip
    migrated = {"DATABASE_URL": f"sqlite:///{tmp_path / 'platform.db'}", "LOANCHAIN_DEPLOYMENTS_DIR": str(deployments)}
    assert loanchain("db", "upgrade", tmp_path=tmp_path, **migrated).returncode == 0
    args = [*command, url] if command[-1] == "--rpc-url" else command
    done = loanchain(*args, tmp_path=tmp_path, RPC_URL=url, **migrated, COLUMNS="80")
    assert done.returncode in (1, 2), done.stdout + done.stderr  # audit verify: 2, nothing verified
    assert f"http://127.0.0.1:{port}" in done.stderr.replace("\n", "")
    assert "SECRET" not in done.stderr + done.stdout
    assert "Traceback" not in done.stderr


def test_an_unreachable_database_server_is_named_without_its_password(tmp_path):
    port = free_port()
    done = loanchain("loan", "list", tmp_path=tmp_path, DATABASE_URL=f"postgresql://loan:PASSWORD1@127.0.0.1:{port}/x")
    assert done.returncode == 1
    assert f"cannot reach the database at postgresql://127.0.0.1:{port}" in done.stderr
    assert "PASSWORD1" not in done.stderr + done.stdout


def test_debug_keeps_the_traceback(tmp_path):
    done = loanchain("loan", "list", tmp_path=tmp_path, LOANCHAIN_DEBUG="1")
    assert done.returncode == 1
    assert "no such table" in done.stderr


@pytest.mark.parametrize("raised", [
    OperationalError("UPDATE loans", {}, sqlite3.OperationalError("database is locked")),
    IntegrityError("INSERT INTO loans", {}, sqlite3.IntegrityError("UNIQUE constraint failed: loans.id")),
    ProgrammingError("SELECT nothing", {}, sqlite3.ProgrammingError("a bug's SQL")),
], ids=["operational", "integrity", "programming"])  # fmt: skip
def test_on_a_database_at_head_only_the_servers_failure_is_one_line_a_bug_is_a_traceback(tmp_path, monkeypatch,
                                                                                          capsys, raised):  # fmt: skip
    """Review-recent L5: every database error became "the database refused the command", an
    IntegrityError from a bug included, its traceback hidden."""
    from backend.cli import main as cli
    from backend.db import migrate

    settings = make_settings(tmp_path)
    migrate.upgrade(settings)
    monkeypatch.delenv("LOANCHAIN_DEBUG", raising=False)
    monkeypatch.setattr(cli, "get_settings", lambda: settings)

    def command(**_):
        raise raised

    monkeypatch.setattr(cli, "app", command)
    if isinstance(raised, OperationalError):
        with pytest.raises(SystemExit) as exited:
            cli.main([])
        assert exited.value.code == 1
        assert "failed the command (OperationalError); run with LOANCHAIN_DEBUG=1" in capsys.readouterr().err
    else:
        with pytest.raises(type(raised)):  # uncaught: Python prints its traceback
            cli.main([])
