"""Request and response shapes of the identity API (XCreate in, XPublic out).

Validators never put the rejected value into their messages: FastAPI would echo it back.
"""

from __future__ import annotations

import re
import unicodedata
from datetime import date, datetime
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from backend.identity.checks.countries import ISO_3166_ALPHA3, NATIONALITIES
from backend.identity.checks.national_id import IdType
from backend.input_text import ExactLines, Note, OneLine
from backend.units import BaseUnits

E164 = re.compile(r"^\+[1-9]\d{6,14}$")
# The local part as a dot-atom (RFC 5322 atext, and any other letter RFC 6531 allows), the domain as
# LDH labels: a NUL or an escape in it broke the e-mail notices sent to it (the To header).
ATEXT = r"[^\s@\"(),.:;<>\[\]\\]"
EMAIL = re.compile(rf"^(?=[^@]{{1,64}}@){ATEXT}+(?:\.{ATEXT}+)*"
                   r"@[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?)+\Z")
ALPHA3 = r"^[A-Z]{3}$"


# --- sign-in ----------------------------------------------------------------------------------


class NoncePublic(BaseModel):
    nonce: str
    expires_at: datetime
    chain_id: int
    domains: list[str]
    message: str | None = Field(default=None, description="A ready message to sign, when ?address=&domain= were given")


class LoginCreate(BaseModel):
    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [{
        "message": "localhost:8000 wants you to sign in with your Ethereum account:\n"
                   "0xf39Fd6e51aad88F6F4ce6aB8827279cffFb92266\n\nSign in to loanchain.\n\n"
                   "URI: http://localhost:8000\nVersion: 1\nChain ID: 31337\nNonce: 9f86d081884c7d659a2feaa0c55ad015\n"
                   "Issued At: 2026-01-05T09:30:00Z\nExpiration Time: 2026-01-05T09:35:00Z",
        "signature": "0x" + "5a" * 64 + "1b"}]})  # fmt: skip

    message: ExactLines = Field(min_length=1, max_length=4096, description="The EIP-4361 message, exactly as signed")
    signature: OneLine = Field(min_length=1, max_length=1024, description="0x-prefixed personal_sign signature")


class RefreshCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    refresh_token: OneLine = Field(min_length=1, max_length=4096)


class TokenPublic(BaseModel):
    access_token: str
    refresh_token: str
    token_type: str = "bearer"
    expires_in: int


class MePublic(BaseModel):
    wallet: str
    roles: list[str]


class LogoutPublic(BaseModel):
    revoked: int = Field(description="Number of the caller's sessions ended (their refresh tokens revoked)")


# --- KYC --------------------------------------------------------------------------------------


def _clean_text(value: str) -> str:
    value = unicodedata.normalize("NFC", value).strip()
    if any(unicodedata.category(c) in ("Cc", "Cf") for c in value):
        raise ValueError("must not contain control characters")
    return re.sub(r"\s+", " ", value)


class KycCreate(BaseModel):
    """One applicant's identity, submitted as form fields (multipart when documents are attached)."""

    # An unknown form field is refused, as every other request model refuses one: dropped silently, a
    # client that thinks it set `wallet` or `level` would never know it did not.
    model_config = ConfigDict(str_strip_whitespace=True, extra="forbid")

    full_name: str = Field(min_length=2, max_length=200)
    date_of_birth: date
    nationality: str = Field(pattern=ALPHA3, description="ISO 3166-1 alpha-3, as in passports (e.g. CHN, DEU)")
    id_type: IdType
    id_number: OneLine = Field(min_length=1, max_length=64, description="PRC ID number, or the passport MRZ second line")
    address_line: str = Field(min_length=1, max_length=200)
    city: str = Field(min_length=1, max_length=100)
    postal_code: str = Field(min_length=1, max_length=20, pattern=r"^[A-Za-z0-9 -]+$")
    country: str = Field(pattern=ALPHA3, description="ISO 3166-1 alpha-3 of the address")
    phone: OneLine = Field(min_length=7, max_length=24, description="E.164, e.g. +8613800138000")
    email: OneLine = Field(min_length=3, max_length=254)

    @field_validator("full_name", "address_line", "city")
    @classmethod
    def _text(cls, value: str) -> str:
        return _clean_text(value)

    @field_validator("nationality", "country", mode="before")
    @classmethod
    def _upper(cls, value):
        return value.strip().upper() if isinstance(value, str) else value

    @field_validator("nationality")
    @classmethod
    def _nationality(cls, value: str) -> str:
        if value not in NATIONALITIES:
            raise ValueError("must be an ISO 3166-1 alpha-3 country code (or an ICAO 9303 code such as XXA, stateless)")
        return value

    @field_validator("country")
    @classmethod
    def _country(cls, value: str) -> str:
        if value not in ISO_3166_ALPHA3:
            raise ValueError("must be an ISO 3166-1 alpha-3 country code, e.g. CHN, DEU")
        return value

    @field_validator("phone")
    @classmethod
    def _phone(cls, value: str) -> str:
        compact = re.sub(r"[\s().-]", "", value)
        if not E164.match(compact):
            raise ValueError("must be an international number in E.164 form, e.g. +8613800138000")
        return compact

    @field_validator("email")
    @classmethod
    def _email(cls, value: str) -> str:
        if not EMAIL.match(value) or any(unicodedata.category(c) in ("Cc", "Cf") for c in value):
            raise ValueError("must be an email address")
        local, _, domain = value.rpartition("@")
        return f"{local}@{domain.lower()}"


