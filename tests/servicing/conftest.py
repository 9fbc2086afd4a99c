"""Servicing fixtures: the contract suite's world on the session chain (reverted after each test)
and backend settings with a database of the test's own, pointed at that chain."""

from __future__ import annotations

import pytest

from backend.chain.indexer import Indexer
from backend.config import Settings
from backend.db import migrate
from tests.contracts.conftest import chain, world  # noqa: F401
from tests.identity.conftest import ADMIN


@pytest.fixture
def servicing_settings(chain_settings, deployment, world, snapshot, tmp_path, database_url) -> Settings:  # noqa: F811
    """Once on SQLite, once on PostgreSQL."""
    settings = chain_settings.model_copy(update=dict(
        database_url=database_url, var_dir=tmp_path / "var", admin_wallets=[ADMIN.address],
        run_workers=False, disclosure_publish_monthly=False,  # tests/disclosure/test_reports.py has it
        # These tests move the chain to a bucket in one step, as no worker running every minute sees it,
        # so a default would always wait for the cure period: test_cure.py has it on.
        servicing_cure_days=0,
    ))  # fmt: skip
    migrate.upgrade(settings)
    return settings


def index(settings: Settings) -> None:
    Indexer().catch_up(settings)
