"""Retiring a KYC master key by hand (`loanchain kyc retire-key`) while kept backups need it.

The live database may no longer wrap any data key under the key, but every scheduled backup taken
before the rotation does: deleting the key makes all of them restore with no readable KYC data,
everyone's, not only the erased. So retiring is refused while a kept backup names the key, unless
forced. (The backup worker retires the keys it replaced after erasures by its own rule, once the
backups before that rotation aged out: `shredding.py`.)"""

from __future__ import annotations

from backend.backup.keys import needed_by
from backend.backup.schedule import scheduled_backups
from backend.backup.service import _rows_of, authenticated_header, backup_key
from backend.config import Settings
from backend.errors import Conflict
from backend.identity.crypto.rotation import retire


def backups_needing(settings: Settings, key_id: str) -> list[str]:
    """The kept scheduled backups holding data keys wrapped under `key_id`, newest first."""
    found = []
    for backup in scheduled_backups(settings):
        key = backup_key(settings)
        header = authenticated_header(backup.path, key)
        if key_id in needed_by(header, lambda: _rows_of(backup.path, key)).master_keys:
            found.append(backup.path.name)
    return found


def retire_master_key(settings: Settings, key_id: str, force: bool = False) -> list[str]:
    """Delete `key_id` once no live data key and no kept backup needs it; `force` skips the backups
    (returned: they restore without readable KYC data from then on)."""
    needing = backups_needing(settings, key_id)
    if needing and not force:
        raise Conflict(
            f"{len(needing)} kept backups still hold KYC data wrapped under {key_id} ({', '.join(needing)}): "
            "retired now, they would restore with that data unreadable. Retire it once they have aged out "
            "(backup_keep x backup_interval_hours after the rotation), or --force",
            backups=needing,
        )  # fmt: skip
    retire(settings, key_id)
    return needing
