"""Recorded credit decisions. Each row holds what is needed to recompute its decision hash:
the model version, the canonical inputs and the outputs (see service.decision_hash)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import JSON, DateTime, Float, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from backend.db.base import Base


def utcnow() -> datetime:
    return datetime.now(UTC)


class CreditDecision(Base):
    __tablename__ = "credit_decisions"

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    model_version: Mapped[str] = mapped_column(String(66), index=True)
    input_hash: Mapped[str] = mapped_column(String(66), index=True)
    decision_hash: Mapped[str] = mapped_column(String(66), index=True)
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
    review_note: Mapped[str | None] = mapped_column(String(500), nullable=True)
    # No direct identifiers here: the application's financial characteristics only, kept so an
    # auditor can replay the decision and recompute its hash.
    inputs: Mapped[dict[str, Any]] = mapped_column(JSON)
    outputs: Mapped[dict[str, Any]] = mapped_column(JSON)
