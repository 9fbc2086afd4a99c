"""The market's tests share a chain (with its snapshot per test) and a database of their own."""

from __future__ import annotations

import pytest

from backend.chain.indexer import Indexer
from tests.conftest import own_database
from tests.contracts.conftest import chain, world  # noqa: F401


@pytest.fixture
def settings(chain_settings, deployment, world, snapshot, tmp_path, database_url):  # noqa: F811
    return own_database(chain_settings, tmp_path, database_url)


def index(settings) -> None:
    Indexer().catch_up(settings)
