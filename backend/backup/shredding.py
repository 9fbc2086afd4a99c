"""Crypto-shredding that reaches the backups.

Erasure destroys a record's wrapped data key in the live database, but every backup taken before
holds that wrapped key too, and the master key that unwraps it lives on; and the erasure clears
other personal data (credit applications, check messages, blind indexes, offers) in the live
database only. So each backup is sealed under the master key active when it was taken as well as
the backup key (`stream.py`), and after erasures, before the next scheduled backup, the `backup`
worker rotates the KYC master key (a new key, every live data key re-wrapped under it: the erased
ones are gone and are not), and once no kept backup was taken before that rotation, it deletes the
old master keys (every key the keyring held at the rotation). From then on every copy of those
backups, off-site copies included, cannot be read at all.

Window: an erasure is effective in backups within backup_keep x backup_interval_hours of it (14 days
by default): the rotation comes with the next backup, and the backups taken before it are pruned
once `backup_keep` newer ones exist. Until then `restore_backup` re-applies the erasure log.

Limits: only a keyring kept as a directory (`var/keys/kyc/`) is rotated here. With
LOANCHAIN_KYC_MASTER_KEYS the operator rotates (put a new key first, `loanchain kyc rotate-key
--no-new-key`) and drops the old keys after the same window: each pass records the keys waiting to
be dropped, from the first erasure not yet covered, logs a warning while they are still there, and
reports them overdue once `backup_keep` x `backup_interval_hours` has passed since that erasure
(`GET /health`). Backups written elsewhere by hand (`loanchain backup create <path>`) are not waited
for: once the old key is retired they cannot be read. Backups written before backups were sealed
under a master key (format 1) open with the backup key alone, whatever is retired.

State (which keys wait to be retired, how many erasures the last rotation covered) is kept in
`kyc-shredding.json` beside the erasure log; it counts log lines, not clocks."""

from __future__ import annotations

import json
import logging
from datetime import UTC, datetime, timedelta
from pathlib import Path

