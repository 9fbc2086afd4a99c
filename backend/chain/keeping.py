"""What the platform's keepers share: each queues calls through the outbox under keys that name
what it acted on and digest the facts it checked, and waits while its own calls are in flight or
mined beyond what the chain index has read (the state it would plan from is stale)."""

from __future__ import annotations

import hashlib

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from backend.chain.indexer import CHECKPOINT
from backend.chain.models import IndexerCheckpoint, Intent, IntentStatus, key_prefixed
from backend.db.session import begin_write, lock_until_commit

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


def queued_so_far(db: Session, key_prefix: str) -> int:
    """How many intents were ever queued under `key_prefix` (intents are never deleted): a keeper
    reads it as its round begins, before it reads anything it plans from."""
    return db.scalar(select(func.count()).where(key_prefixed(key_prefix))) or 0


def none_queued_since(db: Session, key_prefix: str, seen: int) -> bool:
    """Right before a keeper queues what it planned: take its queue's lock until the commit (one
    round queues at a time; on SQLite, the database's write lock) and say whether no other round
    queued under `key_prefix` since this one read `seen`. A worker's lock is checked between
    rounds, not within one: a holder whose lock connection dropped finishes its round beside the
    standby that took over, and a command run by hand beside the worker. Their plans were read from
    the same book, but money moved between the two reads makes the facts differ, and with them the
    keys: the second round's calls, queued under new keys, would repeat the first round's. False:
    queue nothing; the next round plans afresh (and waits while those calls are in flight)."""
    lock_until_commit(db, f"keeper-queue|{key_prefix}")
    begin_write(db, Intent)
    return queued_so_far(db, key_prefix) == seen
