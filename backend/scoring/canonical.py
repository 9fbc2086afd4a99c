"""Canonical JSON and keccak-256, the two primitives behind model versions and decision hashes.
Canonical = sorted keys, no whitespace, UTF-8, no NaN: the same value always gives the same
bytes, so anyone holding the inputs can recompute the hash."""

from __future__ import annotations

import json
import re
from typing import Any

from eth_utils import keccak

# What keccak_hex returns: model versions and decision hashes look like this, lower case.
HASH32 = re.compile(r"0x[0-9a-f]{64}")


def canonical_json(value: Any) -> bytes:
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False).encode("utf-8")


def keccak_hex(value: Any) -> str:
    """0x-prefixed keccak-256 of the canonical JSON of `value` (a Solidity bytes32)."""
    return "0x" + keccak(canonical_json(value)).hex()
