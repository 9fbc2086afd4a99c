"""Anchoring fixtures: per-test settings (own database and content store) on the session chain."""

from __future__ import annotations

import pytest

from backend.config import Settings
from backend.db import migrate


def settings_for(chain_settings: Settings, tmp_path, database_url: str, **overrides) -> Settings:
    values = {"var_dir": tmp_path / "var", "database_url": database_url, "anchor_batch_interval": 3600.0}
    return chain_settings.model_copy(update=values | overrides)


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


def anchor_files(settings: Settings, blobs: list[bytes], actor: str = "tester") -> list[int]:
    """Store and queue each blob; returns the document ids."""
    from backend.anchoring.documents import anchor_document
    from backend.db.session import session_scope

    with session_scope(settings) as session:
        return [anchor_document(session, settings, blob, actor=actor).document.id for blob in blobs]


def flush_and_confirm(settings: Settings):
    """Batch everything queued, let the outbox send it, and record the anchors."""
    from backend.anchoring.batcher import reconcile, run_batcher_once
    from backend.chain.outbox import process_until_idle

    report = run_batcher_once(settings, force=True)
    process_until_idle(settings)
    anchored, failed = reconcile(settings)
    report.anchored += anchored
    report.failed += failed
    return report


ENV_FIELDS = (
    "var_dir", "database_url", "rpc_url", "chain_port", "chain_id", "deployments_dir", "artifacts_dir",
    "content_store", "anchor_batch_size", "anchor_batch_interval", "audit_anchor_interval",
)  # fmt: skip


def env_for(settings: Settings, **extra) -> dict[str, str]:
    """LOANCHAIN_* variables that make a fresh process (or get_settings()) see `settings`."""
    env = {f"LOANCHAIN_{name.upper()}": str(getattr(settings, name)) for name in ENV_FIELDS}
    env.update({f"LOANCHAIN_{k.upper()}": str(v) for k, v in extra.items()})
    return env


@pytest.fixture
def use_settings(monkeypatch):
    """Point get_settings() (CLI, API default) at the given settings for this test."""
    from backend.config import get_settings

    def apply(settings: Settings) -> Settings:
        for key, value in env_for(settings).items():
            monkeypatch.setenv(key, value)
        get_settings.cache_clear()
        return get_settings()

    yield apply
    get_settings.cache_clear()
