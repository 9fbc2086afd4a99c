"""Helpers shared by tests/anchoring and tests/audit (plain functions, not fixtures)."""

from __future__ import annotations

from backend.config import Settings, get_settings

ENV_FIELDS = (
    "var_dir", "database_url", "rpc_url", "chain_port", "chain_id", "deployments_dir", "artifacts_dir",
    "content_store", "anchor_batch_size", "anchor_batch_interval", "audit_anchor_interval",
)  # fmt: skip


def settings_for(chain_settings: Settings, tmp_path, database_url: str, **overrides) -> Settings:
    """The session chain's settings with this test's own database and content store."""
    values = {"var_dir": tmp_path / "var", "database_url": database_url, "anchor_batch_interval": 3600.0}
    return chain_settings.model_copy(update=values | overrides)


def env_for(settings: Settings, **extra) -> dict[str, str]:
    """LOANCHAIN_* variables that make a fresh process (or get_settings()) see `settings`."""
    env = {f"LOANCHAIN_{name.upper()}": str(getattr(settings, name)) for name in ENV_FIELDS}
    env.update({f"LOANCHAIN_{k.upper()}": str(v) for k, v in extra.items()})
    return env


def point_get_settings_at(monkeypatch, settings: Settings) -> Settings:
    """Make get_settings() (the CLI's, the API's default) return `settings` for this test."""
    for key, value in env_for(settings).items():
        monkeypatch.setenv(key, value)
    get_settings.cache_clear()
    return get_settings()


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
