"""Servicing read model and notices. `servicing_states` is recomputed by every servicing pass from
the contract (disposable, like the chain index); `servicing_notices` is the record of what the
borrower was told, kept once per (loan, installment, kind) so a reminder is never sent twice."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import (
    BigInteger,
    Boolean,
    ColumnElement,
    DateTime,
    Integer,
    LargeBinary,
    String,
    Text,
    UniqueConstraint,
    select,
)
from sqlalchemy.orm import Mapped, mapped_column

from backend.chain.models import Uint
from backend.chain.projection_models import LoanRow
from backend.db.base import Base
from backend.identity.crypto.holders import WrappedKeyHolder
from backend.scoring.models import utcnow


class ServicingState(Base):
    __tablename__ = "servicing_states"

    loan_id: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=False)
    borrower: Mapped[str] = mapped_column(String(42), index=True)
    bucket: Mapped[str] = mapped_column(String(20), index=True)
    days_past_due: Mapped[int] = mapped_column(Integer)
    installments_paid: Mapped[int] = mapped_column(Integer)
    due_now: Mapped[int] = mapped_column(Uint)
    payoff: Mapped[int] = mapped_column(Uint)
    next_due_date: Mapped[int] = mapped_column(BigInteger)
    defaultable_at: Mapped[int] = mapped_column(BigInteger)
    as_of: Mapped[int] = mapped_column(BigInteger)  # the chain time the position was computed at
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class ServicingNotice(Base):
    __tablename__ = "servicing_notices"
    __table_args__ = (UniqueConstraint("loan_id", "installment", "kind", "recipient", name="uq_servicing_notices_once"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    loan_id: Mapped[int] = mapped_column(BigInteger, index=True)
    borrower: Mapped[str] = mapped_column(String(42), index=True)  # the loan's, whoever is told
    recipient: Mapped[str] = mapped_column(String(42), index=True)  # the borrower, or a note holder
    installment: Mapped[int] = mapped_column(Integer)  # 0 for notices about the whole loan
    kind: Mapped[str] = mapped_column(String(20), index=True)  # roll rates read the late ones
    due_date: Mapped[int] = mapped_column(BigInteger)
    amount: Mapped[int] = mapped_column(Uint)
    message: Mapped[str] = mapped_column(Text)  # no limit: an overlong one failed the whole pass (0057)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    # The chain time of the pass that gave a borrower's notice of a late installment (migration 0056):
    # the right to cure runs from it (`cure.py`). NULL for other notices and those given before.
    chain_time: Mapped[int | None] = mapped_column(BigInteger, nullable=True)
    # E-mail delivery (at least once: a crash between the SMTP reply and the commit re-sends, with
    # the same Message-ID so mail clients fold the copies).
    emailed_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)
    email_attempts: Mapped[int] = mapped_column(Integer, default=0)
    email_error: Mapped[str | None] = mapped_column(String(500), nullable=True)
    # When the next attempt may be made (unix seconds, wall clock; None: now): backoff after a
    # failure, and a lease while one delivery is sending it (migration 0039).
    email_retry_at: Mapped[int | None] = mapped_column(BigInteger, nullable=True)
    # Text message (SMS) delivery of a borrower's payment notices, at least once like e-mail.
    sms_sent_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)
    sms_attempts: Mapped[int] = mapped_column(Integer, default=0)
    sms_error: Mapped[str | None] = mapped_column(String(500), nullable=True)
    sms_id: Mapped[str | None] = mapped_column(String(64), nullable=True)  # the provider's message id
    sms_retry_at: Mapped[int | None] = mapped_column(BigInteger, nullable=True)  # as email_retry_at


class CollectionAction(Base, WrappedKeyHolder):
    """What collections staff did about a late loan and what the borrower said: the case log a
    lender keeps (contacts, promises to pay, disputes, hardship). Never edited; each is also in the
    audit log. A promise's outcome is read from the chain's payments, not typed in.

    The note is free text about a person's circumstances, so it is sealed (AES-256-GCM) under the
    entry's own data key, wrapped by the KYC master keyring: rotated with it, and shredded when the
    borrower's personal data is erased. The kind, dates and amounts stay: they are the debt's."""

    __tablename__ = "collection_actions"
    __table_args__ = (UniqueConstraint("actor", "idempotency_key", name="uq_collection_actions_idempotency_key"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    loan_id: Mapped[int] = mapped_column(BigInteger, index=True)
    kind: Mapped[str] = mapped_column(String(20))
    sealed_note: Mapped[bytes | None] = mapped_column(LargeBinary, nullable=True)  # set once the id is known
    key_id: Mapped[str | None] = mapped_column(String(64), index=True, nullable=True)
    wrapped_key: Mapped[bytes | None] = mapped_column(LargeBinary, nullable=True)
    actor: Mapped[str] = mapped_column(String(42))
    chain_time: Mapped[int] = mapped_column(BigInteger)  # when it was recorded, on the chain's clock
    promised_amount: Mapped[int | None] = mapped_column(Uint, nullable=True)
    promised_by: Mapped[int | None] = mapped_column(BigInteger, nullable=True)  # chain time
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    # The `Idempotency-Key` its request carried: a retry with it finds this entry (the actor's own keys only).
    idempotency_key: Mapped[str | None] = mapped_column(String(128), nullable=True)

    @property
    def key_ref(self) -> str:
        return f"collection-action/{self.id}"

    @classmethod
    def about(cls, wallet: str) -> ColumnElement[bool]:
        return cls.loan_id.in_(select(LoanRow.loan_id).where(LoanRow.borrower == wallet))


class NoticePreference(Base):
    """How a wallet wants its notices beyond the in-app list: by e-mail and by text message, each on
    unless turned off (no row: both on). Notices of money owed late or in default go by e-mail
    whatever the preference: the lender must give them in writing."""

    __tablename__ = "notice_preferences"

    wallet: Mapped[str] = mapped_column(String(42), primary_key=True)
    email: Mapped[bool] = mapped_column(Boolean, default=True)
    sms: Mapped[bool] = mapped_column(Boolean, default=True)
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow, onupdate=utcnow)


class HardshipPlan(Base):
    """A hardship plan: a late or struggling borrower pays `installment_amount` every `period_days`
    for `periods` periods instead of the loan's schedule, and meanwhile reminders, texts and the
    platform's own default wait. It holds the default longer than a promise to pay, so two staff
    agree it (maker-checker): proposed by one, confirmed by another person; from then on it is
    judged by the chain's payments (`plans.judge`), never typed in. Never edited but to be decided."""

    __tablename__ = "hardship_plans"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    loan_id: Mapped[int] = mapped_column(BigInteger, index=True)
    installment_amount: Mapped[int] = mapped_column(Uint)
    period_days: Mapped[int] = mapped_column(Integer)
    periods: Mapped[int] = mapped_column(Integer)
    proposed_by: Mapped[str] = mapped_column(String(42))
    proposed_at: Mapped[int] = mapped_column(BigInteger)  # chain time
    # confirmed | rejected once decided; a proposal nobody decides lapses (`plans.CONFIRM_DAYS`).
    decision: Mapped[str | None] = mapped_column(String(10), nullable=True)
    decided_by: Mapped[str | None] = mapped_column(String(42), nullable=True)
    decided_at: Mapped[int | None] = mapped_column(BigInteger, nullable=True)  # chain time: a confirmed plan starts then
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
