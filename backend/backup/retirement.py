"""Retiring a KYC master key by hand (`loanchain kyc retire-key`) while kept backups need it.

The live database may no longer wrap any data key under the key, but every scheduled backup taken
before the rotation does, and those taken while it was active are sealed under it: deleting the key
makes them unreadable as a whole (or, those only wrapping data keys under it, restore with no
readable KYC data), everyone's, not only the erased. So retiring is refused while a kept backup
needs the key, unless forced. (The backup worker retires the keys it replaced after erasures by its own rule, once the
backups before that rotation aged out: `shredding.py`.)"""

from __future__ import annotations

from backend.backup.keys import needed_by
from backend.backup.schedule import scheduled_backups
from backend.backup.service import _open, _rows_of, authenticated_header, backup_keys
from backend.backup.stream import BackupUnreadable, read_header
from backend.config import Settings
from backend.errors import Conflict
from backend.identity.crypto.rotation import retire


def backups_needing(settings: Settings, key_id: str) -> list[str]:
    """The kept scheduled backups sealed under `key_id` or holding data keys wrapped under it,
    newest first."""
    found, keys = [], backup_keys(settings)
    for backup in scheduled_backups(settings):
        with _open(backup.path) as source:
            if read_header(source)[0].get("master_key") == key_id:  # unreadable as a whole without it
                found.append(backup.path.name)
                continue
        try:
            header = authenticated_header(backup.path, keys)
        except BackupUnreadable:  # sealed under a key already gone: retiring this one changes nothing for it
            continue
        if key_id in needed_by(header, lambda: _rows_of(backup.path, keys)).master_keys:
            found.append(backup.path.name)
    return found


def retire_master_key(settings: Settings, key_id: str, force: bool = False) -> list[str]:
    """Delete `key_id` once no live data key and no kept backup needs it; `force` skips the backups
    (returned: from then on they cannot be read at all if sealed under it, else restore without
    readable KYC data)."""
    needing = backups_needing(settings, key_id)
    if needing and not force:
        raise Conflict(
            f"{len(needing)} kept backups still need {key_id} ({', '.join(needing)}): retired now, those sealed under it "
            "could no longer be read at all, the others would restore with the KYC data wrapped under it unreadable. "
            "Retire it once they have aged out (backup_keep x backup_interval_hours after the rotation), or --force",
            backups=needing,
        )  # fmt: skip
    retire(settings, key_id)
    return needing
