"""Recorded credit decisions. Each row holds what is needed to recompute its decision hash:
the model version, the canonical inputs and the outputs (see service.decision_hash)."""

from __future__ import annotations

from datetime import UTC, date, datetime
from typing import Any

from sqlalchemy import JSON, ColumnElement, Date, DateTime, Float, Integer, LargeBinary, String
from sqlalchemy.orm import Mapped, mapped_column

from backend.db.base import Base
from backend.identity.crypto.holders import WrappedKeyHolder


def utcnow() -> datetime:
    return datetime.now(UTC)


class CreditDecision(Base, WrappedKeyHolder):
    __tablename__ = "credit_decisions"

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    model_version: Mapped[str] = mapped_column(String(66), index=True)
    # None once the application was erased: an unsalted hash of a few closed choices gives them back.
    input_hash: Mapped[str | None] = mapped_column(String(66), index=True, nullable=True)
    decision_hash: Mapped[str] = mapped_column(String(66), index=True)
    # The keyed salt the hash commits under (backend/scoring/salt.py); None: recorded before salts.
    salt: Mapped[str | None] = mapped_column(String(66), nullable=True)
    score: Mapped[int] = mapped_column(Integer)
    grade: Mapped[str] = mapped_column(String(1))
    pd: Mapped[float] = mapped_column(Float)
    decision: Mapped[str] = mapped_column(String(10))
    apr_bps: Mapped[int | None] = mapped_column(Integer, nullable=True)
    # The signed-in wallet that asked (outside the hash: who asked does not change the decision).
    # Only that wallet may turn an approval into a loan offer.
    wallet: Mapped[str | None] = mapped_column(String(42), nullable=True, index=True)
    # An underwriter's verdict on a referral (also outside the hash: the model's decision stands
    # as recorded; the review is a second, human decision beside it, and in the audit log).
    review: Mapped[str | None] = mapped_column(String(10), nullable=True)
    reviewed_by: Mapped[str | None] = mapped_column(String(42), nullable=True)
    reviewed_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)
    # The underwriter's note is free text about the applicant's circumstances, so it is sealed
    # (AES-256-GCM) under the row's own data key, wrapped by the KYC master keyring: rotated with
    # it, and shredded when the applicant's personal data is erased (`review_notes.py`). The
    # verdict, reviewer and time stay in clear: they are the decision's record.
    sealed_review_note: Mapped[bytes | None] = mapped_column(LargeBinary, nullable=True)
    key_id: Mapped[str | None] = mapped_column(String(64), index=True, nullable=True)
    wrapped_key: Mapped[bytes | None] = mapped_column(LargeBinary, nullable=True)
    # The application as submitted (declared finances: personal data while `wallet` names its
    # applicant), kept so an auditor can replay the decision and recompute its hash. When the
    # applicant's personal data is erased, a decision no loan was made from loses its inputs, wallet,
    # input hash, salt and all outputs but score, grade, PD and decision (`erased_at` says so; it can
    # no longer be proven); a loan's decision keeps them (backend/identity/kyc/erasure_scope.py).
    inputs: Mapped[dict[str, Any]] = mapped_column(JSON)
    erased_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)
    outputs: Mapped[dict[str, Any]] = mapped_column(JSON)

    @property
    def key_ref(self) -> str:
        return f"credit-decision/{self.id}"

    @classmethod
    def about(cls, wallet: str) -> ColumnElement[bool]:
        return cls.wallet == wallet


class FairLendingCheck(Base):
    """One scheduled fair-lending check (backend/scoring/fair_lending_checks.py): the live report over
    the trailing window, as staff would read it, kept so a flag is seen and its history shown. One a
    UTC day (`checked_on` unique): two rounds at once store one."""

    __tablename__ = "fair_lending_checks"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    checked_on: Mapped[date] = mapped_column(Date, unique=True)
    checked_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    checked_by: Mapped[str] = mapped_column(String(64))
    since: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    until: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    flagged: Mapped[list[str]] = mapped_column(JSON)  # the bands below four fifths, [] when none
    report: Mapped[dict[str, Any]] = mapped_column(JSON)  # FairLendingPublic: counts only, no applicant
