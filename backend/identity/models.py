"""Tables of the identity domain: users, roles, sign-in state, KYC records and their history.

Personal data lives only inside `kyc_records.ciphertext` and `kyc_documents.ciphertext`,
sealed with the record's data key (see `crypto/envelope.py`). Everything else here is safe to
read: wallet addresses, statuses, reason codes, key ids, blind indexes and commitments.
"""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy import (
    JSON,
    BigInteger,
    DateTime,
    ForeignKey,
    Integer,
    LargeBinary,
    String,
    TypeDecorator,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column, relationship

from backend.db.base import Base
from backend.identity.crypto.holders import WrappedKeyHolder


class UtcDateTime(TypeDecorator):
    """Timezone-aware UTC datetimes on both databases (SQLite hands back naive ones otherwise)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value, dialect):
        if value is not None and value.tzinfo is None:
            raise ValueError("naive datetime: use datetime.now(UTC)")
        return value.astimezone(UTC) if value is not None else None

    def process_result_value(self, value, dialect):
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def utcnow() -> datetime:
    return datetime.now(UTC)


class User(Base):
    __tablename__ = "users"

    wallet: Mapped[str] = mapped_column(String(42), primary_key=True)  # EIP-55 checksummed
    created_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)
    last_login_at: Mapped[datetime | None] = mapped_column(UtcDateTime, nullable=True)


class RoleGrant(Base):
    """Roles an admin grants (auditor, underwriter, admin). Borrower/investor come from KYC."""

    __tablename__ = "role_grants"

    wallet: Mapped[str] = mapped_column(String(42), primary_key=True)
    role: Mapped[str] = mapped_column(String(20), primary_key=True)
    granted_by: Mapped[str] = mapped_column(String(42))  # the proposing admin, or the operator's CLI actor
    granted_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)
    # The admin who confirmed the proposal; None: granted directly by the operator (CLI) or before
    # grants were maker-checker.
    confirmed_by: Mapped[str | None] = mapped_column(String(42), nullable=True)


class RoleGrantProposal(Base):
    """A staff role one admin proposed through the API: granted only once an admin who is another
    person confirms it before `expires_at` (backend/identity/role_proposals.py). Kept once decided,
    as the record of who proposed and who decided."""

    __tablename__ = "role_grant_proposals"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    wallet: Mapped[str] = mapped_column(String(42), index=True)
    role: Mapped[str] = mapped_column(String(20))
    proposed_by: Mapped[str] = mapped_column(String(42))
    proposed_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)
    expires_at: Mapped[datetime] = mapped_column(UtcDateTime)
    status: Mapped[str] = mapped_column(String(20), index=True)  # pending | confirmed | rejected
    decided_by: Mapped[str | None] = mapped_column(String(42), nullable=True)
    decided_at: Mapped[datetime | None] = mapped_column(UtcDateTime, nullable=True)


class AuthNonce(Base):
    __tablename__ = "auth_nonces"

    nonce: Mapped[str] = mapped_column(String(64), primary_key=True)
    issued_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)
    expires_at: Mapped[datetime] = mapped_column(UtcDateTime, index=True)
    used_at: Mapped[datetime | None] = mapped_column(UtcDateTime, nullable=True)
    wallet: Mapped[str | None] = mapped_column(String(42), nullable=True)


class RefreshToken(Base):
    """One row per refresh token issued; each is usable once (rotation), reuse revokes the wallet's."""

    __tablename__ = "refresh_tokens"

    jti: Mapped[str] = mapped_column(String(64), primary_key=True)
    wallet: Mapped[str] = mapped_column(String(42), index=True)
    issued_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)
    expires_at: Mapped[datetime] = mapped_column(UtcDateTime)
    used_at: Mapped[datetime | None] = mapped_column(UtcDateTime, nullable=True)
    revoked_at: Mapped[datetime | None] = mapped_column(UtcDateTime, nullable=True)


class SessionEpoch(Base):
    """A wallet's session generation: every token carries the generation it was issued in, and an
    access token is refused once the wallet's has moved on (logout, refresh-token reuse). No row:
    generation 0. A counter rather than a timestamp, so a sign-in in the same second as a logout is
    neither refused nor let through by the clock's resolution."""

    __tablename__ = "session_epochs"

    wallet: Mapped[str] = mapped_column(String(42), primary_key=True)
    epoch: Mapped[int] = mapped_column(Integer, default=0)
    ended_at: Mapped[datetime | None] = mapped_column(UtcDateTime, nullable=True)  # when it last moved on


