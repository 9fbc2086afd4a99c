"""Crypto-shredding that reaches the backups.

Erasure destroys a record's wrapped data key in the live database, but every backup taken before
holds that wrapped key too, and the master key that unwraps it lives on. So after erasures, before
the next scheduled backup, the `backup` worker rotates the KYC master key (a new key, every live
data key re-wrapped under it: the erased ones are gone and are not), and once no kept backup was
taken before that rotation, it deletes the old master key. From then on the erased records are
noise in every copy of those backups, off-site copies included.

Window: an erasure is effective in backups within backup_keep x backup_interval_hours of it (14 days
by default): the rotation comes with the next backup, and the backups taken before it are pruned
once `backup_keep` newer ones exist. Until then `restore_backup` re-applies the erasure log.

Limits: only a keyring kept as a directory (`var/keys/kyc/`) is rotated here. With
LOANCHAIN_KYC_MASTER_KEYS the operator rotates (put a new key first, `loanchain kyc rotate-key`)
and drops the old key after the same window. Backups written elsewhere by hand (`loanchain backup
create <path>`) are not waited for: once the old key is retired their KYC data cannot be read.

State (which keys wait to be retired, how many erasures the last rotation covered) is kept in
`kyc-shredding.json` beside the erasure log; it counts log lines, not clocks."""

from __future__ import annotations

import json
import logging
from datetime import datetime
from pathlib import Path

from backend.config import Settings
from backend.db.session import session_scope
from backend.identity.crypto.keyring import add_master_key, load_keyring
from backend.identity.crypto.rotation import keys_in_use, retire, rotate
from backend.identity.kyc.erasures import erasure_count, erasure_log

log = logging.getLogger("loanchain.backup")


def _state_path(settings: Settings) -> Path:
    return erasure_log(settings).with_name("kyc-shredding.json")


def _state(settings: Settings) -> dict:
    path = _state_path(settings)
    return json.loads(path.read_text()) if path.exists() else {"erasures_rotated": 0, "retiring": {}}


def _save(settings: Settings, state: dict) -> None:
    path = _state_path(settings)
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(json.dumps(state, sort_keys=True))
    tmp.replace(path)


def rotate_after_erasures(settings: Settings, now: datetime) -> str | None:
    """A new active master key if erasures were made since the last rotation; returns the id of
    the key it replaced (now waiting to be retired), or None."""
    if settings.kyc_master_keys is not None:
        return None  # keys from the environment: the operator rotates (see the module's docstring)
    state, erased = _state(settings), erasure_count(settings)
    if erased <= state["erasures_rotated"]:
        return None
    old = load_keyring(settings).active_id
    add_master_key(settings)
    report = rotate(settings)
    if report.remaining:  # a writer still held an old key: try again at the next backup
        log.warning("rotation after erasures left %d data keys under old master keys", report.remaining)
    state["retiring"][old] = now.isoformat()
    state["erasures_rotated"] = erased
    _save(settings, state)
    log.info("KYC master key %s replaced after erasures; retired once no kept backup predates %s", old, now)
    return old


def retire_aged_out(settings: Settings, oldest_kept: datetime | None) -> list[str]:
    """Delete the master keys replaced after erasures once every kept backup was taken after the
    rotation (`oldest_kept`, the oldest scheduled backup's time) and no live data key needs them."""
    state = _state(settings)
    if not state["retiring"] or oldest_kept is None:
        return []
    in_use, ring, retired = None, load_keyring(settings), []
    for key_id, rotated_at in sorted(state["retiring"].items()):
        if oldest_kept < datetime.fromisoformat(rotated_at):
            continue  # a kept backup predates the rotation: it holds data keys wrapped under this key
        # (a backup stamped with the rotation's own time was taken right after it, in the same step)
        if key_id in ring.keys:
            if in_use is None:
                with session_scope(settings) as session:
                    in_use = keys_in_use(session)
            if in_use.get(key_id):
                continue
            retire(settings, key_id)
        retired.append(key_id)
        del state["retiring"][key_id]
    if retired:
        _save(settings, state)
        log.info("KYC master keys %s retired: erasures before their rotation now reach every backup", retired)
    return retired
