"""Anchoring the audit log's head: a domain-separated digest of (seq, entry hash) is queued like a
document hash, and the batcher anchors it alone under a uri naming the head (see head_commitment)."""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from backend.anchoring import documents
from backend.anchoring.models import KIND_AUDIT_HEAD
from backend.audit import log
from backend.audit.head_commitment import head_digest
from backend.audit.models import AuditCheckpoint
from backend.config import Settings
from backend.db.base import as_utc

HEARTBEAT = "audit.heartbeat"


def heartbeat_if_idle(session: Session, settings: Settings, now: datetime | None = None) -> bool:
    """Append an `audit.heartbeat` entry when the log's head has not moved since its last checkpoint and
    that checkpoint is `audit_heartbeat_interval` old (by the platform's clock, not an entry's own time,
    which a misdated entry could set): anchored like any entry, it keeps the newest on-chain checkpoint
    young on an idle platform, so `audit verify` tells a log whose anchoring stopped (`stale`) from a
    quiet one. True when one was appended."""
    if not settings.audit_heartbeat_interval:
        return False
    head, last = log.head(session), last_checkpoint(session)
    if head is None or last is None or head.seq > last.seq:
        return False  # nothing anchored yet, or the head moved: `checkpoint_head` anchors it
    now = now or datetime.now(UTC)
    if (now - as_utc(last.created_at)).total_seconds() < settings.audit_heartbeat_interval:
        return False
    log.record(session, actor="audit", action=HEARTBEAT, subject="audit-log", payload={"after_seq": head.seq})
    return True


def last_checkpoint(session: Session) -> AuditCheckpoint | None:
    return session.scalars(select(AuditCheckpoint).order_by(AuditCheckpoint.seq.desc()).limit(1)).first()


def checkpoint_head(
    session: Session, settings: Settings, *, force: bool = False, now: datetime | None = None
) -> AuditCheckpoint | None:
    """Queue the current head for anchoring when it moved since the last checkpoint and
    `audit_anchor_interval` has passed (or `force`). Returns the new checkpoint, if any."""
    head = log.head(session)
    if head is None or head.seq == 0:
        return None
    now = now or datetime.now(UTC)
    last = last_checkpoint(session)
    if last is not None:
        if last.seq >= head.seq:
            return None
        waited = (now - as_utc(last.created_at)).total_seconds()
        if not force and waited < settings.audit_anchor_interval:
            return None
    try:
        with session.begin_nested():  # another batcher checkpointing the same head wins cleanly
            document, _ = documents.queue_hash(session, head_digest(head.seq, head.entry_hash), kind=KIND_AUDIT_HEAD)
            checkpoint = AuditCheckpoint(seq=head.seq, entry_hash=head.entry_hash, document_id=document.id, created_at=now)
            session.add(checkpoint)
            session.flush()
    except IntegrityError:
        return None
    return checkpoint
