"""Status changes of a record, each one appended to its history (`kyc_events`)."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy.orm import Session

from backend.identity.checks.reasons import Reason
from backend.identity.kyc.status import Status
from backend.identity.kyc.vault import seal_part
from backend.identity.models import KycEvent, KycRecord, utcnow

SYSTEM = "system"


def transition(
    session: Session,
    record: KycRecord,
    status: Status,
    reasons: list[Reason] | None = None,
    actor: str = SYSTEM,
    note: str | None = None,
    dek: bytes | None = None,
    now: datetime | None = None,
) -> KycEvent:
    """Set the record's status and append the event; a reviewer's note is sealed with the record's key."""
    reason_dicts = [r.as_dict() for r in reasons or []]
    record.status = status.value
    if reasons is not None:
        record.reasons = reason_dicts
    event = KycEvent(record_id=record.id, status=status.value, reasons=reason_dicts, actor=actor, at=now or utcnow())
    session.add(event)
    if note:
        assert dek is not None, "a note is sealed with the record's data key"
        session.flush()  # the event id is part of the note's associated data
        event.note_ciphertext = seal_part(dek, record.id, f"note/{event.id}", note.encode())
    return event
