"""Sealing and opening one record's personal data with its own data key."""

from __future__ import annotations

from dataclasses import dataclass

from backend.errors import Conflict
from backend.identity.crypto.envelope import new_data_key, record_aad, seal, unseal, wrap_data_key
from backend.identity.crypto.holders import holder_key
from backend.identity.crypto.keyring import Keyring
from backend.identity.kyc.record import CanonicalRecord, OpenedRecord, open_record, seal_record
from backend.identity.models import KycRecord


class RecordErased(Conflict):
    """The record's data key was shredded: its personal data is gone for good."""

    status_code = 410
    code = "kyc_record_erased"


@dataclass(frozen=True)
class Sealed:
    key_id: str
    wrapped_key: bytes
    ciphertext: bytes
    dek: bytes  # kept in memory only to seal this record's documents and notes


def seal_new(keyring: Keyring, record_id: str, record: CanonicalRecord, salt: bytes) -> Sealed:
    dek = new_data_key()
    wrapped = wrap_data_key(keyring.active_key, keyring.active_id, record_id, dek)
    return Sealed(keyring.active_id, wrapped, seal_record(dek, record_id, record, salt), dek)


def data_key(keyring: Keyring, record: KycRecord) -> bytes:
    dek = holder_key(keyring, record)
    if dek is None:
        raise RecordErased("this KYC record was erased; its personal data cannot be recovered")
    return dek


def open_sealed(keyring: Keyring, record: KycRecord) -> OpenedRecord:
    return open_record(data_key(keyring, record), record.id, record.ciphertext)


def seal_part(dek: bytes, record_id: str, part: str, plaintext: bytes) -> bytes:
    return seal(dek, plaintext, record_aad(record_id, part))


def open_part(keyring: Keyring, record: KycRecord, part: str, blob: bytes) -> bytes:
    return unseal(data_key(keyring, record), blob, record_aad(record.id, part))