class KycForm(KycCreate):
    """`KycCreate` as the API's form posts it: its files come in the same form, as `documents`,
    which the route reads apart (bounded), so they are no unknown field here."""

    model_config = ConfigDict(json_schema_extra={"examples": [{
        "full_name": "Lin Qiaoyun", "date_of_birth": "1990-05-17", "nationality": "CHN", "id_type": "prc_resident_id",
        "id_number": "110105199005173319", "address_line": "12 Jianguo Road", "city": "Beijing", "postal_code": "100022",
        "country": "CHN", "phone": "+8613800138000", "email": "lin.qiaoyun@example.org"}]})  # fmt: skip

    @model_validator(mode="before")
    @classmethod
    def _files_apart(cls, values):
        return {k: v for k, v in values.items() if k != "documents"} if isinstance(values, dict) else values


class KycReasonPublic(BaseModel):
    code: str
    message: str
    disposition: str


class AttestationPublic(BaseModel):
    key: str
    status: str  # the outbox intent's status, or "not_queued"
    tx_hash: str | None = None
    block_number: int | None = None
    error: str | None = None


class KycEventPublic(BaseModel):
    status: str
    reasons: list[KycReasonPublic]
    actor: str
    at: datetime


class KycPublic(BaseModel):
    """A record's status (no personal data: that is under /kyc/me/data). The owner's copy reads every
    flag as UNDER_REVIEW and staff as "reviewer" (kyc/views.py `owner_view`); staff's has it all."""

    id: str
    wallet: str
    status: str
    level: int
    id_type: str
    reasons: list[KycReasonPublic]
    submitted_at: datetime
    decided_at: datetime | None
    expires_at: datetime | None
    commitment: str
    document_count: int
    erased: bool
    attestation: AttestationPublic | None = None
    revocation: AttestationPublic | None = None
    history: list[KycEventPublic] = []


class KycStatusPublic(BaseModel):
    wallet: str
    status: str  # the current record's status, or "none"
    roles: list[str]
    current: KycPublic | None
    records: list[KycPublic]
    erasure: ErasureScheduledPublic | None = Field(None, description="The wallet's erasure, asked for and waiting out "
                                                    "the AML record-keeping period; null when none is scheduled")


class PersonalDataPublic(BaseModel):
    full_name: str
    date_of_birth: str
    nationality: str
    id_type: str
    id_number: str
    address_line: str
    city: str
    postal_code: str
    country: str
    phone: str
    email: str


class KycDataPublic(BaseModel):
    """The decrypted record, for its owner or an admin who chose to reveal it."""

    record_id: str
    wallet: str
    level: int
    masked: bool
    data: PersonalDataPublic
    salt: str | None = None  # hex; with `canonical`, enough to recompute the commitment
    canonical: str | None = None
    commitment: str


class SameIdLoanPublic(BaseModel):
    loan_id: int
    borrower: str = Field(description="The other wallet of the same national ID that borrowed it")
    standing: Literal["funding", "active", "late", "defaulted"] = Field(
        description="active: repaid on time; late: an installment is past due (days_late); defaulted: money still owed"
    )
    days_late: int = Field(description="Days the oldest unpaid installment is past due (0 unless late)")
    owed: BaseUnits = Field(description="Principal outstanding (the whole principal while funding; at default, what is still to recover)")


class SameContactPublic(BaseModel):
    wallet: str = Field(description="Another person's wallet (another national ID) whose record shares contact data")
    shared: list[Literal["phone", "email", "address"]] = Field(
        description="What it shares (an address only when more persons than the bound give it); never the value itself"
    )
    record_ids: list[str] = Field(
        default_factory=list,
        description="That wallet's records that share it: what POST /api/v1/admin/kyc/{id}/person-links may link this one to",
    )


class PersonLinkCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    other_record_id: str = Field(min_length=36, max_length=36, description="The record of the same person's other identity")
    note: Note = Field(min_length=1, max_length=2000, description="Why they are one person; kept as its SHA-256")


class PersonLinkPublic(BaseModel):
    record_id: str
    other_record_id: str
    other_wallet: str = Field(description="The wallet of the other record")
    status: Literal["proposed", "confirmed"] = Field(
        description="proposed: waits for a second admin (of another person); confirmed: the two records' wallets are "
        "one borrower to the debt checks once both were approved"
    )
    proposed_by: str
    proposed_at: datetime
    confirmed_by: str | None = None
    confirmed_at: datetime | None = None


