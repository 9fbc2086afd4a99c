"""Outbox and indexer fixtures: per-test databases on the session chain (reverted afterwards),
and a chain of their own for tests that kill or reorganise the node."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from backend.chain.deploy import deploy_all
from backend.chain.node import LocalNode
from backend.config import Settings
from backend.db import migrate
from tests.conftest import free_port, make_settings

ROOT = Path(__file__).resolve().parents[2]
RECIPIENT = "0x000000000000000000000000000000000000bEEF"  # receives faucet intents in the drills


def with_db(settings: Settings, database_url: str, **overrides) -> Settings:
    s = settings.model_copy(update={"database_url": database_url, **overrides})
    migrate.upgrade(s)
    return s


@pytest.fixture
def outbox_settings(chain_settings, deployment, snapshot, tmp_path) -> Settings:
    """SQLite database of its own on the session chain; the chain is reverted afterwards."""
    return with_db(chain_settings, f"sqlite:///{tmp_path / 'outbox.db'}", var_dir=tmp_path / "var")


@pytest.fixture
def outbox_settings_any_db(chain_settings, deployment, snapshot, tmp_path, database_url) -> Settings:
    """The same on SQLite and on PostgreSQL."""
    return with_db(chain_settings, database_url, var_dir=tmp_path / "var")


@pytest.fixture
def own_chain(tmp_path, artifacts) -> Iterator[tuple[Settings, LocalNode]]:
    """An Anvil of its own (state file under tmp_path), deployed, with a migrated SQLite database.
    It is stopped gracefully once (state dumped) so that the deployment survives any crash."""
    port = free_port()
    settings = make_settings(tmp_path, chain_port=port, rpc_url=f"http://127.0.0.1:{port}")
    node = LocalNode(settings, kind="anvil")
    node.start()
    deploy_all(settings)
    node.stop()
    node.start()
    migrate.upgrade(settings)
    yield settings, node
    node.stop(hard=True)


def subprocess_env(settings: Settings, **extra: str) -> dict[str, str]:
    """Environment that makes a `loanchain` subprocess see exactly these settings."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("LOANCHAIN_") and k not in ("DATABASE_URL", "RPC_URL")}
    env.update(
        LOANCHAIN_DATABASE_URL=settings.database_url,
        LOANCHAIN_RPC_URL=settings.rpc_url,
        LOANCHAIN_CHAIN_PORT=str(settings.chain_port),
        LOANCHAIN_VAR_DIR=str(settings.var_dir),
        LOANCHAIN_DEPLOYMENTS_DIR=str(settings.deployments_dir),
        LOANCHAIN_CONFIRMATIONS=str(settings.confirmations),
        PYTHONPATH=str(ROOT),
        **extra,
    )
    return env


def loanchain(settings: Settings, *args: str, timeout: float = 120, **extra_env: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "backend.cli.main", *args],
        env=subprocess_env(settings, **extra_env), cwd=settings.var_dir.parent, capture_output=True, text=True,
        timeout=timeout,
    )  # fmt: skip


def start_loanchain(settings: Settings, *args: str, **extra_env: str) -> subprocess.Popen:
    settings.var_dir.mkdir(parents=True, exist_ok=True)
    log = open(settings.var_dir / f"proc-{time.monotonic_ns()}.log", "wb")
    return subprocess.Popen(
        [sys.executable, "-m", "backend.cli.main", *args], env=subprocess_env(settings, **extra_env),
        cwd=settings.var_dir.parent, stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
    )  # fmt: skip


def wait_until(predicate, timeout: float = 60.0, interval: float = 0.2, what: str = "condition"):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(interval)
    raise AssertionError(f"timed out waiting for {what}")
