"""The end of a record: expiry (a sweep the scheduler calls) and erasure (crypto-shredding).

Erasure deletes the record's wrapped data key and its blind index. The ciphertexts stay, and so
do copies in backups: without the key they are noise. The status history stays (it holds no
personal data in clear), and the on-chain commitment stays: it is a salted hash whose salt was
inside the shredded record, so it reveals nothing. The wallet's attestation is revoked.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from backend.config import Settings
from backend.errors import NotFound
from backend.identity.audit_trail import audit
from backend.identity.checks.reasons import Code, Disposition, Reason
from backend.identity.kyc import attestation
from backend.identity.kyc.history import transition
from backend.identity.kyc.status import Status
from backend.identity.models import KycRecord, utcnow
from backend.identity.schemas import ErasurePublic


def erase_wallet(session: Session, settings: Settings, wallet: str, actor: str) -> ErasurePublic:
    records = list(
        session.scalars(select(KycRecord).where(KycRecord.wallet == wallet, KycRecord.erased_at.is_(None)).with_for_update())
    )
    if not records:
        raise NotFound("no KYC data to erase for this wallet")
    now = utcnow()
    revocations = []
    for record in records:
        if record.status == Status.APPROVED:
            key = attestation.revoke(session, settings, record)
            if key:
                revocations.append(key)
        record.wrapped_key = None
        record.key_id = None
        record.blind_index = None
        record.erased_at = now
        erased = Reason(Code.ERASED, "personal data erased on request (data key destroyed)", Disposition.DECISION)
        transition(session, record, Status.ERASED, [*(Reason.from_dict(r) for r in record.reasons), erased], actor=actor, now=now)
    ids = [r.id for r in records]
    audit(session, actor, "kyc.erase", wallet, {"wallet": wallet, "records": ids, "revocations": revocations})
    return ErasurePublic(wallet=wallet, erased_records=ids, revocations=revocations)


def expire_due(session: Session, settings: Settings, now: datetime | None = None) -> list[str]:
    """Mark approved records past their expiry as expired and revoke their attestations."""
    now = now or utcnow()
    due = list(
        session.scalars(
            select(KycRecord).where(KycRecord.status == Status.APPROVED, KycRecord.expires_at <= now).with_for_update()
        )
    )
    for record in due:
        expired = Reason(Code.EXPIRED, "the verification reached its expiry date", Disposition.DECISION)
        transition(session, record, Status.EXPIRED, [*(Reason.from_dict(r) for r in record.reasons), expired], now=now)
        revocation = attestation.revoke(session, settings, record)
        audit(session, "system", "kyc.expire", record.id, {"record_id": record.id, "wallet": record.wallet, "revocation": revocation})
    return [r.id for r in due]
