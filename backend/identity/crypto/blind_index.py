"""Blind index: HMAC-SHA256, under its own key, of a normalised national ID (and, under a prefix of
its own, of the network address a KYC submission came from).

Equal IDs give equal indexes, so duplicates are found with an indexed equality lookup, while
the index reveals nothing without the key (a plain hash of an 18-digit ID is brute-forceable).
"""

from __future__ import annotations

import hashlib
import hmac

from backend.config import Settings
from backend.identity.crypto.keyfile import decode_key, read_or_create_secret


def blind_index_key(settings: Settings) -> bytes:
    if settings.kyc_blind_index_key is not None:
        return decode_key(settings.kyc_blind_index_key.get_secret_value())
    return read_or_create_secret(settings.keys_dir / "blind-index.key")


def blind_index(key: bytes, normalised_id: str) -> str:
    return hmac.new(key, b"loanchain/national-id/v1|" + normalised_id.encode(), hashlib.sha256).hexdigest()


def origin_index(key: bytes, network: str) -> str:
    return hmac.new(key, b"loanchain/network-origin/v1|" + network.encode(), hashlib.sha256).hexdigest()
