"""Response shapes built from records: status views for owners, full and masked views for admins.

What the applicant reads of their own record (`owner_view`) leaves out what the checks found: a
flag names a watch-list entry with its score and threshold (tipping-off, and a guide to the
spelling that passes), or tells that a national ID is already registered (a membership oracle),
or that other wallets share the applicant's address. So while a record waits, its flags read as
one UNDER_REVIEW; once decided, the decision speaks ("approved by a reviewer"); and staff wallets
read as "reviewer", the platform's own steps as "platform". Staff see it all (`record_public`)."""

from __future__ import annotations

import re

from sqlalchemy import select
from sqlalchemy.orm import Session

from backend.identity.checks.national_id import masked as masked_id
from backend.identity.checks.reasons import Code, Disposition
from backend.identity.kyc import attestation
from backend.identity.kyc.history import SYSTEM
from backend.identity.kyc.record import OpenedRecord, PersonalData
from backend.identity.kyc.status import OPEN
from backend.identity.models import KycRecord
from backend.identity.schemas import KycDataPublic, KycEventPublic, KycPublic, KycReasonPublic, PersonalDataPublic

UNDER_REVIEW = KycReasonPublic(code=Code.UNDER_REVIEW, message="under review: a member of our staff checks your application",
                               disposition=Disposition.REVIEW)  # fmt: skip
REVIEWER, PLATFORM = "reviewer", "platform"


def record_public(session: Session, record: KycRecord, with_history: bool = True) -> KycPublic:
    """Staff's view: every reason as the checks and reviewers wrote it, and who acted."""
    return _view(session, record, with_history, _as_recorded, lambda actor: actor)


def owner_view(session: Session, record: KycRecord) -> KycPublic:
    """The applicant's own view (the submit answer, /kyc/me): see the module's docstring."""

    def actor_for_owner(actor: str) -> str:
        return record.wallet if actor.lower() == record.wallet.lower() else PLATFORM if actor == SYSTEM else REVIEWER

    return _view(session, record, True, _for_owner, actor_for_owner)


def _as_recorded(status: str, reasons: list[dict]) -> list[KycReasonPublic]:
    return [KycReasonPublic(**r) for r in reasons]


def _for_owner(status: str, reasons: list[dict]) -> list[KycReasonPublic]:
    # FIRST_APPROVAL names the admin who approved first and the flag waiting for a second one.
    hidden = [r for r in reasons if r["disposition"] == Disposition.REVIEW or r["code"] == Code.FIRST_APPROVAL]
    told = [KycReasonPublic(**r) for r in reasons if r not in hidden]
    return [UNDER_REVIEW, *told] if hidden and status in OPEN else told


def _view(session: Session, record: KycRecord, with_history: bool, reasons_of, actor_of) -> KycPublic:
    return KycPublic(
        id=record.id,
        wallet=record.wallet,
        status=record.status,
        level=record.level,
        id_type=record.id_type,
        reasons=reasons_of(record.status, record.reasons),
        submitted_at=record.submitted_at,
        decided_at=record.decided_at,
        expires_at=record.expires_at,
        commitment=record.commitment,
        document_count=record.document_count,
        erased=record.erased_at is not None,
        attestation=attestation.intent_view(session, record.attest_key),
        revocation=attestation.intent_view(session, record.revoke_key),
        history=[
            KycEventPublic(status=e.status, reasons=reasons_of(e.status, e.reasons), actor=actor_of(e.actor), at=e.at)
            for e in record.events
        ]
        if with_history
        else [],
    )


def wallet_records(session: Session, wallet: str) -> list[KycRecord]:
    return list(session.scalars(select(KycRecord).where(KycRecord.wallet == wallet).order_by(KycRecord.submitted_at.desc())))


def _mask_words(text: str) -> str:
    return " ".join(w[0] + "*" * (len(w) - 1) for w in text.split())


def _mask_tail(text: str, keep: int) -> str:
    return "*" * max(len(text) - keep, 0) + text[-keep:] if keep else "*" * len(text)


def mask(person: PersonalData) -> PersonalDataPublic:
    local, _, domain = person.email.partition("@")
    return PersonalDataPublic(
        full_name=_mask_words(person.full_name),
        date_of_birth=person.date_of_birth[:4] + "-**-**",
        nationality=person.nationality,
        id_type=person.id_type,
        id_number=masked_id(person.id_number),
        address_line=re.sub(r"\S", "*", person.address_line),
        city=person.city,
        postal_code=person.postal_code[:2] + "*" * max(len(person.postal_code) - 2, 0),
        country=person.country,
        phone=person.phone[:3] + _mask_tail(person.phone[3:], 2),
        email=(local[:1] + "***@" + domain) if domain else "***",
    )


def unmasked(person: PersonalData) -> PersonalDataPublic:
    return PersonalDataPublic(**person.__dict__)


def data_public(record: KycRecord, opened: OpenedRecord, reveal: bool) -> KycDataPublic:
    person = opened.record.person
    return KycDataPublic(
        record_id=record.id,
        wallet=record.wallet,
        level=record.level,
        masked=not reveal,
        data=unmasked(person) if reveal else mask(person),
        salt=opened.salt.hex() if reveal else None,
        canonical=opened.record.to_bytes().decode() if reveal else None,
        commitment=record.commitment,
    )
