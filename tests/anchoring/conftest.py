"""Anchoring fixtures: per-test settings (own database and content store) on the session chain."""

from __future__ import annotations

import pytest

from backend.config import Settings, get_settings
from backend.db import migrate
from tests.anchoring.helpers import point_get_settings_at, settings_for


@pytest.fixture
def settings(chain_settings, deployment, tmp_path, database_url, snapshot) -> Settings:
    """Migrated database (SQLite and PostgreSQL), own content store, chain reverted afterwards."""
    s = settings_for(chain_settings, tmp_path, database_url)
    migrate.upgrade(s)
    return s


@pytest.fixture
def sqlite_settings(chain_settings, deployment, tmp_path, snapshot) -> Settings:
    """The same on SQLite only, for tests whose logic does not depend on the database."""
    s = settings_for(chain_settings, tmp_path, f"sqlite:///{tmp_path / 'anchoring.db'}")
    migrate.upgrade(s)
    return s


@pytest.fixture
def use_settings(monkeypatch):
    """use_settings(s): get_settings() returns `s` for the rest of the test."""
    yield lambda settings: point_get_settings_at(monkeypatch, settings)
    get_settings.cache_clear()
