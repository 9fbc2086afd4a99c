"""The shape of a wallet's export of its own personal data (GET /api/v1/kyc/me/export)."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, Field

from backend.identity.schemas import KycDataPublic, KycPublic
from backend.scoring.schemas import DecisionPublic
from backend.servicing.schemas import NoticePublic
from backend.units import MaybeBaseUnits, MaybeUnixSeconds, UnixSeconds


class KycDocumentExport(BaseModel):
    index: int = Field(description="Its place in the submission, from 0")
    media_type: str = Field(description="As detected from the file's content: image/jpeg, image/png or application/pdf")
    size: int
    content_base64: str = Field(description="The file as uploaded, base64-encoded")


class KycRecordExport(BaseModel):
    record: KycPublic = Field(description="The record and its history, as the owner reads it (GET /kyc/me)")
    data: KycDataPublic = Field(description="Its personal data, decrypted, with the salt of the on-chain commitment")
    documents: list[KycDocumentExport]


class CreditApplicationExport(BaseModel):
    inputs: dict[str, Any] = Field(description="The application as declared and scored")
    decision: DecisionPublic


class CaseLogEntryExport(BaseModel):
    id: int
    loan_id: int
    kind: str = Field(description="hardship (your request for help), or what staff recorded: contacted, no_answer, "
                      "promise_to_pay, dispute, hardship, note")  # fmt: skip
    by: Literal["you", "staff"]
    note: str | None = Field(description="None once erased (its key shredded)")
    chain_time: UnixSeconds
    promised_amount: MaybeBaseUnits
    promised_by: MaybeUnixSeconds
    created_at: datetime


class KycExportPublic(BaseModel):
    wallet: str
    exported_at: datetime
    records: list[KycRecordExport] = Field(description="Every KYC record of the wallet not erased, newest first")
    credit_applications: list[CreditApplicationExport] = Field(description="Oldest first; erased ones are gone")
    hardship_requests: list[CaseLogEntryExport] = Field(description="What you told the lender about your loans")
    case_log: list[CaseLogEntryExport] = Field(description="What collections staff recorded about your loans")
    notices: list[NoticePublic] = Field(description="What you were told, as a borrower and as an investor, newest first")
    withheld: list[str] = Field(description="What the platform holds about you and does not give here, and why")
