"""On-chain attestations of approved records, always through the transaction outbox.

The intent keys name the record, so approving, retrying or re-running a sweep never sends a
second transaction for the same effect. At most one record per wallet holds the attestation
(the latest approved one); only that record is ever revoked, since `KYCRegistry.revoke`
reverts for a wallet without an attestation.
"""

from __future__ import annotations

from sqlalchemy.orm import Session

from backend.chain.outbox import enqueue, get_intent
from backend.config import Settings
from backend.identity.models import KycRecord
from backend.identity.schemas import AttestationPublic

CONTRACT = "KYCRegistry"


def attest(session: Session, settings: Settings, record: KycRecord) -> str:
    assert record.expires_at is not None, "an approved record has an expiry"
    key = f"kyc:attest:{record.id}"
    enqueue(
        session,
        key=key,
        contract=CONTRACT,
        function="attest",
        args=[record.wallet, record.level, int(record.expires_at.timestamp()), record.commitment],
        settings=settings,
    )
    record.attest_key = key
    return key


def revoke(session: Session, settings: Settings, record: KycRecord) -> str | None:
    """Revoke the attestation `record` holds; None when it holds none or is already revoked."""
    if record.attest_key is None:
        return None
    if record.revoke_key is None:
        record.revoke_key = f"kyc:revoke:{record.id}"
        enqueue(session, key=record.revoke_key, contract=CONTRACT, function="revoke", args=[record.wallet], settings=settings)
    return record.revoke_key


def intent_view(session: Session, key: str | None) -> AttestationPublic | None:
    if key is None:
        return None
    intent = get_intent(session, key)
    if intent is None:
        return AttestationPublic(key=key, status="not_queued")
    return AttestationPublic(
        key=key, status=intent.status, tx_hash=intent.tx_hash, block_number=intent.block_number, error=intent.error
    )
