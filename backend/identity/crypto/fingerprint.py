"""A key's fingerprint kept in the database (`meta`), so a host holding another key is refused.

Keys that index or salt stored rows (the blind index) must be the one those rows were made under:
another key raises nothing, it just matches nothing. The fingerprint is an HMAC of a fixed label
under the key: it names the key without revealing it, and it travels with every backup."""

from __future__ import annotations

import hashlib
import hmac

from sqlalchemy.orm import Session

from backend.db.meta import MetaEntry
from backend.db.session import get_or_add
from backend.errors import ConfigurationError


def fingerprint(key: bytes) -> str:
    return hmac.new(key, b"loanchain/key-fingerprint/v1", hashlib.sha256).hexdigest()


def meta_name(what: str) -> str:
    return f"key-fingerprint:{what}"


def check_fingerprint(session: Session, what: str, key: bytes) -> None:
    """Record `key` as the database's `what` key at its first use; refuse any other key after."""
    mine = fingerprint(key)
    row, _added = get_or_add(session, MetaEntry, meta_name(what), lambda: MetaEntry(key=meta_name(what), value=mine))
    if row.value != mine:
        raise ConfigurationError(mismatch(what, row.value, mine))


def mismatch(what: str, expected: str, configured: str) -> str:
    return (f"the configured {what} key (fingerprint {configured[:16]}) is not the one this database's data was made "
            f"under (fingerprint {expected[:16]}): configure that key (see README, Backup and restore)")
