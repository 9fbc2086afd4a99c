"""What the platform's keepers share: each queues calls through the outbox under keys that name
what it acted on and digest the facts it checked, and waits while its own calls are in flight or
mined beyond what the chain index has read (the state it would plan from is stale)."""

from __future__ import annotations

import hashlib

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from backend.chain.indexer import CHECKPOINT
from backend.chain.models import IndexerCheckpoint, Intent, IntentStatus, key_prefixed

MAX_ATTEMPTS = 3


def next_attempt_key(db: Session, stem: str, facts: tuple) -> str | None:
    """The key of the next attempt at the call named by `stem` against these facts; None once
    `MAX_ATTEMPTS` are used up. Earlier attempts under the same facts all failed: a confirmed one
    changes the facts."""
    stem = f"{stem}{hashlib.sha256(repr(facts).encode()).hexdigest()[:32]}:"
    tried = db.scalar(select(func.count()).where(key_prefixed(stem))) or 0
    return f"{stem}{tried + 1}" if tried < MAX_ATTEMPTS else None


def waits_for_index(db: Session, key_prefix: str) -> bool:
    """A call under `key_prefix` is still open in the outbox, or was mined after the last block the
    index has read."""
    mine = key_prefixed(key_prefix)
    if db.scalar(select(Intent.id).where(mine, Intent.status.in_(IntentStatus.OPEN)).limit(1)) is not None:
        return True
    last = db.scalar(select(func.max(Intent.block_number)).where(mine, Intent.status == IntentStatus.CONFIRMED))
    checkpoint = db.get(IndexerCheckpoint, CHECKPOINT)
    return last is not None and (checkpoint is None or checkpoint.block_number < last)
