"""Audit-log fixtures: a migrated database, with or without the session chain."""

from __future__ import annotations

import pytest

from backend.config import get_settings
from backend.db import migrate
from tests.anchoring.helpers import point_get_settings_at, settings_for
from tests.conftest import make_settings


@pytest.fixture
def db_settings(tmp_path, database_url):
    """SQLite and PostgreSQL; no chain."""
    settings = make_settings(tmp_path, database_url=database_url)
    migrate.upgrade(settings)
    return settings


@pytest.fixture
def chain_db_settings(chain_settings, deployment, tmp_path, snapshot):
    """SQLite on the session chain (reverted afterwards), checkpointing the head at every flush."""
    settings = settings_for(chain_settings, tmp_path, f"sqlite:///{tmp_path / 'audit.db'}", audit_anchor_interval=0.0)
    migrate.upgrade(settings)
    return settings


@pytest.fixture
def use_settings(monkeypatch):
    yield lambda settings: point_get_settings_at(monkeypatch, settings)
    get_settings.cache_clear()
