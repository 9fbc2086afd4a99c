"""Blind index: HMAC-SHA256, under its own key, of a normalised national ID (and, each under a prefix
of its own, of the network address a KYC submission came from and of its phone, e-mail and address).

Equal IDs give equal indexes, so duplicates are found with an indexed equality lookup, while
the index reveals nothing without the key (a plain hash of an 18-digit ID is brute-forceable).

The key must stay the platform's for good: under another key no stored index matches, and nothing
fails (duplicate IDs, four-eyes persons and decision salts just stop agreeing with the past). So it
is never generated off a local chain, and its fingerprint is kept in the database at first use: a
host with another key is refused (`fingerprint.py`).
"""

from __future__ import annotations

import hashlib
import hmac

from sqlalchemy.orm import Session

from backend.config import Settings
from backend.db.session import session_scope
from backend.identity.crypto.fingerprint import check_fingerprint
from backend.identity.crypto.keyfile import decode_key, read_or_create_local_secret

FINGERPRINT = "blind-index"


def configured_blind_index_key(settings: Settings) -> bytes:
    """The key this host is configured with, unchecked against the database."""
    if settings.kyc_blind_index_key is not None:
        return decode_key(settings.kyc_blind_index_key.get_secret_value())
    path = settings.keys_dir / "blind-index.key"
    return read_or_create_local_secret(path, settings.is_local_chain, "no KYC blind-index key: set "
                                       f"LOANCHAIN_KYC_BLIND_INDEX_KEY (base64, 32 bytes) or put the key file at {path}")


def blind_index_key_if_present(settings: Settings) -> bytes | None:
    """The configured key, or None where none is configured yet (never generating one)."""
    if settings.kyc_blind_index_key is None and not (settings.keys_dir / "blind-index.key").exists():
        return None
    return configured_blind_index_key(settings)


def blind_index_key(settings: Settings, session: Session | None = None) -> bytes:
    """The configured key, once the database agrees it is the one its indexes were made under.
    Pass the caller's `session` when it may already have written (SQLite has one writer)."""
    key = configured_blind_index_key(settings)
    if session is not None:
        check_fingerprint(session, FINGERPRINT, key)
    else:
        with session_scope(settings) as own:
            check_fingerprint(own, FINGERPRINT, key)
    return key


def blind_index(key: bytes, normalised_id: str) -> str:
    return hmac.new(key, b"loanchain/national-id/v1|" + normalised_id.encode(), hashlib.sha256).hexdigest()


def origin_index(key: bytes, network: str) -> str:
    return hmac.new(key, b"loanchain/network-origin/v1|" + network.encode(), hashlib.sha256).hexdigest()


def contact_index(key: bytes, kind: str, normalised: str) -> str:
    """`kind` is phone, email or address (checks/contacts.py): its own prefix, so that no phone
    number ever equals an ID's or another kind's index."""
    return hmac.new(key, f"loanchain/contact-{kind}/v1|".encode() + normalised.encode(), hashlib.sha256).hexdigest()
