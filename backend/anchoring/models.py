"""Documents, the anchor batches their hashes go on-chain in, and each document's Merkle proof.

A document is *queued* while `batch_id` is NULL. The batcher claims queued documents into one
batch, stores their proofs and enqueues the on-chain anchor in the same transaction, so a batch
either exists with its proofs and its outbox intent or not at all.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import BigInteger, DateTime, ForeignKey, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column, relationship

from backend.db.base import Base

HASH = String(66)  # a 0x-prefixed bytes32
CID = String(128)

KIND_DOCUMENT = "document"
KIND_AUDIT_HEAD = "audit_head"  # a hash of the audit log's head entry, anchored like a document
KIND_DISCLOSURE_REPORT = "disclosure_report"  # binds a month to its report (backend/disclosure/report_commitment.py)

BATCH_QUEUED = "queued"  # intent enqueued in the outbox, not yet confirmed on-chain
BATCH_ANCHORED = "anchored"
BATCH_FAILED = "failed"


class AnchorBatch(Base):
    __tablename__ = "anchor_batches"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    root: Mapped[str] = mapped_column(HASH, unique=True)
    count: Mapped[int] = mapped_column(Integer)
    manifest_cid: Mapped[str] = mapped_column(CID)
    uri: Mapped[str] = mapped_column(String(200))
    intent_key: Mapped[str] = mapped_column(String(200), unique=True)
    status: Mapped[str] = mapped_column(String(20), default=BATCH_QUEUED, index=True)
    tx_hash: Mapped[str | None] = mapped_column(HASH)
    block_number: Mapped[int | None] = mapped_column(BigInteger)
    anchored_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))  # the block's time
    error: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))

    documents: Mapped[list[Document]] = relationship(back_populates="batch")


class Document(Base):
    __tablename__ = "documents"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    doc_hash: Mapped[str] = mapped_column(HASH, unique=True)  # keccak256 of the bytes
    cid: Mapped[str | None] = mapped_column(CID, index=True)  # None for audit heads (no bytes)
    size: Mapped[int] = mapped_column(BigInteger, default=0)
    kind: Mapped[str] = mapped_column(String(20), default=KIND_DOCUMENT)
    batch_id: Mapped[int | None] = mapped_column(ForeignKey("anchor_batches.id"), index=True)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    # Set for a hash that names itself on chain: it is anchored alone, under this uri, whose
    # fields the root commits to (a verifier recomputes the root from the uri).
    anchor_uri: Mapped[str | None] = mapped_column(String(200))
    # Set when the bytes were erased with the personal data they hold (a loan offer's agreement,
    # `content_erasure.py`); the hash stays, and so does its proof. `content_removed_at`: when the
    # content store was last made to drop them.
    content_erased_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    content_removed_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))

    batch: Mapped[AnchorBatch | None] = relationship(back_populates="documents")
    proof: Mapped[AnchorProof | None] = relationship(back_populates="document", uselist=False)


class AnchorProof(Base):
    __tablename__ = "anchor_proofs"

    document_id: Mapped[int] = mapped_column(ForeignKey("documents.id"), primary_key=True)
    batch_id: Mapped[int] = mapped_column(ForeignKey("anchor_batches.id"), index=True)
    leaf: Mapped[str] = mapped_column(HASH)
    tree_index: Mapped[int] = mapped_column(Integer)
    proof: Mapped[str] = mapped_column(Text)  # JSON list of 0x-hex sibling hashes, leaf to root

    document: Mapped[Document] = relationship(back_populates="proof")
