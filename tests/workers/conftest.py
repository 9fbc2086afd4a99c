"""Scale-out fixtures: a chain of its own and a fresh PostgreSQL database per test."""

from __future__ import annotations

import pytest

from backend.chain.deploy import deploy_all
from backend.chain.node import LocalNode
from backend.db import migrate
from tests.conftest import free_port, make_settings


@pytest.fixture
def pg_chain(tmp_path, artifacts, database_url):
    """Settings on a deployed Anvil of its own and a migrated database (parametrize
    `database_url` indirectly to choose PostgreSQL)."""
    port = free_port()
    settings = make_settings(tmp_path, chain_port=port, rpc_url=f"http://127.0.0.1:{port}", database_url=database_url)
    node = LocalNode(settings, kind="anvil")
    node.start()
    deploy_all(settings)
    migrate.upgrade(settings)
    yield settings
    node.stop(hard=True)
