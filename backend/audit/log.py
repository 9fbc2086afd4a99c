"""Appending to the audit log: one function, `record`, serialised on the head row; `deferred` for
long jobs that append as they go, so the head row (the log's one lock) is not held across their
slow reads."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import event, select, update
from sqlalchemy.orm import Session

from backend.audit import hashing
from backend.audit.models import GENESIS_HASH, AuditEntry, AuditHead
from backend.errors import ValidationFailed

HEAD_ID = 1


def lock_head(session: Session) -> AuditHead:
    """The head row, locked until the caller's transaction ends.

    PostgreSQL: SELECT ... FOR UPDATE, so concurrent API workers append one after another.
    SQLite ignores FOR UPDATE; the no-op UPDATE first takes the database's write lock, so a
    second appender waits at that point instead of failing to upgrade a read lock later.
    """
    if session.get_bind().dialect.name == "sqlite":
        session.execute(update(AuditHead).where(AuditHead.id == HEAD_ID).values(seq=AuditHead.seq))
    head = session.scalars(
        select(AuditHead).where(AuditHead.id == HEAD_ID).with_for_update().execution_options(populate_existing=True)
    ).one_or_none()
    if head is None:  # a database built without migration 0004's seed row
        head = AuditHead(id=HEAD_ID, seq=0, entry_hash=GENESIS_HASH)
        session.add(head)
        session.flush()
    return head


def _check_text(name: str, value: str, limit: int) -> str:
    if not isinstance(value, str) or not value.strip():
        raise ValidationFailed(f"audit {name} must be a non-empty string")
    if len(value) > limit:
        raise ValidationFailed(f"audit {name} is longer than {limit} characters")
    return value


_LATER = "audit_deferred"
_SAVEPOINTS = "audit_deferred_savepoints"  # savepoint -> how many entries were pending when it began


@contextmanager
def deferred(session: Session) -> Iterator[None]:
    """Entries recorded inside are appended when it closes, in the same transaction and in the
    order recorded. Appending locks the head row until the transaction ends, and every audited
    write elsewhere waits on it: a job that records early and then reads the chain for seconds (a
    servicing pass, thousands of `eth_call`s) would hold them all up. Close it right before the
    commit; a commit inside appends what is pending first (`_append_before_commit`), so no entry
    misses the transaction of what it records. Nested, the outermost appends; on an exception
    nothing pending is appended (the transaction rolls back with what it recorded), and a savepoint
    rolled back inside drops what was recorded in it."""
    if _LATER in session.info:
        yield
        return
    session.info[_LATER] = []
    try:
        yield
    except BaseException:
        session.info.pop(_LATER, None)
        session.info.pop(_SAVEPOINTS, None)
        raise
    session.info.pop(_SAVEPOINTS, None)
    for args in session.info.pop(_LATER):
        _append(session, *args)


# A savepoint rolled back drops the entries recorded inside it, deferred or not: an entry appended
# at once goes with the savepoint's rows; a deferred one, still a Python tuple, would otherwise be
# appended at the close for what the rollback undid (a document that was never kept).
@event.listens_for(Session, "after_transaction_create")
def _mark_savepoint(session: Session, transaction) -> None:
    if transaction.nested and _LATER in session.info:
        session.info.setdefault(_SAVEPOINTS, {})[transaction] = len(session.info[_LATER])


@event.listens_for(Session, "after_soft_rollback")  # fired after the savepoint's end: its mark is kept till now
def _drop_savepoints_entries(session: Session, previous_transaction) -> None:
    # A failed flush rolls back its own inner transaction, and with it the savepoint around (an
    # IntegrityError inside `begin_nested()`): the savepoint is the nearest nested one up.
    savepoint = previous_transaction
    while savepoint is not None and not savepoint.nested:
        savepoint = savepoint.parent
    mark = session.info.get(_SAVEPOINTS, {}).pop(savepoint, None)
    if mark is not None and _LATER in session.info:
        del session.info[_LATER][mark:]


@event.listens_for(Session, "after_transaction_end")
def _forget_savepoints(session: Session, transaction) -> None:
    if transaction.parent is None:  # the transaction's end: its savepoints have all ended too
        session.info.pop(_SAVEPOINTS, None)


@event.listens_for(Session, "before_commit")
def _append_before_commit(session: Session) -> None:
    if session.in_nested_transaction():  # a savepoint's release: the transaction goes on
        return
    pending = session.info.get(_LATER)
    if pending:
        session.info[_LATER] = []
        for args in pending:
            _append(session, *args)


def record(session: Session, actor: str, action: str, subject: str, payload: Any = None) -> AuditEntry | None:
    """Append one entry in the caller's transaction: it commits or rolls back with the action
    it records (inside `deferred`, when that closes: None then). Only the payload's hash is stored;
    keep personal data out of it anyway (ids, amounts and statuses, not names), since a hash of
    low-entropy data can be guessed."""
    actor = _check_text("actor", actor, 200)
    action = _check_text("action", action, 100)
    subject = _check_text("subject", subject, 200)
    payload_hash = hashing.payload_hash(payload)  # now: the payload may change before the entry is appended
    if _LATER in session.info:
        session.info[_LATER].append((actor, action, subject, payload_hash))
        return None
    return _append(session, actor, action, subject, payload_hash)


def _append(session: Session, actor: str, action: str, subject: str, payload_hash: str) -> AuditEntry:
    head = lock_head(session)
    seq = head.seq + 1
    recorded_at = hashing.format_timestamp(datetime.now(UTC))
    entry = AuditEntry(
        seq=seq,
        prev_hash=head.entry_hash,
        entry_hash=hashing.entry_hash(seq, head.entry_hash, actor, action, subject, payload_hash, recorded_at),
        actor=actor,
        action=action,
        subject=subject,
        payload_hash=payload_hash,
        recorded_at=recorded_at,
    )
    session.add(entry)
    head.seq, head.entry_hash = seq, entry.entry_hash
    session.flush()
    return entry


def recompute(entry: AuditEntry) -> str:
    return hashing.entry_hash(
        entry.seq, entry.prev_hash, entry.actor, entry.action, entry.subject, entry.payload_hash, entry.recorded_at
    )


def entries(session: Session, *, after_seq: int = 0, limit: int = 100) -> Sequence[AuditEntry]:
    return session.scalars(
        select(AuditEntry).where(AuditEntry.seq > after_seq).order_by(AuditEntry.seq).limit(limit)
    ).all()


def head(session: Session) -> AuditHead | None:
    return session.get(AuditHead, HEAD_ID)
