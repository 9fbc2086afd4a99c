"""Blind indexes of stored KYC records brought to the current formula (`national_id.index_key_of`),
and their contact indexes (phone, e-mail, address: `contact_history.py`) filled in.

A passport's index once hashed its nationality too, a field the applicant writes as freely as any
(security review M1; check digits are a public checksum): it is now the document number alone, and
records sealed before the change keep the old index until re-indexed. The new key is coarser than
the old one, so re-indexing only ever joins records, never parts two that shared an index. Records
sealed before contact data was compared (migration 0044) have no contact indexes: until re-indexed,
nothing matches their phone or e-mail. The indexes' input is only stored sealed, so re-indexing needs
the master keys and the blind-index key, which an Alembic migration has not: the retention worker
does it for every record at its first round on a database not yet re-indexed to this formula (`meta`
`kyc-index-formula`), `loanchain kyc reindex` at will, and a submission does it for the older records
of the passport it names (same number and nationality), so that it still finds them. PRC IDs'
indexes never changed."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.orm import Session

from backend.config import Settings
from backend.db.meta import MetaEntry
from backend.db.session import get_or_add, session_scope
from backend.identity.checks.national_id import index_key_of
from backend.identity.crypto.blind_index import blind_index, blind_index_key
from backend.identity.crypto.keyring import Keyring, load_keyring
from backend.identity.kyc.contact_history import contact_indexes, set_indexes
from backend.identity.kyc.vault import RecordErased, open_sealed
from backend.identity.models import KycRecord

# 2: a passport's index is its number alone, and every record has its contact indexes (migration 0044).
INDEX_FORMULA = 2
FORMULA_META = "kyc-index-formula"


@dataclass(frozen=True)
class ReindexReport:
    checked: int
    changed: int  # national-ID index changed (a passport's)
    unreadable: int  # data key shredded without the index cleared: nothing left to index from
    contacts: int = 0  # contact indexes filled in or changed


def reindex(keyring: Keyring, key: bytes, records: Iterable[KycRecord]) -> ReindexReport:
    checked = changed = unreadable = contacts = 0
    for record in records:
        if record.blind_index is None:  # erased: no index, on purpose
            continue
        checked += 1
        try:
            person = open_sealed(keyring, record).record.person
        except RecordErased:
            unreadable += 1
            continue
        current = blind_index(key, index_key_of(person.id_number))
        if current != record.blind_index:
            record.blind_index, changed = current, changed + 1
        contacts += set_indexes(record, contact_indexes(key, person))
    return ReindexReport(checked, changed, unreadable, contacts)


def reindex_older(session: Session, keyring: Keyring, key: bytes, older_index: str) -> int:
    """Re-index the records still under `older_index` (a passport's former index); how many."""
    records = session.scalars(select(KycRecord).where(KycRecord.blind_index == older_index).with_for_update())
    return reindex(keyring, key, records).changed


def reindex_if_due(settings: Settings) -> ReindexReport | None:
    """`reindex_all` once per database and formula (None: done already). The retention worker's, so
    that an upgrade needs no operator step for old records to be matched again."""
    with session_scope(settings) as session:
        done = session.get(MetaEntry, FORMULA_META)
        if done is not None and done.value == str(INDEX_FORMULA):
            return None
    return reindex_all(settings)


def reindex_all(settings: Settings, batch: int = 500) -> ReindexReport:
    """Every record not erased, `batch` per transaction; running it again changes nothing. Records
    the database as re-indexed to this formula at the end (`reindex_if_due`)."""
    keyring, key = load_keyring(settings), blind_index_key(settings)
    checked = changed = unreadable = contacts = 0
    after = ""
    while True:
        with session_scope(settings) as session:
            records = list(session.scalars(select(KycRecord).where(
                KycRecord.blind_index.is_not(None), KycRecord.id > after,
            ).order_by(KycRecord.id).limit(batch).with_for_update()))  # fmt: skip
            if not records:
                row, _ = get_or_add(session, MetaEntry, FORMULA_META, lambda: MetaEntry(key=FORMULA_META, value=""))
                row.value = str(INDEX_FORMULA)
                return ReindexReport(checked, changed, unreadable, contacts)
            report = reindex(keyring, key, records)
            checked, changed = checked + report.checked, changed + report.changed
            unreadable, contacts = unreadable + report.unreadable, contacts + report.contacts
            after = records[-1].id
