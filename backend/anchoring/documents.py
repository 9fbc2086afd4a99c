"""Storing a document and queueing its hash for anchoring; finding document records."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import BinaryIO

from eth_hash.auto import keccak as keccak_hasher
from eth_utils import keccak
from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from backend import audit
from backend.anchoring.errors import DocumentTooLarge
from backend.anchoring.merkle import hex32, to_bytes32
from backend.anchoring.models import KIND_DOCUMENT, Document
from backend.config import Settings
from backend.content.cid import CHUNK_SIZE, CidBuilder, parse_cid
from backend.content.store import get_content_store
from backend.db.base import as_utc
from backend.errors import ValidationFailed


def utcnow() -> datetime:
    return datetime.now(UTC)


def check_size(settings: Settings, size: int) -> None:
    if size > settings.anchor_max_document_bytes:
        raise DocumentTooLarge(
            f"documents are limited to {settings.anchor_max_document_bytes} bytes (LOANCHAIN_ANCHOR_MAX_DOCUMENT_BYTES)"
        )


def document_hash(data: bytes) -> str:
    """keccak256 of the document's bytes, 0x-hex: the value anchored (as a Merkle leaf) on-chain."""
    return hex32(keccak(data))


def digests_of_stream(settings: Settings, stream: BinaryIO) -> tuple[str, str]:
    """(keccak256 hash, CID) of a stream's bytes, read a chunk at a time: memory stays at one
    chunk whatever the size. Refused (DocumentTooLarge) past the per-document limit."""
    hasher, cid, size = keccak_hasher.new(b""), CidBuilder(), 0
    for block in iter(lambda: stream.read(CHUNK_SIZE), b""):
        size += len(block)
        check_size(settings, size)
        hasher.update(block)
        cid.update(block)
    return hex32(hasher.digest()), cid.cid()


def normalise_hash(value: str) -> str:
    return hex32(to_bytes32(value))


@dataclass(frozen=True)
class AnchorResult:
    document: Document
    created: bool  # False when the same bytes were anchored before


def anchor_document(session: Session, settings: Settings, data: bytes, *, actor: str = "system") -> AnchorResult:
    """Store `data` in the content store, record it and queue its hash for the next batch.

    Idempotent: the same bytes give the same record (and the same CID) however often they come.
    """
    if not isinstance(data, (bytes, bytearray)):
        raise ValidationFailed("a document is bytes")
    if not data:
        raise ValidationFailed("an empty document cannot be anchored")
    check_size(settings, len(data))
    data = bytes(data)
    doc_hash = document_hash(data)
    if (erased := by_hash(session, doc_hash)) is not None and erased.content_erased_at is not None:
        return AnchorResult(erased, False)  # anchored already; storing the bytes again would undo an erasure
    # Stored first: a crash before the commit leaves an unreferenced but harmless blob, whereas
    # the other order could leave a record whose bytes were never kept.
    cid = get_content_store(settings).put(data)
    document, created = queue_hash(session, doc_hash, kind=KIND_DOCUMENT, cid=cid, size=len(data))
    if created:
        audit.record(
            session, actor=actor, action="document.anchor", subject=f"document:{document.id}",
            payload={"doc_hash": doc_hash, "cid": cid, "size": len(data)},
        )  # fmt: skip
    return AnchorResult(document, created)


def queue_hash(
    session: Session, doc_hash: str, *, kind: str, cid: str | None = None, size: int = 0, anchor_uri: str | None = None
) -> tuple[Document, bool]:
    """The record for `doc_hash`, created (queued, no batch yet) if it does not exist. With
    `anchor_uri`, the batcher anchors it alone under that uri (a hash that names itself)."""
    doc_hash = normalise_hash(doc_hash)
    existing = by_hash(session, doc_hash)
    if existing is not None:
        return existing, False
    document = Document(doc_hash=doc_hash, cid=cid, size=size, kind=kind, anchor_uri=anchor_uri, created_at=utcnow())
    try:
        with session.begin_nested():  # a concurrent request for the same bytes loses cleanly
            session.add(document)
            session.flush()
    except IntegrityError:
        existing = by_hash(session, doc_hash)
        if existing is None:
            raise
        return existing, False
    return document, True


def by_hash(session: Session, doc_hash: str) -> Document | None:
    return session.scalars(select(Document).where(Document.doc_hash == normalise_hash(doc_hash))).one_or_none()


def by_cid(session: Session, cid: str) -> Document | None:
    parse_cid(cid)  # InvalidCid (422) for anything that is not a CID
    return session.scalars(select(Document).where(Document.cid == cid).order_by(Document.id)).first()


def by_id(session: Session, document_id: int) -> Document | None:
    return session.get(Document, document_id)


def queued(session: Session, limit: int) -> list[Document]:
    """Documents waiting for a batch, oldest first."""
    query = select(Document).where(Document.batch_id.is_(None)).order_by(Document.id).limit(limit)
    if session.get_bind().dialect.name == "postgresql":
        # Belt and braces next to the batcher's worker lock: two batchers never claim one row.
        query = query.with_for_update(skip_locked=True)
    return list(session.scalars(query))


def queue_stats(session: Session) -> tuple[int, datetime | None]:
    count, oldest = session.execute(
        select(func.count(), func.min(Document.created_at)).where(Document.batch_id.is_(None))
    ).one()
    return int(count), as_utc(oldest) if oldest else None
