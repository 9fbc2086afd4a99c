"""Entry and payload hashes are what the module docstring says, so auditors can recompute them."""

import hashlib
import json
from datetime import UTC, datetime, timedelta, timezone
from decimal import Decimal

import pytest

from backend.audit import hashing
from backend.errors import ValidationFailed


def test_entry_hash_is_sha256_of_the_documented_canonical_json():
    fields = [3, "0x" + "ab" * 32, "user:1", "loan.fund", "loan:9", "0x" + "cd" * 32, "2026-01-02T03:04:05.000006Z"]
    expected = "0x" + hashlib.sha256(json.dumps(fields, separators=(",", ":")).encode()).hexdigest()
    assert hashing.entry_hash(*fields) == expected


def test_payload_hash_ignores_key_order_and_normalises_types():
    a = hashing.payload_hash({"amount": Decimal("10.50"), "at": datetime(2026, 1, 1, tzinfo=UTC), "raw": b"\x01"})
    b = hashing.payload_hash({"raw": b"\x01", "at": datetime(2026, 1, 1, tzinfo=UTC), "amount": Decimal("10.50")})
    assert a == b
    assert hashing.canonical_json({"b": 1, "a": "é"}) == '{"a":"é","b":1}'.encode()
    assert hashing.payload_hash(None) == "0x" + hashlib.sha256(b"null").hexdigest()


@pytest.mark.parametrize("bad", [{1: "int key"}, {"x": object()}, {"nan": float("nan")}])
def test_payload_without_a_canonical_form_is_refused(bad):
    with pytest.raises((ValidationFailed, ValueError)):
        hashing.payload_hash(bad)


def test_timestamps_are_utc_with_microseconds():
    moment = datetime(2026, 5, 1, 12, 0, 0, 7, tzinfo=timezone(timedelta(hours=2)))
    assert hashing.format_timestamp(moment) == "2026-05-01T10:00:00.000007Z"
    with pytest.raises(ValueError):
        hashing.format_timestamp(datetime(2026, 5, 1))
