"""Why an admin unmasked a record, kept for whoever oversees them (privacy review L3).

The audit log stores payloads as hashes only, so the reason given for a reveal was unreadable
after the fact: a DPO saw who revealed which record and when, not why. Each reveal is now a row
with its reason sealed under the record's data key, as reviewers' notes are: readable by auditors
(and admins) with a recent sign-in, and shredded with the record on erasure. The `kyc.reveal`
audit entry commits to the sealed reason's hash, so a row altered later no longer matches it."""

from __future__ import annotations

import hashlib

from sqlalchemy import select
from sqlalchemy.orm import Session

from backend.config import Settings
from backend.identity.audit_trail import audit
from backend.identity.crypto.keyring import Keyring, load_keyring
from backend.identity.kyc.vault import open_part, seal_part
from backend.identity.models import KycRecord, KycReveal, utcnow
from backend.identity.schemas import RevealPublic

# The reasons are a few fixed words of different lengths: padded, their ciphertexts are all one
# length, so the sealed column does not tell which was given.
PADDED = 32
READ_ACTION = "kyc.reveal_reasons_read"


def _part(row: KycReveal) -> str:
    return f"reveal/{row.id}"


def audit_payload(row: KycReveal, wallet: str) -> dict:
    """What the `kyc.reveal` entry commits to: recomputed from the row, it shows it unaltered."""
    return {"record_id": row.record_id, "wallet": wallet, "reveal_id": row.id,
            "sealed_reason_sha256": hashlib.sha256(row.reason_ciphertext).hexdigest()}  # fmt: skip


def keep_reveal(session: Session, dek: bytes, record: KycRecord, actor: str, reason: str) -> KycReveal:
    """Record that `actor` revealed `record` for `reason` (sealed with the record's data key `dek`)
    and audit it."""
    row = KycReveal(record_id=record.id, actor=actor, at=utcnow())
    session.add(row)
    session.flush()  # the id is part of the reason's associated data
    row.reason_ciphertext = seal_part(dek, record.id, _part(row), reason.encode().ljust(PADDED))
    audit(session, actor, "kyc.reveal", record.id, audit_payload(row, record.wallet))
    return row


def reveal_reasons(session: Session, settings: Settings, reader: str, record_id: str | None = None,
                   limit: int = 100, offset: int = 0) -> list[RevealPublic]:  # fmt: skip
    """The reveals, newest first (or only `record_id`'s), a page of `limit` after `offset`, each
    reason opened; None once its record was erased. Reading them is itself audited: one entry naming
    `reader` and the records."""
    query = select(KycReveal, KycRecord).join(KycRecord, KycRecord.id == KycReveal.record_id)
    if record_id is not None:
        query = query.where(KycReveal.record_id == record_id)
    rows = session.execute(query.order_by(KycReveal.id.desc()).limit(limit).offset(offset)).all()
    keyring = load_keyring(settings) if rows else None
    shown = [RevealPublic(id=reveal.id, record_id=record.id, wallet=record.wallet, revealed_by=reveal.actor, at=reveal.at,
                          reason=_reason(keyring, reveal, record)) for reveal, record in rows]  # fmt: skip
    if shown:
        audit(session, reader, READ_ACTION, "kyc:reveals", {"record_ids": sorted({r.record_id for r in shown})})
    return shown


def _reason(keyring: Keyring, reveal: KycReveal, record: KycRecord) -> str | None:
    if record.shredded or reveal.reason_ciphertext is None:
        return None
    return open_part(keyring, record, _part(reveal), reveal.reason_ciphertext).decode().rstrip()
