"""One phone, e-mail or address on several persons' KYC records: one person behind several
identities (a passport beside a national ID, a relative's ID, a bought one), or an identity farm
that gives every identity its own number but one operator's mailbox.

Persons are national IDs (`persons.py`): a record matches another person's when their contact
indexes are equal and their national IDs' are not. A wallet's own records never count (its person
is already one to every check), nor do erased ones (their indexes are gone). A match sends the
submission to a human (`SHARED_CONTACT`), never refuses it: families share a phone, couples an
e-mail. An address counts only when more than `kyc_address_max_persons` other persons give it (a
shared flat is common; a dozen "residents" of one flat is a farm). Messages name the other records,
the review item their wallets (`same_contact`), and never the contact itself: a reviewer reads that
only by revealing a record, which is audited."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.orm import InstrumentedAttribute, Session

from backend.config import Settings
from backend.db.session import lock_until_commit
from backend.identity.checks.contacts import contacts_of
from backend.identity.checks.reasons import Code, Disposition, Reason
from backend.identity.crypto.blind_index import contact_index
from backend.identity.kyc.record import PersonalData
from backend.identity.models import KycRecord
from backend.identity.schemas import SameContactPublic

NAMED = 5  # records a flag's message lists per kind; the review item lists every wallet
LABELS = {"phone": "phone number", "email": "e-mail address", "address": "address"}


@dataclass(frozen=True)
class ContactIndexes:
    phone: str
    email: str
    address: str

    def items(self) -> list[tuple[str, str]]:
        return [("phone", self.phone), ("email", self.email), ("address", self.address)]


def contact_indexes(key: bytes, person: PersonalData) -> ContactIndexes:
    contacts = contacts_of(person)
    return ContactIndexes(contact_index(key, "phone", contacts.phone), contact_index(key, "email", contacts.email),
                          contact_index(key, "address", contacts.address))  # fmt: skip


def indexes_of(record: KycRecord) -> ContactIndexes | None:
    """The record's stored contact indexes; None when it has none (erased, or not re-indexed yet)."""
    if record.phone_index is None or record.email_index is None or record.address_index is None:
        return None
    return ContactIndexes(record.phone_index, record.email_index, record.address_index)


def set_indexes(record: KycRecord, indexes: ContactIndexes | None) -> bool:
    """Store `indexes` on the record (None clears them); whether anything changed."""
    values = (indexes.phone, indexes.email, indexes.address) if indexes else (None, None, None)
    changed = values != (record.phone_index, record.email_index, record.address_index)
    record.phone_index, record.email_index, record.address_index = values
    return changed


def lock_contacts(session: Session, indexes: ContactIndexes) -> None:
    """PostgreSQL: one submission (or approval) naming this phone or e-mail at a time, as for the
    national ID (`submission.lock_national_id`), taken after it and in this order: two persons
    applying at once with one phone would otherwise both find no match."""
    lock_until_commit(session, "kyc-phone|" + indexes.phone)
    lock_until_commit(session, "kyc-email|" + indexes.email)


def _column(kind: str) -> InstrumentedAttribute:
    return {"phone": KycRecord.phone_index, "email": KycRecord.email_index, "address": KycRecord.address_index}[kind]


def others_sharing(session: Session, kind: str, value: str, wallet: str, id_index: str) -> list[KycRecord]:
    """Other persons' records (another national ID, another wallet, not erased) with this contact, oldest first."""
    return list(session.scalars(select(KycRecord).where(
        _column(kind) == value, KycRecord.wallet != wallet, KycRecord.blind_index.is_not(None),
        KycRecord.blind_index != id_index,
    ).order_by(KycRecord.submitted_at, KycRecord.id)))  # fmt: skip


def _persons(records: Iterable[KycRecord]) -> int:
    return len({r.blind_index for r in records})


def _counts(settings: Settings, kind: str, records: list[KycRecord]) -> bool:
    return bool(records) and (kind != "address" or _persons(records) > settings.kyc_address_max_persons)


def shared(session: Session, settings: Settings, wallet: str, id_index: str,
           indexes: ContactIndexes) -> dict[str, list[KycRecord]]:  # fmt: skip
    """By kind, the other persons' records that share it, for the kinds that count."""
    found = {kind: others_sharing(session, kind, value, wallet, id_index) for kind, value in indexes.items()}
    return {kind: records for kind, records in found.items() if _counts(settings, kind, records)}


def check_shared_contact(session: Session, settings: Settings, wallet: str, id_index: str,
                         indexes: ContactIndexes) -> Reason | None:  # fmt: skip
    """Another person's record has this phone or e-mail (or more than `kyc_address_max_persons`
    other persons' this address): to review. Called again at each approval (review.py)."""
    found = shared(session, settings, wallet, id_index, indexes)
    if not found:
        return None
    parts = []
    for kind, records in found.items():
        named = ", ".join(f"{r.id} ({r.status})" for r in records[-NAMED:])
        more = f" and {len(records) - NAMED} older" if len(records) > NAMED else ""
        bound = f" (more than {settings.kyc_address_max_persons} go to review)" if kind == "address" else ""
        parts.append(f"its {LABELS[kind]} is on {len(records)} record(s) of {_persons(records)} other person(s){bound}: "
                     f"{named}{more}")  # fmt: skip
    return Reason(Code.SHARED_CONTACT, "; ".join(parts) + " (one person with two identities, or a family: a reviewer tells)",
                  Disposition.REVIEW)  # fmt: skip


def same_contact(session: Session, settings: Settings, record: KycRecord) -> list[SameContactPublic]:
    """The other persons' wallets sharing this record's contact data, and what they share, read now
    (a match erased since is no longer named): whom a SHARED_CONTACT flag points at."""
    indexes = indexes_of(record)
    if record.blind_index is None or indexes is None:
        return []
    kinds: dict[str, list[str]] = {}
    ids: dict[str, list[str]] = {}
    for kind, records in shared(session, settings, record.wallet, record.blind_index, indexes).items():
        for other in records:
            kinds.setdefault(other.wallet, [])
            ids.setdefault(other.wallet, [])
            if kind not in kinds[other.wallet]:
                kinds[other.wallet].append(kind)
            if other.id not in ids[other.wallet]:
                ids[other.wallet].append(other.id)
    return [SameContactPublic(wallet=wallet, shared=kinds[wallet], record_ids=ids[wallet]) for wallet in sorted(kinds)]
