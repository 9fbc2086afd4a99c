"""Published disclosure reports: the platform's figures for a month, frozen as a document whose
bytes are kept content-addressed (CID) and whose hash is anchored on-chain, so nobody (the
platform included) can later change what was published."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import BigInteger, DateTime, ForeignKey, String
from sqlalchemy.orm import Mapped, mapped_column, relationship

from backend.anchoring.models import Document
from backend.db.base import Base


class DisclosureReport(Base):
    __tablename__ = "disclosure_reports"

    period: Mapped[str] = mapped_column(String(7), primary_key=True)  # YYYY-MM: once per month
    document_id: Mapped[int] = mapped_column(ForeignKey("documents.id"), unique=True)
    cid: Mapped[str] = mapped_column(String(100))
    doc_hash: Mapped[str] = mapped_column(String(66))
    as_of_block: Mapped[int | None] = mapped_column(BigInteger)
    loan_tape_cid: Mapped[str] = mapped_column(String(100))  # the loan-level CSV, anchored beside it
    published_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    published_by: Mapped[str] = mapped_column(String(64))

    document: Mapped[Document] = relationship()