class RateWindow(Base):
    """Fixed-window counters shared by every API worker (rate limits and KYC velocity)."""

    __tablename__ = "rate_windows"

    bucket: Mapped[str] = mapped_column(String(128), primary_key=True)
    window_start: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    count: Mapped[int] = mapped_column(Integer, default=0)
    ends_at: Mapped[int] = mapped_column(BigInteger, index=True, server_default="0")


class KycRecord(Base, WrappedKeyHolder):
    __tablename__ = "kyc_records"

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    wallet: Mapped[str] = mapped_column(String(42), index=True)
    status: Mapped[str] = mapped_column(String(20), index=True)
    level: Mapped[int] = mapped_column(Integer)
    id_type: Mapped[str] = mapped_column(String(32))
    reasons: Mapped[list] = mapped_column(JSON, default=list)
    # HMAC of the normalised national ID; cleared on erasure.
    blind_index: Mapped[str | None] = mapped_column(String(64), index=True, nullable=True)
    # HMACs of the normalised phone, e-mail and address (checks/contacts.py), each under its own
    # prefix: compared across persons (kyc/contact_history.py); cleared on erasure. NULL on a record
    # sealed before they existed, until `loanchain kyc reindex`.
    phone_index: Mapped[str | None] = mapped_column(String(64), index=True, nullable=True)
    email_index: Mapped[str | None] = mapped_column(String(64), index=True, nullable=True)
    address_index: Mapped[str | None] = mapped_column(String(64), index=True, nullable=True)
    # Envelope: the data key wrapped under master key `key_id`; NULL once shredded.
    key_id: Mapped[str | None] = mapped_column(String(64), index=True, nullable=True)
    wrapped_key: Mapped[bytes | None] = mapped_column(LargeBinary, nullable=True)
    ciphertext: Mapped[bytes] = mapped_column(LargeBinary)
    commitment: Mapped[str] = mapped_column(String(66))
    document_count: Mapped[int] = mapped_column(Integer, default=0)
    submitted_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)
    decided_at: Mapped[datetime | None] = mapped_column(UtcDateTime, nullable=True)
    expires_at: Mapped[datetime | None] = mapped_column(UtcDateTime, nullable=True)
    attest_key: Mapped[str | None] = mapped_column(String(128), nullable=True)  # outbox idempotency key
    revoke_key: Mapped[str | None] = mapped_column(String(128), nullable=True)
    erased_at: Mapped[datetime | None] = mapped_column(UtcDateTime, nullable=True)

    documents: Mapped[list[KycDocument]] = relationship(back_populates="record", order_by="KycDocument.position")
    events: Mapped[list[KycEvent]] = relationship(back_populates="record", order_by="KycEvent.id")

    @property
    def key_ref(self) -> str:
        return self.id


class KycDocument(Base):
    __tablename__ = "kyc_documents"

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    record_id: Mapped[str] = mapped_column(ForeignKey("kyc_records.id"), index=True)
    position: Mapped[int] = mapped_column(Integer)
    media_type: Mapped[str] = mapped_column(String(40))
    size: Mapped[int] = mapped_column(Integer)
    ciphertext: Mapped[bytes] = mapped_column(LargeBinary)

    record: Mapped[KycRecord] = relationship(back_populates="documents")


class KycEvent(Base):
    """Status history: kept forever, also after erasure (it holds no personal data in clear)."""

    __tablename__ = "kyc_events"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    record_id: Mapped[str] = mapped_column(ForeignKey("kyc_records.id"), index=True)
    status: Mapped[str] = mapped_column(String(20))
    reasons: Mapped[list] = mapped_column(JSON, default=list)
    actor: Mapped[str] = mapped_column(String(42))  # a wallet, or "system"
    # A reviewer's free-text note, sealed with the record's data key: shredded with it.
    note_ciphertext: Mapped[bytes | None] = mapped_column(LargeBinary, nullable=True)
    at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)

    record: Mapped[KycRecord] = relationship(back_populates="events")


