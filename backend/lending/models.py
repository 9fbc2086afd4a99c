"""Loan offers: terms priced from one approved credit decision, waiting for (or carrying) the
borrower's signature. The loan itself lives on-chain and in the chain index (`chain_loans`)."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import JSON, BigInteger, DateTime, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from backend.chain.models import Uint
from backend.db.base import Base
from backend.scoring.models import utcnow


class OfferStatus(StrEnum):
    OFFERED = "offered"  # waiting for the borrower's signature
    ACCEPTED = "accepted"  # signed by both; createLoan is in the outbox
    SUPERSEDED = "superseded"  # a newer offer to the same borrower took its nonce


class LoanOffer(Base):
    __tablename__ = "loan_offers"

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    decision_id: Mapped[str] = mapped_column(String(36), index=True)
    borrower: Mapped[str] = mapped_column(String(42), index=True)
    status: Mapped[str] = mapped_column(String(20), index=True, default=OfferStatus.OFFERED)
    amount: Mapped[int] = mapped_column(Integer)  # whole units of the loan currency
    quoted_apr_bps: Mapped[int] = mapped_column(Integer)  # all-in, as the decision priced it
    chain_id: Mapped[int] = mapped_column(Integer)
    loan_book: Mapped[str] = mapped_column(String(42))
    asset_decimals: Mapped[int] = mapped_column(Integer)
    terms: Mapped[dict[str, Any]] = mapped_column(JSON)  # LoanTerms.to_json()
    terms_hash: Mapped[str] = mapped_column(String(66), unique=True)  # EIP-712 struct hash, as LoanBook emits it
    agreement_cid: Mapped[str] = mapped_column(String(100))
    agreement_hash: Mapped[str] = mapped_column(String(66))
    borrower_signature: Mapped[str | None] = mapped_column(Text)
    underwriter_signature: Mapped[str | None] = mapped_column(Text)
    intent_key: Mapped[str | None] = mapped_column(String(200))
    accepted_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))


class InvestmentRule(Base):
    """An investor's standing instruction (one per wallet): which new loans to be told of, and the
    amount to fund in each when the investor says so from its wallet."""

    __tablename__ = "investment_rules"

    wallet: Mapped[str] = mapped_column(String(42), primary_key=True)
    per_loan: Mapped[int] = mapped_column(Uint)
    grades: Mapped[list[str] | None] = mapped_column(JSON, nullable=True)
    min_apr_bps: Mapped[int | None] = mapped_column(Integer, nullable=True)
    max_installments: Mapped[int | None] = mapped_column(Integer, nullable=True)
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class MandateStatus(StrEnum):
    ACTIVE = "active"  # the keeper funds the standing instruction's matches with it
    CANCELLED = "cancelled"  # withdrawn by the investor (who also cancels it on chain)


class FundingMandateRow(Base):
    """An investor's signed funding mandate (`FundingAgent.fundWithMandate`): the on-chain bounds it
    signed, its signature, and whether the platform's keeper still uses it. At most one active
    mandate per wallet; what it has funded is on chain (`mandateSpent`, `MandateUsed` events)."""

    __tablename__ = "funding_mandates"

    mandate_hash: Mapped[str] = mapped_column(String(66), primary_key=True)  # its EIP-712 digest, the id on chain
    wallet: Mapped[str] = mapped_column(String(42), index=True)
    status: Mapped[str] = mapped_column(String(20), index=True, default=MandateStatus.ACTIVE)
    chain_id: Mapped[int] = mapped_column(Integer)
    agent: Mapped[str] = mapped_column(String(42))  # the FundingAgent: the EIP-712 domain it was signed for
    mandate: Mapped[dict[str, Any]] = mapped_column(JSON)  # FundingMandate.to_json()
    expiry: Mapped[int] = mapped_column(BigInteger)
    signature: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    cancelled_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))


class RepaymentMandateRow(Base):
    """A payer's signed autopay mandate for one loan (`RepaymentAgent.payWithMandate`): the bounds
    it signed, its signature, and whether the platform's keeper still uses it. At most one active
    per loan; what it paid is on chain (`PaidWithMandate` events)."""

    __tablename__ = "repayment_mandates"

    mandate_hash: Mapped[str] = mapped_column(String(66), primary_key=True)  # its EIP-712 digest, the id on chain
    loan_id: Mapped[int] = mapped_column(BigInteger, index=True)
    payer: Mapped[str] = mapped_column(String(42), index=True)
    status: Mapped[str] = mapped_column(String(20), index=True, default=MandateStatus.ACTIVE)
    chain_id: Mapped[int] = mapped_column(Integer)
    agent: Mapped[str] = mapped_column(String(42))
    mandate: Mapped[dict[str, Any]] = mapped_column(JSON)  # RepaymentMandate.to_json()
    expiry: Mapped[int] = mapped_column(BigInteger)
    signature: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    cancelled_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
