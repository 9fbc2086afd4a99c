"""The keys a backup's data needs besides the backup key, and whether this host holds them.

The KYC master keys (by id) unwrap the records' data keys, and one of them also seals the backup
itself (`stream.py`, named in the header as `master_key`); the blind-index key (by fingerprint)
made the national-ID indexes, person links and decision salts. Neither is in the backup. Missing
either, a restore would report success and leave KYC data unreadable, or duplicate detection
matching nothing. A backup names them in its header (authenticated); one written before that is
read through to find them."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import select
from sqlalchemy.engine import Connection

from backend.config import Settings
from backend.db.meta import MetaEntry
from backend.errors import ConfigurationError, Conflict
from backend.identity.crypto.blind_index import FINGERPRINT, blind_index_key_if_present
from backend.identity.crypto.fingerprint import fingerprint, meta_name
from backend.identity.crypto.holders import key_holders
from backend.identity.crypto.keyring import load_keyring


@dataclass
class KeysNeeded:
    master_keys: set[str] = field(default_factory=set)
    blind_index: str | None = None  # the fingerprint the database recorded, None before its first use

    def header(self) -> dict[str, Any]:
        return {"master_keys": sorted(self.master_keys), "blind_index": self.blind_index}


def keys_in(conn: Connection) -> dict[str, Any]:
    """For a backup's header, read in the backup's own snapshot."""
    needed = KeysNeeded()
    for holder in key_holders():
        needed.master_keys.update(conn.scalars(select(holder.key_id).where(holder.key_id.is_not(None)).distinct()))
    needed.blind_index = conn.scalar(select(MetaEntry.value).where(MetaEntry.key == meta_name(FINGERPRINT)))
    return needed.header()


class KeyCollector:
    """Finds the keys a backup needs in its rows (`{"table": ...}` and `{"r": [...]}` records)."""

    def __init__(self) -> None:
        self.needed = KeysNeeded()
        self._holders = {holder.__table__.name for holder in key_holders()}
        self._take: Callable[[list], None] | None = None

    def on_table(self, name: str, columns: list[str]) -> None:
        self._take = None
        if name in self._holders:
            at = columns.index("key_id")
            self._take = lambda row: row[at] is not None and self.needed.master_keys.add(row[at])
        elif name == MetaEntry.__tablename__:
            key, value = columns.index("key"), columns.index("value")
            wanted = meta_name(FINGERPRINT)
            self._take = lambda row: row[key] == wanted and setattr(self.needed, "blind_index", row[value])

    def on_row(self, values: list) -> None:
        if self._take is not None:
            self._take(values)


def needed_by(header: dict[str, Any], records: Callable[[], Iterable[dict]]) -> KeysNeeded:
    """From the header, or read from the backup's `records` for one written before headers said;
    with the master key the backup itself is sealed under (format 2), which it needs to be read at all."""
    if isinstance(named := header.get("keys"), dict):
        needed = KeysNeeded(set(named.get("master_keys") or ()), named.get("blind_index"))
    else:
        collector = KeyCollector()
        for record in records():
            if "table" in record:
                collector.on_table(record["table"], record["columns"])
            elif "r" in record:
                collector.on_row(record["r"])
        needed = collector.needed
    if isinstance(sealed_under := header.get("master_key"), str):
        needed.master_keys.add(sealed_under)
    return needed


def missing_master_keys(settings: Settings, needed: KeysNeeded) -> list[str]:
    if not needed.master_keys:
        return []  # and no keyring is loaded, which on a local chain would make one
    try:
        held = set(load_keyring(settings).keys)
    except ConfigurationError:  # no keyring on this host at all
        held = set()
    return sorted(needed.master_keys - held)


def blind_index_key_matches(settings: Settings, needed: KeysNeeded) -> bool | None:
    """None when the backup's database never used the key (nothing to match)."""
    if needed.blind_index is None:
        return None
    key = blind_index_key_if_present(settings)
    return key is not None and fingerprint(key) == needed.blind_index


def check_restorable(settings: Settings, needed: KeysNeeded, allow_missing_keys: bool) -> list[str]:
    """Refuse a restore this host could not read: returns the master keys missing when allowed."""
    if blind_index_key_matches(settings, needed) is False:
        raise ConfigurationError(
            "this host's KYC blind-index key is not the one the backup's data was made under (fingerprint "
            f"{needed.blind_index[:16]}): set LOANCHAIN_KYC_BLIND_INDEX_KEY or copy blind-index.key from the "
            "old host; under another key duplicate IDs, four-eyes persons and decision salts stop matching",
            blind_index_fingerprint=needed.blind_index[:16],
        )  # fmt: skip
    missing = missing_master_keys(settings, needed)
    if missing and not allow_missing_keys:
        raise Conflict(
            f"the keyring lacks master keys the backup's KYC data is wrapped under: {', '.join(missing)}. "
            "Put them in the keyring (var/keys/kyc/ or LOANCHAIN_KYC_MASTER_KEYS), or restore with "
            "--allow-missing-keys and that KYC data stays unreadable",
            missing_master_keys=missing,
        )  # fmt: skip
    return missing
