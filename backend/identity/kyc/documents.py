"""An admin opens a record's ID documents, one at a time; each opening is kept and audited.

A submission with documents waits for review (DOCUMENT_REVIEW, checks/documents.py): a machine
checks only their file type, so whether a file shows an identity document, and whose, is for a
person to see. An admin approves such a record only after opening each of its documents
themselves (`unopened_by`, checked by review.approve): level 2 is never granted on documents
nobody looked at."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.orm import Session

from backend.config import Settings
from backend.errors import Forbidden, NotFound
from backend.identity.audit_trail import audit
from backend.identity.crypto.keyring import load_keyring
from backend.identity.kyc.erasure_requests import check_reveal_allowed
from backend.identity.kyc.vault import open_part
from backend.identity.models import KycDocument, KycDocumentView, KycRecord, utcnow
from backend.identity.persons import person_of, person_of_record

VIEW_ACTION = "kyc.document_view"


@dataclass(frozen=True)
class OpenedDocument:
    record_id: str
    index: int
    media_type: str
    content: bytes


def document_part(document: KycDocument) -> str:
    """What a document's ciphertext is bound to within its record (submission.py seals it so)."""
    return f"document/{document.id}"


def open_document(session: Session, settings: Settings, record_id: str, index: int, reader: str,
                  reason: str | None = None) -> OpenedDocument:  # fmt: skip
    """Document `index` (0, 1, ...) of the record, decrypted for `reader`: kept as a view (what an
    approval checks) and audited as `kyc.document_view`, whose subject names the record and index.
    While the wallet's erasure is scheduled, only for a `reason` the data is kept for, as a reveal: a
    document shows all a reveal does, and the photo."""
    record = session.get(KycRecord, record_id)
    if record is None:
        raise NotFound("no such KYC record", field="record_id")
    if person_of_record(session, record) & person_of(session, reader):  # as review.py's four eyes
        raise Forbidden("an admin does not open the documents of their own KYC record (nor of another wallet of "
                        "theirs, or with their national ID): another admin must", record_id=record.id)  # fmt: skip
    check_reveal_allowed(session, record.wallet, reason)  # an erasure scheduled restricts processing (GDPR art. 18)
    document = next((d for d in record.documents if d.position == index), None)
    if document is None:
        raise NotFound(f"index: record {record.id} has {record.document_count} document(s), numbered from 0",
                       field="index", record_id=record.id)  # fmt: skip
    content = open_part(load_keyring(settings), record, document_part(document), document.ciphertext)  # 410 once erased
    view = KycDocumentView(record_id=record.id, document_id=document.id, reader=reader, at=utcnow())
    session.add(view)
    session.flush()
    audit(session, reader, VIEW_ACTION, f"{record.id}/document/{index}",
          {"view_id": view.id, "record_id": record.id, "wallet": record.wallet, "document": index,
           **({"reason": reason} if reason else {})})  # fmt: skip
    return OpenedDocument(record.id, index, document.media_type, content)


def unopened_by(session: Session, record: KycRecord, reader: str) -> list[int]:
    """The indexes of the record's documents `reader` has not opened."""
    opened = set(session.scalars(select(KycDocumentView.document_id).where(
        KycDocumentView.record_id == record.id, KycDocumentView.reader == reader)))  # fmt: skip
    return [d.position for d in record.documents if d.id not in opened]
