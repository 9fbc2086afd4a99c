"""Migration 0004 matches the models column for column, and the embedded read ABI matches the
compiled DocumentAnchor."""

import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext

from backend.chain.anchor_reader import DOCUMENT_ANCHOR_READ_ABI
from backend.db import migrate
from backend.db.models import Base
from backend.db.session import get_engine
from tests.conftest import make_settings

pytestmark = pytest.mark.real_migrations  # migration 0004 and its seed, run for real

OWN_TABLES = {"documents", "anchor_batches", "anchor_proofs", "audit_entries", "audit_head", "audit_checkpoints"}


def _table_of(diff) -> str | None:
    op = diff[0] if isinstance(diff, list) else diff
    for item in op[1:]:
        name = getattr(item, "table", None)
        if name is not None:
            return name.name
        if hasattr(item, "name") and getattr(item, "columns", None) is not None:
            return item.name
    return op[2] if len(op) > 2 and isinstance(op[2], str) else None


def test_migration_matches_models(database_url, tmp_path):
    settings = make_settings(tmp_path, database_url=database_url)
    migrate.upgrade(settings)
    with get_engine(settings).connect() as conn:
        context = MigrationContext.configure(conn, opts={"compare_type": True})
        diffs = [d for d in compare_metadata(context, Base.metadata) if _table_of(d) in OWN_TABLES]
    assert diffs == []


def test_the_audit_head_is_seeded_at_genesis(tmp_path):
    from backend.audit.log import head
    from backend.audit.models import GENESIS_HASH
    from backend.db.session import session_scope

    settings = make_settings(tmp_path)
    migrate.upgrade(settings)
    with session_scope(settings) as session:
        assert (head(session).seq, head(session).entry_hash) == (0, GENESIS_HASH)


def test_embedded_abi_is_part_of_the_compiled_one(artifacts):
    def strip(entry: dict) -> dict:
        return {k: v for k, v in entry.items() if k in ("type", "name", "inputs", "outputs", "stateMutability", "anonymous")}

    compiled = [strip(e) for e in artifacts["DocumentAnchor"]["abi"]]
    for entry in DOCUMENT_ANCHOR_READ_ABI:
        assert strip(entry) in compiled, entry["name"]
