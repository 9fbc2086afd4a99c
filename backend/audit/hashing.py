"""How audit entries are hashed. Auditors can recompute every hash from this docstring alone.

- canonical JSON: UTF-8, keys sorted, no whitespace (`json.dumps(v, sort_keys=True,
  separators=(",", ":"), ensure_ascii=False)`); Decimals, dates and UUIDs as strings, bytes
  as 0x-hex.
- payload_hash = "0x" + sha256(canonical_json(payload)).hex()
- entry_hash   = "0x" + sha256(canonical_json(
      [seq, prev_hash, actor, action, subject, payload_hash, recorded_at])).hex()
  with seq an integer, the hashes 0x-prefixed lower-case hex and recorded_at
  "YYYY-MM-DDTHH:MM:SS.ffffffZ" (UTC). Entry 1's prev_hash is 32 zero bytes.
"""

from __future__ import annotations

import hashlib
import json
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any
from uuid import UUID

from backend.errors import ValidationFailed


def _plain(value: Any) -> Any:
    if isinstance(value, dict):
        if not all(isinstance(k, str) for k in value):
            raise ValidationFailed("audit payload keys must be strings")
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    if isinstance(value, (bytes, bytearray)):
        return "0x" + bytes(value).hex()
    if isinstance(value, (Decimal, UUID)):
        return str(value)
    if isinstance(value, (datetime, date)):
        return value.isoformat()
    if value is None or isinstance(value, (str, int, float, bool)):
        return value
    raise ValidationFailed(f"audit payload value of type {type(value).__name__} has no canonical form")


def canonical_json(value: Any) -> bytes:
    return json.dumps(_plain(value), sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False).encode()


def sha256_hex(data: bytes) -> str:
    return "0x" + hashlib.sha256(data).hexdigest()


def payload_hash(payload: Any) -> str:
    return sha256_hex(canonical_json(payload))


def entry_hash(
    seq: int, prev_hash: str, actor: str, action: str, subject: str, payload_hash_: str, recorded_at: str
) -> str:
    return sha256_hex(canonical_json([seq, prev_hash, actor, action, subject, payload_hash_, recorded_at]))


def format_timestamp(moment: datetime) -> str:
    if moment.tzinfo is None:
        raise ValueError("audit timestamps must be time-zone aware")
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
