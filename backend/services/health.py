"""Health of every part the platform needs: chain, contracts, database, content store.

Each check returns a dict with `ok`; the overall answer is ok only when every part is.
"""

from __future__ import annotations

from typing import Any, Literal
from urllib.parse import urlsplit

from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy import text

from backend.config import Settings


def check_chain(settings: Settings) -> dict[str, Any]:
    from backend.chain.node_reads import chain_id_and_head

    try:
        chain_id, block = chain_id_and_head(settings)
    except Exception as exc:  # any transport failure means the node is down for us
        return {"ok": False, "rpc_url": public_url(settings.rpc_url), "error": f"{type(exc).__name__}: {exc}"}
    result: dict[str, Any] = {"ok": chain_id == settings.chain_id, "chain_id": chain_id, "latest_block": block}
    if chain_id != settings.chain_id:
        result["error"] = f"expected chain id {settings.chain_id}"
    return result


def check_contracts(settings: Settings) -> dict[str, Any]:
    from backend.chain.deploy import load_manifest
    from backend.chain.node_reads import code_hash_at

    manifest = load_manifest(settings, settings.chain_id)
    if not manifest["contracts"]:
        return {"ok": False, "error": "no deployment manifest for this chain: run `loanchain deploy`"}
    contracts, ok = {}, True
    for name, entry in sorted(manifest["contracts"].items()):
        try:
            matches = code_hash_at(settings, entry["address"]) == entry["codeHash"]
        except Exception as exc:
            contracts[name] = {"address": entry["address"], "deployed": False, "error": str(exc)}
            ok = False
            continue
        contracts[name] = {"address": entry["address"], "deployed": matches, "code_matches": matches}
        ok &= matches
    return {"ok": ok, "contracts": contracts}


def check_database(settings: Settings) -> dict[str, Any]:
    from backend.db.migrate import current_revision, head_revision
    from backend.db.session import get_engine

    try:
        with get_engine(settings).connect() as conn:
            conn.execute(text("SELECT 1"))
        current, head = current_revision(settings), head_revision(settings)
    except Exception as exc:
        return {"ok": False, "error": f"{type(exc).__name__}: {exc}"}
    backend = get_engine(settings).dialect.name
    result = {"ok": current == head, "backend": backend, "revision": current, "head": head}
    if current != head:
        result["error"] = "migrations pending: run `loanchain db upgrade`"
    return result


def check_content_store(settings: Settings) -> dict[str, Any]:
    try:
        from backend.content.store import get_content_store

        return get_content_store(settings).health()
    except Exception as exc:
        return {"ok": False, "backend": settings.content_store, "error": f"{type(exc).__name__}: {exc}"}


LAG_WARNING_BLOCKS = 20


def check_indexer(settings: Settings) -> dict[str, Any]:
    """Index progress. Always `ok`: a lagging index makes reads stale, not the API down, and a
    503 here would make a load balancer evict every API process because one background worker
    is behind (or not started yet). `status` says lagging/unknown for monitoring to alert on."""
    from backend.chain.indexer import index_status

    try:
        st = index_status(settings)
    except Exception as exc:
        try:
            st = index_status(settings, with_chain=False)
        except Exception:
            return {"ok": True, "status": "unknown", "error": f"{type(exc).__name__}: {exc}"}
    if st.indexed is None:
        state = "not started"
    elif st.lag is None:
        state = "unknown"
    elif st.target < st.indexed:
        state = "node behind"  # the node has not reached the index: the indexer waits for it (never rolls back)
    else:
        state = "lagging" if st.lag > LAG_WARNING_BLOCKS else "ok"
    return {"ok": True, "status": state, "head": st.head, "indexed_block": st.indexed, "lag": st.lag,
            "confirmations": settings.confirmations, "reorgs": st.reorgs}  # fmt: skip


def check_outbox(settings: Settings) -> dict[str, Any]:
    """Open intents, and `stalled` when one in flight has an error the sender may not get past by
    itself (`stalled_intents`): nothing behind it reaches the chain; `held after restore` until the
    outbox is reconciled after a restore (restore_reconcile.py). Always `ok`, like the index, for
    monitoring to alert on."""
    from backend.chain.models import IntentStatus
    from backend.chain.outbox import outbox_counts, stalled_intents
    from backend.chain.restore_reconcile import outbox_hold
    from backend.db.session import session_scope

    try:
        with session_scope(settings) as session:
            counts, stalled, held = outbox_counts(session), stalled_intents(session), outbox_hold(session)
    except Exception as exc:
        return {"ok": True, "status": "unknown", "error": type(exc).__name__}
    report = {"ok": True, "status": "stalled" if stalled else "ok", "open": sum(counts[s] for s in IntentStatus.OPEN),
              "stalled": [{"id": i.id, "key": i.key, "status": i.status, "nonce": i.nonce, "error": i.error} for i in stalled]}  # fmt: skip
    if held:  # restored from a backup: nothing is sent until `loanchain outbox reconcile`
        report.update(status="held after restore", held_since=held.get("restored_at"))
    return report