from backend.config import Settings
from backend.db.session import session_scope
from backend.errors import Conflict
from backend.identity.crypto.keyring import add_master_key, load_keyring
from backend.identity.crypto.rotation import keys_in_use, retire, rotate
from backend.identity.kyc.erasures import erasure_count, erasure_log, read_log

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
    the key it replaced (now waiting to be retired), or None. Without new erasures, data keys still
    wrapped under a key waiting to be retired (a KYC request that loaded the keyring before the
    rotation and committed after it; a row PostgreSQL's SKIP LOCKED passed over) are re-wrapped,
    so this backup already holds none of them."""
    state, erased = _state(settings), erasure_count(settings)
    if settings.kyc_master_keys is not None:
        _await_operator(settings, state, erased, now)  # keys from the environment: the operator rotates
        return None
    if erased <= state["erasures_rotated"]:
        _rotate_stragglers(settings, state)
        return None
    ring = load_keyring(settings)
    old = ring.active_id
    # Recorded before the new key and the re-wrap: if either fails, the next pass replaces the key
    # that pass made, and the one the erased people's old backups need must already be waiting to
    # be retired (and be reported overdue), not be forgotten. Every key held, not only the active
    # one: an older key a hand rotation left behind still opens the backups sealed under it.
    for key_id in sorted(ring.keys):
        state["retiring"].setdefault(key_id, now.isoformat())
    _save(settings, state)
    add_master_key(settings)
    report = rotate(settings)
    if report.remaining:  # a writer still held an old key: re-wrapped at the next backup
        log.warning("rotation after erasures left %d data keys under old master keys", report.remaining)
    state["erasures_rotated"] = erased
    _save(settings, state)
    log.info("KYC master key %s replaced after erasures; retired once no kept backup predates %s", old, now)
    return old


def _await_operator(settings: Settings, state: dict, erased: int, now: datetime) -> None:
    """Keys from LOANCHAIN_KYC_MASTER_KEYS: new erasures mark every key the backups before them may be
    sealed or wrapped under as waiting to be dropped, since the first of those erasures; a key the
    operator has dropped from the environment is retired; each pass warns while any is left."""
    ring, changed = load_keyring(settings), False
    if erased > state["erasures_rotated"]:
        since = _first_erasure_after(settings, state["erasures_rotated"]) or now
        waiting = set(ring.keys)
        if state.get("env_active") not in (None, ring.active_id):
            # Put first since the last pass, after the backups before the erasures: it sealed none of them.
            waiting.discard(ring.active_id)
        for key_id in waiting:
            state["retiring"].setdefault(key_id, since.isoformat())
        state["erasures_rotated"], changed = erased, True
    if dropped := sorted(key_id for key_id in state["retiring"] if key_id not in ring.keys):
        for key_id in dropped:
            del state["retiring"][key_id]
        log.info("KYC master keys %s dropped from LOANCHAIN_KYC_MASTER_KEYS: erasures before them now reach every backup",
                 dropped)  # fmt: skip
    if state.get("env_active") != ring.active_id:
        state["env_active"], changed = ring.active_id, True
    if changed or dropped:
        _save(settings, state)
    if state["retiring"]:
        since = min(datetime.fromisoformat(at) for at in state["retiring"].values())
        log.warning("erasures since %s are still readable in the backups sealed under KYC master keys %s: put a new key "
                    "first in LOANCHAIN_KYC_MASTER_KEYS, run `loanchain kyc rotate-key --no-new-key`, and drop those keys "
                    "once no kept backup was taken while they were there (due by %s)", since.isoformat(),
                    ", ".join(sorted(state["retiring"])), retirement_deadline(settings, since).isoformat())  # fmt: skip


def _first_erasure_after(settings: Settings, count: int) -> datetime | None:
    """When the first erasure logged after the first `count` entries was made (rolled-back ones aside)."""
    log_ = read_log(settings)
    entries = log_.entries[count:] if log_ else []
    return next((entry.erased_at for entry in entries if entry.standing), None)


def _rotate_stragglers(settings: Settings, state: dict) -> dict[str, int]:
    """Re-wrap data keys found under keys waiting to be retired; returns what still remains."""
    if not state["retiring"]:
        return {}
    if not (stale := _wrapping(settings, state)):
        return {}
    log.warning("data keys still wrapped under master keys waiting to be retired: %s; re-wrapping", stale)
    rotate(settings)
    return _wrapping(settings, state)


def _wrapping(settings: Settings, state: dict) -> dict[str, int]:
    with session_scope(settings) as session:
        in_use = keys_in_use(session)
    return {key_id: in_use[key_id] for key_id in state["retiring"] if in_use.get(key_id)}


def retirement_deadline(settings: Settings, rotated_at: datetime) -> datetime:
    """By then `backup_keep` newer backups (and one interval's slack) exist: the key should be gone.
    With keys from the environment, `rotated_at` is the first erasure they wait for, and the operator
    is given the backups' retention from it."""
    intervals = settings.backup_keep if settings.kyc_master_keys is not None else settings.backup_keep + 1
    return rotated_at + timedelta(hours=settings.backup_interval_hours * intervals)


def overdue_keys(settings: Settings, now: datetime) -> dict[str, datetime]:
    """Keys replaced after erasures and still not retired past their deadline, with the deadline:
    the erasures before their rotation are still readable in the backups that hold them."""
    state = _state(settings)
    deadlines = {key_id: retirement_deadline(settings, datetime.fromisoformat(at)) for key_id, at in state["retiring"].items()}
    return {key_id: deadline for key_id, deadline in deadlines.items() if now > deadline}


def retire_aged_out(settings: Settings, oldest_kept: datetime | None, now: datetime | None = None) -> list[str]:
    """Delete the master keys replaced after erasures once every kept backup was taken after the
    rotation (`oldest_kept`, the oldest scheduled backup's time) and no live data key needs them: a
    data key still under one is re-wrapped first. A key that outlives its deadline is logged as an
    error (and `GET /health` says so under `backups`)."""
    state = _state(settings)
    if settings.kyc_master_keys is not None:  # the operator drops them (`_await_operator`): only told when late
        _log_overdue(settings, now, {})
        return []
    if not state["retiring"] or oldest_kept is None:
        return []
    ring, retired = load_keyring(settings), []
    due = [key_id for key_id, rotated_at in sorted(state["retiring"].items())
           if oldest_kept >= datetime.fromisoformat(rotated_at)]  # fmt: skip
    # (a backup stamped with the rotation's own time was taken right after it, in the same step)
    remaining = _rotate_stragglers(settings, {"retiring": dict.fromkeys(due)}) if due else {}
    for key_id in due:
        if remaining.get(key_id):
            continue
        if key_id in ring.keys:
            try:
                retire(settings, key_id)
            except Conflict:  # a data key wrapped under it since the re-wrap: the next pass re-wraps it
                continue
        retired.append(key_id)
        del state["retiring"][key_id]
    if retired:
        _save(settings, state)
        log.info("KYC master keys %s retired: erasures before their rotation now reach every backup", retired)
    _log_overdue(settings, now, remaining)
    return retired


def _log_overdue(settings: Settings, now: datetime | None, remaining: dict[str, int]) -> None:
    for key_id, deadline in overdue_keys(settings, now or datetime.now(UTC)).items():
        log.error("KYC master key %s is past its retirement deadline %s: %d data keys still wrapped under it, "
                  "so erasures before its rotation are still readable in old backups; see `loanchain kyc keys`",
                  key_id, deadline.isoformat(), remaining.get(key_id, 0))  # fmt: skip
