"""Proof that a KYC record is the one a wallet's on-chain attestation commits to.

Recompute `keccak256(salt || canonical record)` from the decrypted record (or from a record and
salt the owner exported) and compare it with `KYCRegistry.attestationOf(wallet).commitment`.
"""

from __future__ import annotations

from dataclasses import dataclass

from eth_utils import is_address, to_checksum_address
from sqlalchemy import select
from sqlalchemy.orm import Session

from backend.chain.kyc_reader import OnChainAttestation, attestation_of
from backend.config import Settings
from backend.errors import NotFound, ValidationFailed
from backend.identity.crypto.keyring import load_keyring
from backend.identity.kyc.record import commitment
from backend.identity.kyc.status import Status
from backend.identity.kyc.vault import open_sealed
from backend.identity.models import KycRecord


@dataclass(frozen=True)
class Proof:
    wallet: str
    record_id: str | None
    computed: str  # from salt and canonical record
    on_chain: OnChainAttestation

    @property
    def matches(self) -> bool:
        return self.on_chain.exists and self.computed == self.on_chain.commitment


def attested_record(session: Session, wallet: str) -> KycRecord:
    record = session.scalars(
        select(KycRecord)
        .where(KycRecord.wallet == wallet, KycRecord.attest_key.is_not(None), KycRecord.status == Status.APPROVED)
        .order_by(KycRecord.decided_at.desc())
        .limit(1)
    ).one_or_none()
    if record is None:
        raise NotFound("this wallet has no approved, attested KYC record")
    return record


def prove_record(session: Session, settings: Settings, wallet: str, record_id: str | None = None) -> Proof:
    wallet = _wallet(wallet)
    record = session.get(KycRecord, record_id) if record_id else attested_record(session, wallet)
    if record is None or record.wallet != wallet:
        raise NotFound("no such KYC record for this wallet")
    opened = open_sealed(load_keyring(settings), record)
    return Proof(wallet, record.id, opened.commitment, attestation_of(settings, wallet))


def prove_export(settings: Settings, wallet: str, canonical: bytes, salt_hex: str) -> Proof:
    """Check an exported record (the `canonical` and `salt` of GET /api/v1/kyc/me/data)."""
    wallet = _wallet(wallet)
    try:
        salt = bytes.fromhex(salt_hex.removeprefix("0x"))
    except ValueError:
        raise ValidationFailed("the salt must be hex") from None
    return Proof(wallet, None, commitment(salt, canonical), attestation_of(settings, wallet))


def _wallet(wallet: str) -> str:
    if not is_address(wallet):
        raise ValidationFailed("wallet: not an Ethereum address", field="wallet")
    return to_checksum_address(wallet)
