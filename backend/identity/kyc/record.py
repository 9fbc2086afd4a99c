"""The personal data of one KYC record: its canonical form, its commitment, and its sealing.

The canonical record is the exact byte string the on-chain commitment covers:
UTF-8 JSON, keys sorted, no whitespace, Unicode NFC. The commitment is
`keccak256(salt || canonical)` with a random 32-byte salt, so it cannot be brute-forced from a
guessed name and ID. Salt and canonical record are sealed together with the record's data key.
"""

from __future__ import annotations

import json
import secrets
import unicodedata
from dataclasses import asdict, dataclass

from eth_utils import keccak

from backend.identity.crypto.envelope import record_aad, seal, unseal

FORMAT_VERSION = 1


@dataclass(frozen=True)
class PersonalData:
    """Plaintext personal data: lives in memory only, between decryption and response."""

    full_name: str
    date_of_birth: str  # ISO 8601 date
    nationality: str
    id_type: str
    id_number: str  # normalised form, e.g. "PRC:11010519491231002X"
    address_line: str
    city: str
    postal_code: str
    country: str
    phone: str
    email: str


@dataclass(frozen=True)
class CanonicalRecord:
    wallet: str
    level: int
    person: PersonalData

    def as_dict(self) -> dict:
        return {"v": FORMAT_VERSION, "wallet": self.wallet.lower(), "level": self.level, **asdict(self.person)}

    def to_bytes(self) -> bytes:
        data = {k: unicodedata.normalize("NFC", v) if isinstance(v, str) else v for k, v in self.as_dict().items()}
        return json.dumps(data, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode("utf-8")

    @classmethod
    def from_dict(cls, data: dict) -> CanonicalRecord:
        fields = {k: v for k, v in data.items() if k not in ("v", "wallet", "level")}
        return cls(wallet=data["wallet"], level=data["level"], person=PersonalData(**fields))


def new_salt() -> bytes:
    return secrets.token_bytes(32)


def commitment(salt: bytes, canonical: bytes) -> str:
    return "0x" + keccak(salt + canonical).hex()


@dataclass(frozen=True)
class OpenedRecord:
    record: CanonicalRecord
    salt: bytes

    @property
    def commitment(self) -> str:
        return commitment(self.salt, self.record.to_bytes())


def seal_record(dek: bytes, record_id: str, record: CanonicalRecord, salt: bytes) -> bytes:
    body = json.dumps({"record": record.as_dict(), "salt": salt.hex()}, sort_keys=True).encode()
    return seal(dek, body, record_aad(record_id, "record"))


def open_record(dek: bytes, record_id: str, blob: bytes) -> OpenedRecord:
    body = json.loads(unseal(dek, blob, record_aad(record_id, "record")))
    return OpenedRecord(CanonicalRecord.from_dict(body["record"]), bytes.fromhex(body["salt"]))
