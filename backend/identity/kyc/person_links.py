"""Same-person links: a reviewer joins a second identity to its first, for the debt checks.

A person is their national IDs (persons.py), so one person with two documents (a passport beside a
national ID) is two borrowers to the cap, the declared loans, the default block and self-funding.
KYC sends the second to review when it shares a phone or e-mail with the first (SHARED_CONTACT,
contact_history.py); here the reviewer says it is the same person. A separate action, not part of
the approval: the link moves debts between people, so it takes the four eyes of a duplicate ID (one
admin proposes, another admin of another person confirms), while clearing a shared phone takes one;
and a reviewer may find the link before or after the record is approved.

Only records that share contact data now (`contact_history.shared`: a phone or e-mail, or an address
more persons than the bound give) may be linked: no admin joins strangers at will, and an erased
record shares nothing. A confirmed link joins the two records' national IDs as one borrower once
both were approved (`persons.borrower_wallets_of`); erasing either side drops its effect, since an
erased record has no national ID left to join. The notes are kept as their SHA-256, in the link and
its audit entries (`kyc.person_link.proposed`, `kyc.person_link`)."""

from __future__ import annotations

import hashlib

from sqlalchemy import or_, select
from sqlalchemy.orm import Session

from backend.config import Settings
from backend.db.session import begin_write
from backend.errors import Conflict, Forbidden
from backend.identity.audit_trail import audit
from backend.identity.kyc.contact_history import indexes_of, shared
from backend.identity.models import KycPersonLink, KycRecord, utcnow
from backend.identity.persons import person_of, person_of_record, same_person
from backend.identity.schemas import PersonLinkPublic


def _sha256(note: str) -> str:
    return hashlib.sha256(note.encode()).hexdigest()


def _records(session: Session, record_id: str, other_id: str) -> tuple[KycRecord, KycRecord]:
    from backend.identity.kyc.review import get_record

    if record_id == other_id:
        raise Conflict("a record is not linked to itself", record_id=record_id)
    first, second = sorted((record_id, other_id))  # locked in one order: two links at once never deadlock
    locked = {r: get_record(session, r, for_update=True) for r in (first, second)}
    return locked[record_id], locked[other_id]


def sharing_records(session: Session, settings: Settings, record: KycRecord) -> list[KycRecord]:
    """The other persons' records that share this record's contact data now (whom it may be linked to)."""
    indexes = indexes_of(record)
    if record.blind_index is None or indexes is None:
        return []
    found = {r.id: r for records in shared(session, settings, record.wallet, record.blind_index, indexes).values()
             for r in records}  # fmt: skip
    return sorted(found.values(), key=lambda r: (r.submitted_at, r.id))


def _not_theirs(session: Session, records: tuple[KycRecord, KycRecord], actor: str) -> None:
    mine = person_of(session, actor)
    if any(person_of_record(session, r) & mine for r in records):
        raise Forbidden("an admin does not link their own KYC records (nor one of another wallet of theirs, or with "
                        "their national ID): other admins must", record_id=records[0].id)  # fmt: skip


def link(session: Session, settings: Settings, record_id: str, other_id: str, actor: str, note: str) -> KycPersonLink:
    """Propose that `record_id` and `other_id` are one person, or confirm another admin's proposal of
    it; a confirmed link is answered as it is (a retry). Refused: a pair that shares no contact data
    now (or is erased), the admin's own records, and the proposer confirming their own proposal."""
    begin_write(session, KycPersonLink)  # SQLite: two first proposals of a pair take turns, as FOR UPDATE does on PostgreSQL
    record, other = _records(session, record_id, other_id)
    _not_theirs(session, (record, other), actor)
    if other.id not in {r.id for r in sharing_records(session, settings, record)}:
        raise Conflict("these records share no phone, e-mail or address now (or one of them is erased or of the same "
                       "national ID): only a second identity whose contact data another's record gives may be linked to "
                       "it", record_id=record.id, other_record_id=other.id)  # fmt: skip
    record_a, record_b = sorted((record.id, other.id))
    found = session.scalars(select(KycPersonLink).where(KycPersonLink.record_a == record_a,
                                                        KycPersonLink.record_b == record_b)).one_or_none()  # fmt: skip
    payload = {"record_ids": [record_a, record_b], "wallets": sorted({record.wallet, other.wallet})}
    if found is None:
        found = KycPersonLink(record_a=record_a, record_b=record_b, proposed_by=actor, proposed_at=utcnow(),
                              note_sha256=_sha256(note))  # fmt: skip
        session.add(found)
        session.flush()
        audit(session, actor, "kyc.person_link.proposed", record.id, {**payload, "note_sha256": found.note_sha256})
        return found
    if found.confirmed_by is not None:
        return found
    if same_person(session, found.proposed_by, actor):
        raise Forbidden("you proposed this link already (or another wallet of yours did): it moves debts between "
                        "people, so a second admin confirms it", record_id=record.id)  # fmt: skip
    found.confirmed_by, found.confirmed_at, found.confirm_note_sha256 = actor, utcnow(), _sha256(note)
    audit(session, actor, "kyc.person_link", record.id, {**payload, "proposed_by": found.proposed_by,
                                                         "note_sha256": found.confirm_note_sha256})  # fmt: skip
    return found


def links_of(session: Session, record: KycRecord) -> list[PersonLinkPublic]:
    """The same-person links of a record, proposed or confirmed, each naming the other record."""
    rows = session.scalars(select(KycPersonLink).where(or_(KycPersonLink.record_a == record.id,
                                                           KycPersonLink.record_b == record.id))
                           .order_by(KycPersonLink.id))  # fmt: skip
    return [link_public(session, row, record.id) for row in rows]


def link_person(session: Session, settings: Settings, record_id: str, other_id: str, actor: str,
                note: str) -> tuple[PersonLinkPublic, bool]:  # fmt: skip
    """`link`, as the API answers it: the link seen from `record_id`, and whether this call proposed it."""
    row = link(session, settings, record_id, other_id, actor, note)
    return link_public(session, row, record_id), row.confirmed_by is None and row.proposed_by == actor


def link_public(session: Session, row: KycPersonLink, record_id: str) -> PersonLinkPublic:
    other_id = row.record_b if row.record_a == record_id else row.record_a
    other = session.get(KycRecord, other_id)
    return PersonLinkPublic(record_id=record_id, other_record_id=other_id, other_wallet=other.wallet,
                            status="confirmed" if row.confirmed_by else "proposed", proposed_by=row.proposed_by,
                            proposed_at=row.proposed_at, confirmed_by=row.confirmed_by, confirmed_at=row.confirmed_at)  # fmt: skip
