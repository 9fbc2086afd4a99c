"""Submitting a KYC application: validate, check, decide, seal, and attest when clean.

Input problems (bad ID, bad file, impossible date of birth) raise 422 before anything is
written. Too many submissions raise 429. Otherwise the record is stored, encrypted, and:
- approved when every check passes and no ID document came with it, and its attestation is queued
  in the outbox;
- rejected when a rule forbids it (under age);
- queued for review when a fraud check flags it (a national ID on another wallet's record, or once
  rejected on identity grounds: id_history.py; one national ID named by many wallets, watch-list
  hit, too many wallets applying from one network address, a phone or e-mail on another person's
  record: contact_history.py), or when ID documents came with it
  (DOCUMENT_REVIEW: level 2 is granted only by an admin who opened them).
What the applicant is told of a flag is kyc/views.py's concern (`owner_view`).
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta

from sqlalchemy import distinct, func, select
from sqlalchemy.orm import Session

from backend.config import Settings
from backend.db.session import lock_until_commit
from backend.errors import Conflict
from backend.idempotency import Recorded
from backend.identity.audit_trail import audit
from backend.identity.checks import national_id
from backend.identity.checks.age import check_age
from backend.identity.checks.documents import check_count, check_document, document_review
from backend.identity.checks.origin import check_origin, network_of, record_origin
from backend.identity.checks.reasons import FIELD_OF, Code, Disposition, Reason
from backend.identity.checks.sanctions import load_watchlist, screen
from backend.identity.crypto.blind_index import blind_index, blind_index_key, origin_index
from backend.identity.crypto.keyring import load_keyring
from backend.identity.errors import KycInputInvalid, KycVelocityExceeded
from backend.identity.kyc import attestation
from backend.identity.kyc.contact_history import (
    ContactIndexes,
    check_shared_contact,
    contact_indexes,
    lock_contacts,
    set_indexes,
)
from backend.identity.kyc.history import transition
from backend.identity.kyc.id_history import check_denied, check_duplicate
from backend.identity.kyc.record import CanonicalRecord, PersonalData, commitment, new_salt
from backend.identity.kyc.reindex import reindex_older
from backend.identity.kyc.repeat import repeated_record
from backend.identity.kyc.status import OPEN, Status
from backend.identity.kyc.vault import seal_new, seal_part
from backend.identity.models import KycDocument, KycRecord, User, utcnow
from backend.identity.rate_limit import over_limit
from backend.identity.schemas import KycCreate

BASIC_LEVEL, DOCUMENT_LEVEL = 1, 2


@dataclass(frozen=True)
class CheckedInput:
    parsed_id: national_id.ParsedId
    documents: list[tuple[bytes, str]]  # content, detected media type
    age_reason: Reason | None


def _refuse(reason: Reason) -> KycInputInvalid:
    field = FIELD_OF[reason.code]
    return KycInputInvalid(f"{field}: {reason.message}", field=field, reasons=[reason.as_dict()])


def check_input(settings: Settings, data: KycCreate, documents: list[bytes], today: date) -> CheckedInput:
    """Every check that needs no database; raises KycInputInvalid (422) on bad input."""
    too_many = check_count(len(documents), settings.kyc_max_documents)
    if too_many:
        raise _refuse(too_many)
    checked_docs = []
    for content in documents:
        outcome = check_document(content, settings.kyc_max_document_bytes)
        if isinstance(outcome, Reason):
            raise _refuse(outcome)
        checked_docs.append((content, outcome))
    age_reason = check_age(data.date_of_birth, today, settings.kyc_min_age)
    if age_reason and age_reason.disposition == Disposition.INVALID:
        raise _refuse(age_reason)
    parsed = national_id.parse(data.id_type, data.id_number, data.date_of_birth, data.nationality, today)
    if isinstance(parsed, Reason):
        raise _refuse(parsed)
    return CheckedInput(parsed, checked_docs, age_reason)


def _check_velocity(settings: Settings, wallet: str, index: str) -> None:
    """Refuse (429) a wallet that submits too often, or names one national ID too often. The ID's
    count is the wallet's own: counted over every wallet, a stranger who knows someone's ID number
    could use up the owner's quota and lock them out. Many wallets naming one ID go to review
    instead (`check_shared_id`)."""
    window = settings.kyc_velocity_window
    if wait := over_limit(settings, "kyc-wallet", wallet, settings.kyc_velocity_per_wallet, window):
        reason = Reason(Code.VELOCITY_WALLET, f"at most {settings.kyc_velocity_per_wallet} submissions per wallet per {window // 3600} h", Disposition.REFUSE)
        raise KycVelocityExceeded(reason.message, retry_after=wait, reasons=[reason.as_dict()])
    if wait := over_limit(settings, "kyc-id", f"{index}:{wallet.lower()}", settings.kyc_velocity_per_id, window):
        reason = Reason(Code.VELOCITY_ID, f"at most {settings.kyc_velocity_per_id} submissions of one national ID per wallet per {window // 3600} h", Disposition.REFUSE)
        raise KycVelocityExceeded(reason.message, retry_after=wait, reasons=[reason.as_dict()])


def check_shared_id(session: Session, settings: Settings, wallet: str, index: str, now: datetime) -> Reason | None:
    """A national ID named by several wallets within the velocity window (a stolen ID passed round,
    an identity farm) sends the submission to a human, who sees the other wallets; never a refusal,
    so the ID's owner is heard whoever else named it. Erased records no longer count (their blind
    index is gone)."""
    since = now - timedelta(seconds=settings.kyc_velocity_window)
    others = session.scalar(select(func.count(distinct(KycRecord.wallet))).where(
        KycRecord.blind_index == index, KycRecord.wallet != wallet, KycRecord.submitted_at >= since)) or 0  # fmt: skip
    if others <= settings.kyc_id_max_wallets:
        return None
    return Reason(Code.SHARED_ID, f"{others} other wallets named this national ID in the last {settings.kyc_velocity_window // 3600} h "
                  f"(more than {settings.kyc_id_max_wallets} go to review)", Disposition.REVIEW)  # fmt: skip


def lock_national_id(session: Session, index: str) -> None:
    """PostgreSQL: one submission of a national ID at a time, whichever wallet sends it, until the
    transaction ends; otherwise two wallets submitting one ID at once both find no duplicate. The
    wallet's row lock does not cover it (two wallets, two rows). SQLite has one writer anyway, but
    its reads are not serialized: there, two simultaneous submissions can still both pass."""
    lock_until_commit(session, "kyc-national-id|" + index)


def fraud_checks(session: Session, settings: Settings, wallet: str, data: KycCreate, index: str,
                 origin: str | None = None, now: datetime | None = None,
                 contacts: ContactIndexes | None = None) -> list[Reason]:  # fmt: skip
    reasons = []
    now = now or utcnow()
    if duplicate := check_duplicate(session, wallet, index):
        reasons.append(duplicate)
    if contacts is not None and (shared_contact := check_shared_contact(session, settings, wallet, index, contacts)):
        reasons.append(shared_contact)
    if denied := check_denied(session, index):
        reasons.append(denied)
    if shared := check_shared_id(session, settings, wallet, index, now):
        reasons.append(shared)
    hit = screen(data.full_name, data.date_of_birth, load_watchlist(settings.kyc_watchlist_path), settings.kyc_watchlist_threshold)
    if hit:
        reasons.append(hit)
    if origin and (shared_origin := check_origin(session, settings, wallet, origin, now)):
        reasons.append(shared_origin)
    return reasons


def decide(reasons: list[Reason]) -> Status:
    dispositions = {r.disposition for r in reasons}
    if Disposition.REJECT in dispositions:
        return Status.REJECTED
    if Disposition.REVIEW in dispositions:
        return Status.NEEDS_REVIEW
    return Status.APPROVED


def activate(session: Session, settings: Settings, record: KycRecord, now: datetime) -> None:
    """Make `record` the wallet's verification: expiry, attestation, older approvals superseded."""
    record.decided_at = now
    record.expires_at = now + timedelta(days=settings.kyc_validity_days)
    older = session.scalars(
        select(KycRecord).where(KycRecord.wallet == record.wallet, KycRecord.status == Status.APPROVED, KycRecord.id != record.id)
    )
    for previous in older:  # the new attestation replaces theirs on-chain: nothing to revoke
        transition(session, previous, Status.SUPERSEDED, now=now)
    attestation.attest(session, settings, record)