def check_workers(settings: Settings) -> dict[str, Any]:
    """Each background worker that has run: `failing` when its last round raised and none has
    completed since, `stale` when it has not reported for a while (stopped, or stuck in a round).
    Always `ok` (the API still answers), for monitoring to alert on; the errors themselves are in
    `loanchain worker status`, not here."""
    from backend.workers.health import worker_health

    try:
        return worker_health(settings)
    except Exception as exc:
        return {"ok": True, "status": "unknown", "error": type(exc).__name__}


def check_notices(settings: Settings) -> dict[str, Any]:
    """Notices the lender must give in writing (late fee, collections, default) that e-mail gave up
    on: `undelivered` names them (ids only) for a person to send another way. Always `ok`, like the
    outbox, for monitoring to alert on."""
    from backend.db.session import session_scope
    from backend.servicing.delivery import undelivered_in_writing

    try:
        with session_scope(settings) as session:
            count, ids = undelivered_in_writing(session)
    except Exception as exc:
        return {"ok": True, "status": "unknown", "error": type(exc).__name__}
    return {"ok": True, "status": "undelivered" if count else "ok", "undelivered_in_writing": count, "notice_ids": ids}


def check_backups(settings: Settings) -> dict[str, Any]:
    from backend.backup.schedule import backup_health

    return backup_health(settings)


def check_fair_lending(settings: Settings) -> dict[str, Any]:
    """Whether the daily fair-lending checks run (`overdue` when none for two days); never what they
    found, which is for staff (`GET /api/v1/score/fairness/checks`). Always `ok`, for monitoring."""
    from backend.scoring.fair_lending_checks import check_health

    try:
        return check_health(settings)
    except Exception as exc:
        return {"ok": True, "status": "unknown", "error": type(exc).__name__}


CHECKS = {
    "chain": check_chain,
    "contracts": check_contracts,
    "database": check_database,
    "content_store": check_content_store,
    "indexer": check_indexer,
    "outbox": check_outbox,
    "workers": check_workers,
    "notices": check_notices,
    "backups": check_backups,
    "fair_lending": check_fair_lending,
}


class HealthPartPublic(BaseModel):
    """One part's check: `ok`, and what it read (a part's own keys), or `error`."""

    model_config = ConfigDict(extra="allow")

    ok: bool
    error: str | None = None


class HealthPublic(BaseModel):
    """The report (200 when every part is ok, else 503 with the same body): its own shape, not the
    error shape, so a load balancer and a person read one document either way."""

    status: Literal["ok", "down"]
    failing: list[str] = Field(description="The parts not ok")
    chain: HealthPartPublic
    contracts: HealthPartPublic
    database: HealthPartPublic
    content_store: HealthPartPublic
    indexer: HealthPartPublic
    outbox: HealthPartPublic
    workers: HealthPartPublic
    notices: HealthPartPublic
    backups: HealthPartPublic
    fair_lending: HealthPartPublic


def public_url(url: str) -> str:
    """Scheme, host and port only: a hosted RPC URL carries its API key in the path or query, or a
    password before the host."""
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.hostname}{f':{parts.port}' if parts.port else ''}" if parts.hostname else "<redacted>"


def _secrets(settings: Settings) -> list[str]:
    """The parts of the configuration an error message may repeat and a health report, which
    anyone may read, must not: the RPC URL's credentials, path and query; server paths."""
    url = urlsplit(settings.rpc_url)
    found = [settings.rpc_url, url.netloc if url.username else "", url.path if len(url.path) > 1 else "", url.query,
             str(settings.var_dir.resolve()), str(settings.var_dir)]  # fmt: skip
    return sorted({s for s in found if s}, key=len, reverse=True)  # longest first: a URL before its path


def _redacted(value: Any, secrets: list[str]) -> Any:
    if isinstance(value, str):
        for secret in secrets:
            value = value.replace(secret, "<redacted>")
        return value
    if isinstance(value, dict):
        return {k: _redacted(v, secrets) for k, v in value.items() if k != "path"}
    if isinstance(value, list):
        return [_redacted(v, secrets) for v in value]
    return value


def health_report(settings: Settings) -> dict[str, Any]:
    """Every part's health, for anyone (a load balancer, monitoring) to read: secrets and server
    paths that errors may repeat are redacted."""
    parts: dict[str, Any] = {}
    for name, check in CHECKS.items():
        if name == "contracts" and not parts["chain"]["ok"]:
            parts[name] = {"ok": False, "error": "chain is down"}
            continue
        parts[name] = check(settings)
    failing = [name for name, part in parts.items() if not part["ok"]]
    return _redacted({"status": "ok" if not failing else "down", "failing": failing, **parts}, _secrets(settings))
