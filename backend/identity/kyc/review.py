"""The review queue: flagged records wait here for an admin's decision; every decision is audited.

Four eyes: an admin never approves, rejects or reveals a record of their own person (any of their
wallets, or their national ID: persons.py). A flag (a national ID already verified for another
wallet, a sanctions match) is exactly what its own applicant must not be able to clear; and those
two flags are cleared by two admins who are two persons (maker-checker): the first approval is
recorded and the record stays in the queue, marked, until another admin approves it too. One admin
may reject. The duplicate check runs again at each approval: a wallet that named the same ID after
this record was flagged for something else makes it a two-admin decision too. So does the contact
check (contact_history.py): another person who gave this phone or e-mail since keeps the record in
the queue with the new flag, for the admin to look at before approving again (one admin: a shared
phone is weaker evidence than a shared national ID). A record with ID
documents is approved only by an admin who opened each of them (documents.py). A reveal keeps its
reason, sealed with the record's data key, for auditors (`reveal_reasons`). A SHARED_CONTACT record
that is the same person as the record it shares contact data with is linked to it apart, by two
admins (person_links.py), whether before or after its approval."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

from backend.config import Settings
from backend.errors import Conflict, Forbidden, NotFound
from backend.identity.audit_trail import audit
from backend.identity.checks.reasons import Code, Disposition, Reason
from backend.identity.crypto.keyring import load_keyring
from backend.identity.kyc import attestation
from backend.identity.kyc.contact_history import check_shared_contact, indexes_of, lock_contacts, same_contact
from backend.identity.kyc.documents import unopened_by
from backend.identity.kyc.erasure_requests import check_reveal_allowed
from backend.identity.kyc.history import transition
from backend.identity.kyc.id_history import (
    check_denied,
    check_duplicate,
    denied_identity_mark,
    other_records,
    same_id_loans,
)
from backend.identity.kyc.person_links import links_of
from backend.identity.kyc.reveals import keep_reveal
from backend.identity.kyc.status import OPEN, Status
from backend.identity.kyc.submission import activate, lock_national_id
from backend.identity.kyc.vault import data_key, open_sealed
from backend.identity.kyc.views import data_public, mask, record_public
from backend.identity.models import KycEvent, KycRecord, utcnow
from backend.identity.persons import person_of, person_of_record, same_person
from backend.identity.schemas import KycDataPublic, PersonalDataPublic, ReviewItemPublic

REJECTABLE = (*OPEN, Status.APPROVED)
TWO_ADMIN_FLAGS = frozenset({Code.SANCTIONS_MATCH, Code.DUPLICATE_IDENTITY, Code.DENIED_IDENTITY})
DECISIONS = frozenset({Code.MANUAL_APPROVAL, Code.FIRST_APPROVAL})  # not flags: never carried into a new decision


def get_record(session: Session, record_id: str, for_update: bool = False) -> KycRecord:
    query = select(KycRecord).where(KycRecord.id == record_id)
    if for_update:
        query = query.with_for_update()
    record = session.scalars(query).one_or_none()
    if record is None:
        raise NotFound("no such KYC record")
    return record


def _not_own(session: Session, record: KycRecord, actor: str, what: str) -> None:
    if person_of_record(session, record) & person_of(session, actor):
        raise Forbidden(f"an admin does not {what} their own KYC record (nor one of another wallet of theirs, or with "
                        "their national ID): another admin must", record_id=record.id)  # fmt: skip


def queue(session: Session, settings: Settings, reader: str, limit: int = 100, offset: int = 0) -> list[ReviewItemPublic]:
    """The records waiting for review, masked, a page of `limit` after `offset`; one audit entry names
    `reader` and the records it was shown (masked data still identifies someone in a small town: who
    read whose, as a reveal)."""
    keyring = load_keyring(settings)
    records = list(session.scalars(select(KycRecord).where(KycRecord.status == Status.NEEDS_REVIEW)
                                   .order_by(KycRecord.submitted_at, KycRecord.id).limit(limit).offset(offset)))  # fmt: skip
    if records:
        audit(session, reader, "kyc.queue_read", "kyc:queue", {"record_ids": [r.id for r in records]})
    return [_item(session, settings, r, mask(open_sealed(keyring, r).record.person)) for r in records]


def review_item(session: Session, settings: Settings, record_id: str, reader: str) -> ReviewItemPublic:
    """One record as the queue shows it: masked, with the wallets a duplicate flag points at. Any
    record, reviewed or not, so every read is audited: one entry naming `reader` and the record."""
    record = get_record(session, record_id)
    audit(session, reader, "kyc.view", record.id, {"record_id": record.id, "wallet": record.wallet})
    return _item(session, settings, record, mask(open_sealed(load_keyring(settings), record).record.person))


def _item(session: Session, settings: Settings, record: KycRecord, masked: PersonalDataPublic) -> ReviewItemPublic:
    wallets = same_id_wallets(session, record)
    return ReviewItemPublic(record=record_public(session, record), data=masked, same_id_wallets=wallets,
                            same_id_loans=same_id_loans(session, wallets), same_contact=same_contact(session, settings, record),
                            first_approved_by=first_approver(session, record),
                            person_links=links_of(session, record))  # fmt: skip


def same_id_wallets(session: Session, record: KycRecord) -> list[str]:
    """The other wallets with a record of this record's national ID, of any status but erased, found
    by its blind index (so the number itself is never read): the reviewer must know whom a
    DUPLICATE_IDENTITY flag matched to decide between a second wallet of one person and a stolen ID.
    Read now, not at submission: a match erased since is no longer named."""
    if record.blind_index is None:  # erased
        return []
    return sorted({r.wallet for r in other_records(session, record.wallet, record.blind_index)})


def _flags(record: KycRecord) -> list[Reason]:
    return [Reason.from_dict(r) for r in record.reasons if r["code"] not in DECISIONS]


def first_approver(session: Session, record: KycRecord) -> str | None:
    """The admin whose approval of this open record waits for a second one (None: none yet)."""
    if record.status not in OPEN or not any(r["code"] == Code.FIRST_APPROVAL for r in record.reasons):
        return None
    events = session.scalars(select(KycEvent).where(KycEvent.record_id == record.id).order_by(KycEvent.id.desc()))
    return next(e.actor for e in events if any(r["code"] == Code.FIRST_APPROVAL for r in e.reasons))


def approve(session: Session, settings: Settings, record_id: str, actor: str, note: str) -> KycRecord:
    record = get_record(session, record_id, for_update=True)
    _not_own(session, record, actor, "approve")
    if record.status not in OPEN:
        raise Conflict(f"only a record waiting for review can be approved; this one is {record.status}")
    if unopened := unopened_by(session, record, actor):  # its level rests on them: each approver looks
        raise Conflict(f"open each of this record's ID documents before approving it (GET /api/v1/admin/kyc/{record.id}"
                       f"/documents/<index>); not opened by you yet: {', '.join(map(str, unopened))}",
                       record_id=record.id, unopened=unopened)  # fmt: skip
    dek = data_key(load_keyring(settings), record)
    now = utcnow()
    flagged = _flags(record)
    if record.blind_index is not None and not any(r.code == Code.DUPLICATE_IDENTITY for r in flagged):
        lock_national_id(session, record.blind_index)  # PostgreSQL: not while a submission of this ID is checked
        if duplicate := check_duplicate(session, record.wallet, record.blind_index):  # applied since: two admins now
            flagged.append(duplicate)
    if record.blind_index is not None and not any(r.code == Code.DENIED_IDENTITY for r in flagged):
        if denied := check_denied(session, record.blind_index):  # rejected elsewhere since
            flagged.append(denied)
    contacts = indexes_of(record)
    if record.blind_index is not None and contacts is not None and not any(r.code == Code.SHARED_CONTACT for r in flagged):
        lock_contacts(session, contacts)  # PostgreSQL: not while a submission naming them is checked
        if shared_contact := check_shared_contact(session, settings, record.wallet, record.blind_index, contacts):
            # Given since by another person: no admin has seen it (a first approval, if any, is dropped
            # with its mark). Held in the queue, with the flag, for a second look.
            transition(session, record, Status.NEEDS_REVIEW, [*flagged, shared_contact], actor=actor, note=note, dek=dek, now=now)
            audit(session, actor, "kyc.approve.held", record.id, {"record_id": record.id, "wallet": record.wallet,
                                                                  "flags": [Code.SHARED_CONTACT.value]})  # fmt: skip
            return record
    grave = sorted(r.code.value for r in flagged if r.code in TWO_ADMIN_FLAGS)
    first = first_approver(session, record) if grave else None
    if grave:
        if first is None:
            mark = Reason(Code.FIRST_APPROVAL, f"approved by {actor}; {', '.join(grave)} needs a second admin's approval",
                          Disposition.DECISION)  # fmt: skip
            transition(session, record, Status.NEEDS_REVIEW, [*flagged, mark], actor=actor, note=note, dek=dek, now=now)
            audit(session, actor, "kyc.approve.first", record.id, {"record_id": record.id, "wallet": record.wallet, "flags": grave})
            return record
        if same_person(session, first, actor):
            raise Forbidden(f"you approved this record already (or another wallet of yours did); {', '.join(grave)} "
                            "needs a second admin's approval", record_id=record.id)  # fmt: skip
    decision = Reason(Code.MANUAL_APPROVAL, "approved by a reviewer", Disposition.DECISION)
    transition(session, record, Status.APPROVED, [*flagged, decision], actor=actor, note=note, dek=dek, now=now)
    activate(session, settings, record, now)
    audit(session, actor, "kyc.approve", record.id, {"record_id": record.id, "wallet": record.wallet,
                                                     "flags": [r.code.value for r in flagged], "first_approved_by": first})
    return record


def reject(session: Session, settings: Settings, record_id: str, actor: str, note: str, ground: str = "identity") -> KycRecord:
    """Reject a flagged record, or withdraw an approved one (its attestation is revoked). On identity
    grounds (the default: a stolen or made-up identity, a confirmed match) the record is marked
    DENIED_IDENTITY, and its national ID waits for two admins at every later submission (id_history.py)."""
    record = get_record(session, record_id, for_update=True)
    _not_own(session, record, actor, "reject")
    if record.status not in REJECTABLE:
        raise Conflict(f"a record that is {record.status} cannot be rejected")
    dek = data_key(load_keyring(settings), record)
    now = utcnow()
    was_approved = record.status == Status.APPROVED
    decision = [Reason(Code.MANUAL_REJECTION, "rejected by a reviewer", Disposition.DECISION)]
    if ground == "identity":
        decision.append(denied_identity_mark())
    flagged = _flags(record)
    transition(session, record, Status.REJECTED, [*flagged, *decision], actor=actor, note=note, dek=dek, now=now)
    record.decided_at = now
    revocation = attestation.revoke(session, settings, record) if was_approved else None
    audit(session, actor, "kyc.reject", record.id, {"record_id": record.id, "wallet": record.wallet, "ground": ground,
                                                    "revocation": revocation})  # fmt: skip
    return record


def reveal(session: Session, settings: Settings, record_id: str, actor: str, reason: str) -> KycDataPublic:
    record = get_record(session, record_id)
    _not_own(session, record, actor, "reveal")
    check_reveal_allowed(session, record.wallet, reason)  # an erasure scheduled restricts processing (GDPR art. 18)
    keyring = load_keyring(settings)
    opened = open_sealed(keyring, record)
    keep_reveal(session, data_key(keyring, record), record, actor, reason)  # audited there, with the sealed reason's hash
    return data_public(record, opened, reveal=True)
