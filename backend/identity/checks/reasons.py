"""Reason codes: one per check outcome, stable strings that clients and reviewers can rely on.

Messages never contain the applicant's personal data: they name the rule, not the value.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from enum import StrEnum


class Disposition(StrEnum):
    INVALID = "invalid"  # bad input: 422, nothing stored
    REFUSE = "refuse"  # too many submissions: 429, nothing stored
    REJECT = "reject"  # stored and rejected automatically
    REVIEW = "review"  # stored and queued for a human
    DECISION = "decision"  # a reviewer's or the system's later decision (approval, expiry, erasure)


class Code(StrEnum):
    FIELD_INVALID = "FIELD_INVALID"
    ID_FORMAT = "ID_FORMAT"
    ID_CHECKSUM = "ID_CHECKSUM"
    ID_DOB_MISMATCH = "ID_DOB_MISMATCH"
    ID_NATIONALITY_MISMATCH = "ID_NATIONALITY_MISMATCH"
    ID_EXPIRED = "ID_EXPIRED"
    DOB_INVALID = "DOB_INVALID"
    UNDER_AGE = "UNDER_AGE"
    DOCUMENT_TYPE = "DOCUMENT_TYPE"
    DOCUMENT_TOO_LARGE = "DOCUMENT_TOO_LARGE"
    DOCUMENT_COUNT = "DOCUMENT_COUNT"
    DUPLICATE_IDENTITY = "DUPLICATE_IDENTITY"
    DENIED_IDENTITY = "DENIED_IDENTITY"  # a reviewer rejected this national ID on identity grounds
    SANCTIONS_MATCH = "SANCTIONS_MATCH"
    SHARED_ORIGIN = "SHARED_ORIGIN"
    SHARED_ID = "SHARED_ID"  # many wallets named one national ID lately
    SHARED_CONTACT = "SHARED_CONTACT"  # a phone, e-mail (or much-shared address) on another person's record
    DOCUMENT_REVIEW = "DOCUMENT_REVIEW"  # ID documents sent: a person opens them before level 2 is granted
    VELOCITY_WALLET = "VELOCITY_WALLET"
    VELOCITY_ID = "VELOCITY_ID"
    MANUAL_APPROVAL = "MANUAL_APPROVAL"
    FIRST_APPROVAL = "FIRST_APPROVAL"  # one admin of the two a grave flag needs has approved
    MANUAL_REJECTION = "MANUAL_REJECTION"
    EXPIRED = "EXPIRED"
    ERASED = "ERASED"
    UNDER_REVIEW = "UNDER_REVIEW"  # what the applicant reads in place of the flags (kyc/views.py)


@dataclass(frozen=True)
class Reason:
    code: Code
    message: str
    disposition: Disposition

    def as_dict(self) -> dict[str, str]:
        data = asdict(self)
        return {"code": str(data["code"]), "message": data["message"], "disposition": str(data["disposition"])}

    @classmethod
    def from_dict(cls, data: dict[str, str]) -> Reason:
        return cls(Code(data["code"]), data["message"], Disposition(data["disposition"]))


# The form field each input refusal is about, so its 422 names it as every other refusal does. A
# mismatch names the stated field the ID contradicts: the ID itself passed its own checks.
FIELD_OF = {
    Code.ID_FORMAT: "id_number",
    Code.ID_CHECKSUM: "id_number",
    Code.ID_EXPIRED: "id_number",
    Code.ID_DOB_MISMATCH: "date_of_birth",
    Code.ID_NATIONALITY_MISMATCH: "nationality",
    Code.DOB_INVALID: "date_of_birth",
    Code.DOCUMENT_TYPE: "documents",
    Code.DOCUMENT_TOO_LARGE: "documents",
    Code.DOCUMENT_COUNT: "documents",
}


def invalid(code: Code, message: str) -> Reason:
    return Reason(code, message, Disposition.INVALID)