class KycOrigin(Base):
    """The network address a KYC submission came from, as an HMAC under the blind-index key (never
    in clear): several wallets applying from one address is how identity farms show. Kept only as
    long as the check looks back (`LOANCHAIN_KYC_ORIGIN_WINDOW`) and erased with the wallet's data."""

    __tablename__ = "kyc_origins"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    wallet: Mapped[str] = mapped_column(String(42), index=True)
    origin_index: Mapped[str] = mapped_column(String(64), index=True)
    seen_at: Mapped[datetime] = mapped_column(UtcDateTime, index=True, default=utcnow)


class KycDocumentView(Base):
    """An admin opened one of a record's ID documents (also in the audit log, as `kyc.document_view`).
    An approval of a record with documents needs a view of each by the approving admin: level 2
    rests on a person having looked at them (backend/identity/kyc/documents.py)."""

    __tablename__ = "kyc_document_views"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    record_id: Mapped[str] = mapped_column(ForeignKey("kyc_records.id"), index=True)
    document_id: Mapped[str] = mapped_column(ForeignKey("kyc_documents.id"), index=True)
    reader: Mapped[str] = mapped_column(String(42))
    at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)


class KycReveal(Base):
    """An admin unmasked a record, and why. The reason is sealed with the record's data key (as
    reviewers' notes are): auditors read it back with a recent sign-in, and it is shredded with the
    record. The audit entry `kyc.reveal` commits to the sealed reason's hash."""

    __tablename__ = "kyc_reveals"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    record_id: Mapped[str] = mapped_column(ForeignKey("kyc_records.id"), index=True)
    actor: Mapped[str] = mapped_column(String(42))
    reason_ciphertext: Mapped[bytes | None] = mapped_column(LargeBinary, nullable=True)  # set once the id is known
    at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow, index=True)


class ErasureRequest(Base):
    """A request to erase a wallet's personal data that waits out the AML record-keeping period
    (`erasure_requests.py`): who asked, when, and when it is due. One scheduled request a wallet (a
    second request is the same one); the retention worker carries it out when due, then marks it
    done with the erasure log entry it wrote. While scheduled, the wallet's processing is restricted."""

    __tablename__ = "kyc_erasure_requests"
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    wallet: Mapped[str] = mapped_column(String(42), index=True)
    # The wallet while scheduled, NULL once done: unique (NULLs are distinct on both engines), so a
    # wallet has one scheduled request at most, whoever asks and however often.
    open_for: Mapped[str | None] = mapped_column(String(42), unique=True, nullable=True)
    requested_by: Mapped[str] = mapped_column(String(42))  # the wallet itself, or an admin
    requested_at: Mapped[datetime] = mapped_column(UtcDateTime)
    # When it is due: the relationship's end plus the AML period; None while the relationship is open.
    erase_after: Mapped[datetime | None] = mapped_column(UtcDateTime, nullable=True)
    status: Mapped[str] = mapped_column(String(12), index=True)  # scheduled, then done
    done_at: Mapped[datetime | None] = mapped_column(UtcDateTime, nullable=True)
    erasure: Mapped[str | None] = mapped_column(String(32), nullable=True)  # the erasure log entry that did it


class KycPersonLink(Base):
    """Two KYC records of different national IDs that two admins found to be one person (a passport
    beside a national ID, sharing a phone or e-mail: `person_links.py`). Proposed by one admin,
    confirmed by another of another person; only a confirmed link joins the records' wallets as one
    borrower (`persons.borrower_wallets_of`). The pair is stored in id order, once. No personal data:
    the notes are kept as their SHA-256 (the reasons are the admins' to give in the audit log)."""

    __tablename__ = "kyc_person_links"
    __table_args__ = (UniqueConstraint("record_a", "record_b", name="uq_kyc_person_links_pair"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    record_a: Mapped[str] = mapped_column(ForeignKey("kyc_records.id"), index=True)
    record_b: Mapped[str] = mapped_column(ForeignKey("kyc_records.id"), index=True)
    proposed_by: Mapped[str] = mapped_column(String(42))
    proposed_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)
    note_sha256: Mapped[str] = mapped_column(String(64))
    confirmed_by: Mapped[str | None] = mapped_column(String(42), nullable=True)
    confirmed_at: Mapped[datetime | None] = mapped_column(UtcDateTime, nullable=True)
    confirm_note_sha256: Mapped[str | None] = mapped_column(String(64), nullable=True)
