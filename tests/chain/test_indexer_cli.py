"""`loanchain outbox|index|worker` commands and the indexer part of /health."""

from __future__ import annotations

import json

import pytest
from typer.testing import CliRunner

from backend.cli.main import app
from backend.config import get_settings
from backend.services.health import check_indexer
from tests.chain.outbox_checks import enqueue_faucets


@pytest.fixture
def cli(outbox_settings, monkeypatch):
    s = outbox_settings
    for key, value in {
        "DATABASE_URL": s.database_url, "RPC_URL": s.rpc_url, "CHAIN_PORT": str(s.chain_port),
        "VAR_DIR": str(s.var_dir), "DEPLOYMENTS_DIR": str(s.deployments_dir),
    }.items():  # fmt: skip
        monkeypatch.setenv(f"LOANCHAIN_{key}", value)
    get_settings.cache_clear()
    runner = CliRunner()
    yield lambda *args: runner.invoke(app, list(args), catch_exceptions=False)
    get_settings.cache_clear()


def test_outbox_commands(cli, outbox_settings):
    enqueue_faucets(outbox_settings, [11_000_001])
    assert "pending 1" in cli("outbox", "status").output
    assert "intents changed" in cli("outbox", "run", "--once").output
    listed = json.loads(cli("outbox", "list", "--json").output)
    assert [(r["key"], r["status"]) for r in listed] == [("faucet-11000001", "confirmed")]
    status = json.loads(cli("outbox", "status", "--json").output)
    assert status["counts"]["confirmed"] == 1


def test_index_commands_and_health(cli, outbox_settings):
    before = check_indexer(outbox_settings)
    assert before["ok"] is True and before["status"] == "not started"
    assert "indexed" in cli("index", "sync").output
    status = json.loads(cli("index", "status", "--json").output)
    assert status["lag"] == 0 and status["indexed"] == status["head"] and status["events"] > 0
    rebuilt = cli("index", "rebuild", "--yes")
    assert rebuilt.exit_code == 0 and f"{status['events']} events" in rebuilt.output
    after = check_indexer(outbox_settings)
    assert after == {**after, "ok": True, "status": "ok", "lag": 0}


def test_lag_never_fails_health(outbox_settings, w3):
    from backend.chain.indexer import Indexer
    from backend.chain.node import rpc_call

    Indexer().catch_up(outbox_settings)
    rpc_call(outbox_settings.rpc_url, "anvil_mine", [hex(30)])
    part = check_indexer(outbox_settings)
    assert part["ok"] is True and part["status"] == "lagging" and part["lag"] == 30


def test_one_shot_commands_refuse_while_the_worker_holds_its_lock(cli, outbox_settings):
    from backend.workers.lock import make_lock

    lock = make_lock(outbox_settings, "indexer")
    assert lock.acquire()
    try:
        result = CliRunner().invoke(app, ["index", "rebuild", "--yes"])
        assert result.exit_code == 1 and "indexer worker is running elsewhere" in result.output
    finally:
        lock.release()