def submit(
    session: Session, settings: Settings, wallet: str, data: KycCreate, documents: list[bytes], today: date | None = None,
    client_address: str | None = None,
) -> KycRecord:
    """`submit_once`'s record: the new one, or the current one this application repeats."""
    return submit_once(session, settings, wallet, data, documents, today, client_address).value


def submit_once(
    session: Session, settings: Settings, wallet: str, data: KycCreate, documents: list[bytes], today: date | None = None,
    client_address: str | None = None,
) -> Recorded[KycRecord]:
    """Check, decide and store one application, sent from `client_address` (the API's client IP;
    None from the CLI); or, when it repeats the wallet's current record exactly (repeat.py), that
    record with nothing written (`created` False). Call it in a transaction that has not written
    yet: the velocity counters commit on their own, and SQLite has a single writer."""
    now = utcnow()
    checked = check_input(settings, data, documents, today or now.astimezone(UTC).date())
    session.get(User, wallet, with_for_update=True)  # PostgreSQL: one submission per wallet at a time
    level = DOCUMENT_LEVEL if checked.documents else BASIC_LEVEL
    canonical = CanonicalRecord(wallet, level, _person(data, checked))
    if (current := repeated_record(session, settings, canonical, [c for c, _ in checked.documents], now)) is not None:
        return Recorded(current, created=False)  # before the velocity counters: a retry spends none of the allowance
    if session.scalar(select(KycRecord.id).where(KycRecord.wallet == wallet, KycRecord.status.in_(OPEN)).limit(1)):
        raise Conflict("a KYC submission of this wallet is already waiting for review")
    index_key = blind_index_key(settings)  # its own transaction: the velocity counters below commit on their own too
    index = blind_index(index_key, checked.parsed_id.index_key)
    _check_velocity(settings, wallet, index)
    lock_national_id(session, index)
    contacts = contact_indexes(index_key, canonical.person)
    lock_contacts(session, contacts)
    keyring = load_keyring(settings)
    if checked.parsed_id.index_key != checked.parsed_id.normalised:  # a passport: its records from before M1's fix
        reindex_older(session, keyring, index_key, blind_index(index_key, checked.parsed_id.normalised))
    network = network_of(client_address)
    origin = origin_index(index_key, network) if network else None

    reasons = [checked.age_reason] if checked.age_reason else []
    if not reasons:  # an under-age applicant is rejected whatever else is true
        reasons += fraud_checks(session, settings, wallet, data, index, origin, now, contacts)
        if checked.documents:  # level 2 rests on a person having looked at them (kyc/documents.py)
            reasons.append(document_review(len(checked.documents)))
    status = decide(reasons)

    record_id, salt = str(uuid.uuid4()), new_salt()
    sealed = seal_new(keyring, record_id, canonical, salt)
    record = KycRecord(
        id=record_id,
        wallet=wallet,
        status=Status.PENDING.value,
        level=level,
        id_type=data.id_type.value,
        reasons=[],
        blind_index=index,
        key_id=sealed.key_id,
        wrapped_key=sealed.wrapped_key,
        ciphertext=sealed.ciphertext,
        commitment=commitment(salt, canonical.to_bytes()),
        document_count=len(checked.documents),
        submitted_at=now,
    )
    set_indexes(record, contacts)
    session.add(record)
    if origin:
        record_origin(session, settings, wallet, origin, now)
    for position, (content, media_type) in enumerate(checked.documents):
        doc_id = str(uuid.uuid4())
        session.add(
            KycDocument(
                id=doc_id,
                record_id=record_id,
                position=position,
                media_type=media_type,
                size=len(content),
                ciphertext=seal_part(sealed.dek, record_id, f"document/{doc_id}", content),
            )
        )
    session.flush()
    transition(session, record, Status.PENDING, [], actor=wallet, now=now)
    transition(session, record, status, reasons, now=now)
    if status == Status.APPROVED:
        activate(session, settings, record, now)
    elif status == Status.REJECTED:
        record.decided_at = now
    audit(
        session,
        wallet,
        "kyc.submit",
        record_id,
        {"record_id": record_id, "wallet": wallet, "status": status.value, "level": level, "reasons": [r.code.value for r in reasons]},
    )
    return Recorded(record, created=True)


def _person(data: KycCreate, checked: CheckedInput) -> PersonalData:
    return PersonalData(
        full_name=data.full_name,
        date_of_birth=data.date_of_birth.isoformat(),
        nationality=data.nationality,
        id_type=data.id_type.value,
        id_number=checked.parsed_id.normalised,
        address_line=data.address_line,
        city=data.city,
        postal_code=data.postal_code,
        country=data.country,
        phone=data.phone,
        email=data.email,
    )