class ReviewItemPublic(BaseModel):
    record: KycPublic
    data: PersonalDataPublic  # masked
    same_id_wallets: list[str] = Field(
        default_factory=list,
        description="Other wallets with a record of the same national ID, of any status but erased (matched by blind "
        "index): whom a DUPLICATE_IDENTITY flag points at. Wallet addresses only: their personal data stays masked",
    )
    same_id_loans: list[SameIdLoanPublic] = Field(
        default_factory=list,
        description="The loans those wallets are still in (being funded, repaid, late, or defaulted with money owed), "
        "from the chain index: what clearing the ID as one person's second wallet lets it borrow beside",
    )
    same_contact: list[SameContactPublic] = Field(
        default_factory=list,
        description="Other persons' wallets whose records share this record's phone, e-mail or address (matched by "
        "blind index, read now): whom a SHARED_CONTACT flag points at. The contact itself stays masked",
    )
    first_approved_by: str | None = Field(
        default=None, description="The admin whose approval waits for a second admin's (a sanctions or duplicate-ID flag)"
    )
    person_links: list[PersonLinkPublic] = Field(
        default_factory=list, description="Same-person links of this record to other identities, proposed or confirmed"
    )


class DecisionCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    note: Note = Field(min_length=1, max_length=2000, description="Why; stored encrypted with the record")


class RejectionCreate(DecisionCreate):
    ground: Literal["identity", "other"] = Field(
        default="identity",
        description="identity (the default): the applicant is not who the record says (a stolen or made-up identity, a "
        "confirmed watch-list match); its national ID then waits for two admins at every later submission, on any "
        "wallet. other: anything else (an unreadable document); this wallet may then be approved with it automatically "
        "again (another wallet naming it still goes to review)",
    )


RevealReason = Literal["review", "fraud_investigation", "customer_request", "legal_request"]


class RevealCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    reason: RevealReason


class RevealPublic(BaseModel):
    """One reveal of a record's personal data, as oversight reads it (kyc/reveals.py)."""

    id: int
    record_id: str
    wallet: str
    revealed_by: str
    at: datetime
    reason: RevealReason | None = Field(description="Why the admin revealed it; None once the record was erased "
                                        "(its key shredded, the reason with it)")  # fmt: skip


class RoleGrantCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    wallet: str = Field(pattern=r"^0x[0-9a-fA-F]{40}$")
    role: Literal["auditor", "underwriter", "admin"]
    action: Literal["grant", "revoke"] = "grant"


class RoleGrantPublic(BaseModel):
    wallet: str
    role: str
    granted_by: str = Field(description="The admin who proposed it, or the operator's name for a CLI grant")
    granted_at: datetime
    confirmed_by: str | None = Field(None, description="The second admin; none for a grant by the operator's CLI")


class RoleProposalPublic(BaseModel):
    id: int
    wallet: str
    role: str
    proposed_by: str
    proposed_at: datetime
    expires_at: datetime
    status: Literal["pending", "confirmed", "rejected", "expired"]
    decided_by: str | None
    decided_at: datetime | None


class RoleChangePublic(BaseModel):
    wallet: str
    role: str
    action: str = Field(description="grant, revoke, or reject (a proposed grant)")
    changed: bool = Field(description="Whether the wallet's roles changed: a proposed grant changes nothing yet")
    roles: list[str]
    proposal: RoleProposalPublic | None = Field(None, description="The grant proposed, confirmed or rejected")


class ExpiredPublic(BaseModel):
    expired: list[str] = Field(description="The ids of the KYC records expired now, their attestations revoked")


class ErasurePublic(BaseModel):
    status: Literal["erased"] = Field("erased", description="Erased now (a request the AML period holds off answers 202, "
                                      "`ErasureScheduledPublic`)")
    wallet: str
    erased_records: list[str]
    revocations: list[str]
    erased_notes: int = Field(0, description="Other notes about the wallet shredded with it (the collections case log's)")
    erased_decisions: list[str] = Field([], description="Its credit decisions no loan was made from: their application (inputs) erased")
    erased_offers: list[str] = Field([], description="Its loan offers never accepted: deleted (each named the wallet, its "
                                     "decision, amount and term)")


class ErasureScheduledPublic(BaseModel):
    """An erasure asked for while the AML record-keeping period runs: recorded, carried out when due."""

    status: Literal["scheduled"] = "scheduled"
    wallet: str
    requested_at: datetime = Field(description="When it was first asked for (a repeat is the same request)")
    requested_by: str = Field(description="The wallet that asked: the person, or an admin (to the person: `staff`)")
    erase_after: datetime | None = Field(description="When the retention worker erases it; null while the business "
                                         "relationship is open (then the AML period after its end)")
    relationship_ended_at: datetime | None = Field(description="When the business relationship ended, as the chain "
                                                   "index shows; null while it is open")
    reason: str = Field(description="Why the data is kept until then; meanwhile its processing is restricted")
