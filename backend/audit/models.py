"""The hash-chained audit log, its head row (the append lock) and its on-chain checkpoints."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import BigInteger, ColumnElement, DateTime, ForeignKey, Integer, LargeBinary, String, select
from sqlalchemy.orm import Mapped, mapped_column, synonym

from backend.chain.projection_models import LoanRow
from backend.db.base import Base
from backend.identity.crypto.holders import WrappedKeyHolder

HASH = String(66)
GENESIS_HASH = "0x" + "00" * 32  # prev_hash of entry 1


class AuditEntry(Base):
    __tablename__ = "audit_entries"

    seq: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=False)
    # Unique: two entries can never claim the same predecessor, so the chain cannot fork.
    prev_hash: Mapped[str] = mapped_column(HASH, unique=True)
    entry_hash: Mapped[str] = mapped_column(HASH, unique=True)
    actor: Mapped[str] = mapped_column(String(200))
    action: Mapped[str] = mapped_column(String(100), index=True)
    subject: Mapped[str] = mapped_column(String(200), index=True)
    payload_hash: Mapped[str] = mapped_column(HASH)
    # A string, not a DateTime: it is hashed, so it must read back exactly as written on
    # every database (SQLite drops time zones, PostgreSQL normalises them).
    recorded_at: Mapped[str] = mapped_column(String(32))


class AuditHead(Base):
    """One row (id 1): the last seq and hash. Appends lock it, which serialises them."""

    __tablename__ = "audit_head"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    seq: Mapped[int] = mapped_column(BigInteger)
    entry_hash: Mapped[str] = mapped_column(HASH)


class AuditCheckpoint(Base):
    """The head at `seq` was queued for anchoring as document `document_id` (doc_hash = entry_hash)."""

    __tablename__ = "audit_checkpoints"

    seq: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=False)
    entry_hash: Mapped[str] = mapped_column(HASH)
    document_id: Mapped[int] = mapped_column(ForeignKey("documents.id"), unique=True)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))


class AlertReview(Base, WrappedKeyHolder):
    """A person's review of a transaction monitoring alert (backend/audit/monitoring.py): the alert is
    recomputed from the chain index, so it is named by its key, a hash of the rule, the loan and the
    transactions. One review per alert, never replaced; each is also in the audit log.

    The note is where identity-fraud findings about a borrower get written ("what you looked at and
    found"), so it is sealed (AES-256-GCM) under the review's own data key, wrapped by the KYC master
    keyring, as the collections case-log notes are: rotated with it, and shredded when the borrower
    of the alert's loan is erased, or for an alert about credit applications (`answers_changed`),
    either applicant's wallet, or any other wallet the alert named when it was reviewed
    (`AlertReviewWallet`: an investor of a round trip or a cycle, the collection wallet, the wallets
    of structured gifts, which name no loan). The decision, reviewer and time stay in clear: they
    are the case's."""

    __tablename__ = "audit_alert_reviews"

    alert_key: Mapped[str] = mapped_column(String(64), primary_key=True)
    rule: Mapped[str] = mapped_column(String(30))
    loan_id: Mapped[int] = mapped_column(BigInteger, index=True)  # 0: an alert about no loan
    decision: Mapped[str] = mapped_column(String(20))  # cleared | escalated
    sealed_note: Mapped[bytes | None] = mapped_column(LargeBinary, nullable=True)
    key_id: Mapped[str | None] = mapped_column(String(64), index=True, nullable=True)
    wrapped_key: Mapped[bytes | None] = mapped_column(LargeBinary, nullable=True)
    reviewer: Mapped[str] = mapped_column(String(200))
    reviewed_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    # An alert about credit applications: the later one's wallet, and the earlier one's if another.
    applicant: Mapped[str | None] = mapped_column(String(42), index=True, nullable=True)
    other_applicant: Mapped[str | None] = mapped_column(String(42), index=True, nullable=True)

    # What erasure and its replay read every key holder by (the erasure log names rows by `id`).
    id = synonym("alert_key")
    created_at = synonym("reviewed_at")

    @property
    def key_ref(self) -> str:
        return f"alert-review/{self.alert_key}"

    @classmethod
    def about(cls, wallet: str) -> ColumnElement[bool]:
        return (cls.loan_id.in_(select(LoanRow.loan_id).where(LoanRow.borrower == wallet))
                | (cls.applicant == wallet) | (cls.other_applicant == wallet)
                | cls.alert_key.in_(select(AlertReviewWallet.alert_key).where(AlertReviewWallet.wallet == wallet)))  # fmt: skip


class AlertReviewWallet(Base):
    """A wallet a reviewed alert named (checksummed as the alert had it), so that erasing any of them
    shreds the review's note: it may be about them. Kept from migration 0053 on; a review made
    before reaches only its loan's borrower and its applicants."""

    __tablename__ = "audit_alert_review_wallets"

    alert_key: Mapped[str] = mapped_column(ForeignKey("audit_alert_reviews.alert_key"), primary_key=True)
    wallet: Mapped[str] = mapped_column(String(42), primary_key=True, index=True)
