"""Scheduled backups: the `backup` worker takes one every `backup_interval_hours` into `backup_dir`,
verifies it by decrypting it end to end against its manifest, and keeps the newest `backup_keep`.

A file's name carries the UTC time it was taken (`loanchain-20261129T190000Z.lcbk`), so whether one
is due is read off the directory: a restart neither skips one nor takes an extra one, and only one
process takes it (the worker's lock). A backup that fails its verification is renamed `.bad` and
the error logged; older good ones are never pruned for it. `GET /health` reports the newest
backup's age (`stale` past twice the interval), so monitoring can alert on a schedule that stopped.

After erasures, the KYC master key is rotated before the backup is taken, and a key replaced so is
deleted once the oldest kept backup postdates its rotation (`shredding.py`): the retention of the
backups is then also the time an erasure takes to reach them (each backup is sealed under the
master key of its time, so it cannot be read at all once that key is gone). With keys from
LOANCHAIN_KYC_MASTER_KEYS the operator rotates, and `GET /health` says `shredding overdue` once
the retention has passed since the first erasure not covered.
"""

from __future__ import annotations

import json
import logging
import re
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from backend.backup.service import Progress, create_backup, verify_backup
from backend.backup.shredding import overdue_keys, retire_aged_out, rotate_after_erasures
from backend.backup.taking import taking
from backend.config import Settings
from backend.errors import Conflict

log = logging.getLogger("loanchain.backup")
STAMP = "%Y%m%dT%H%M%SZ"
NAME = re.compile(r"^loanchain-(\d{8}T\d{6}Z)\.lcbk$")


@dataclass(frozen=True)
class ScheduledBackup:
    path: Path
    taken_at: datetime
    bytes: int


def backup_dir(settings: Settings) -> Path:
    return settings.backup_dir or settings.var_dir / "backups"


@contextmanager
def rotating_by_hand(settings: Settings) -> Iterator[None]:
    """Hold the backup directory's lock for a master-key rotation run by hand (`loanchain kyc
    rotate-key`): the backup worker rotates after erasures under that lock, and two rotations at once
    would each add a key and re-wrap against the other, the worker then recording as the one to retire
    a key the hand rotation had just made. Conflict, at once, while a backup is being taken."""
    with taking(backup_dir(settings)) as mine:
        if not mine:
            raise Conflict(f"a backup is being taken into {backup_dir(settings)} and rotates the master key after "
                           "erasures itself: try the rotation again once it is done")  # fmt: skip
        yield


def scheduled_backups(settings: Settings) -> list[ScheduledBackup]:
    """The directory's backups, newest first (files not named by the schedule are left alone)."""
    found = []
    directory = backup_dir(settings)
    for path in directory.glob("loanchain-*.lcbk") if directory.exists() else []:
        match = NAME.match(path.name)
        if match:
            taken = datetime.strptime(match.group(1), STAMP).replace(tzinfo=UTC)
            found.append(ScheduledBackup(path, taken, path.stat().st_size))
    return sorted(found, key=lambda b: b.taken_at, reverse=True)


def is_due(settings: Settings, now: datetime) -> bool:
    if settings.backup_interval_hours <= 0:
        return False
    newest = scheduled_backups(settings)
    return not newest or now - newest[0].taken_at >= timedelta(hours=settings.backup_interval_hours)


def _attempts_path(settings: Settings) -> Path:
    return backup_dir(settings) / ".schedule.json"  # not a backup's name: never listed nor pruned


def _attempts(settings: Settings) -> dict[str, Any]:
    try:
        return json.loads(_attempts_path(settings).read_text())
    except (OSError, ValueError):
        return {}


def _record_attempt(settings: Settings, now: datetime, error: str | None) -> None:
    """The schedule's own outcome, for `backup_health`: a pass that raised is `failed` until one
    succeeds, and a schedule that never produced a backup is `stale` after two intervals."""
    state = _attempts(settings)
    state.setdefault("first_attempt_at", now.isoformat())
    state.update(last_attempt_at=now.isoformat(), last_error=error and error[:500])
    path = _attempts_path(settings)
    try:
        path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)  # as create_backup makes it
        tmp = path.with_name(path.name + ".tmp")
        tmp.write_text(json.dumps(state, sort_keys=True))
        tmp.replace(path)
    except OSError as exc:  # reporting only: never what fails a backup
        log.warning("backup schedule state not written: %s", exc)


def _whole_seconds(now: datetime | None) -> datetime:
    """The pass's time in whole seconds, as the backup's name keeps it: a rotation in this pass is
    stamped with the same time as the backup taken right after it, which must count as after the
    rotation (or the key it replaced would be retired a whole interval late)."""
    return (now or datetime.now(UTC)).replace(microsecond=0)


def take_backup(settings: Settings, now: datetime | None = None, progress: Progress | None = None) -> ScheduledBackup:
    """Write, verify and rotate one backup now (its outcome recorded for `backup_health`); Conflict
    while another is being taken into the directory."""
    now = _whole_seconds(now)
    with taking(backup_dir(settings)) as mine:
        if not mine:
            raise Conflict(f"a backup is being taken into {backup_dir(settings)} (the backup worker, or another "
                           "`loanchain backup create`); try again once it is done")  # fmt: skip
        return _take_recorded(settings, now, progress)


def _take_recorded(settings: Settings, now: datetime, progress: Progress | None) -> ScheduledBackup:
    try:
        taken = _take_backup(settings, now, progress)
    except Exception as exc:
        _record_attempt(settings, now, f"{type(exc).__name__}: {exc}")
        raise
    _record_attempt(settings, now, None)
    return taken


def _take_backup(settings: Settings, now: datetime, progress: Progress | None) -> ScheduledBackup:
    if settings.backup_shred_erasures:
        rotate_after_erasures(settings, now)  # this backup already holds no wrap an erasure destroyed
    path = backup_dir(settings) / f"loanchain-{now.strftime(STAMP)}.lcbk"
    create_backup(settings, path, progress)
    try:
        verify_backup(settings, path)
    except Exception:
        path.replace(path.with_name(path.name + ".bad"))  # out of the rotation, kept for a post-mortem
        raise
    for old in scheduled_backups(settings)[settings.backup_keep :]:
        old.path.unlink(missing_ok=True)
    if settings.backup_shred_erasures:
        retire_aged_out(settings, scheduled_backups(settings)[-1].taken_at, now)
    return ScheduledBackup(path, now, path.stat().st_size)


def backup_step(settings: Settings, now: datetime | None = None) -> int:
    """One pass of the `backup` worker: take a backup if one is due. Returns how many it took."""
    now = _whole_seconds(now)
    if not is_due(settings, now):
        return 0
    # Checked again under the directory's lock: a round overlapping this one (see taking) may have taken it.
    with taking(backup_dir(settings)) as mine:
        if not mine or not is_due(settings, now):
            return 0
        taken = _take_recorded(settings, now, None)
    log.info("backup %s written and verified (%d bytes)", taken.path, taken.bytes)
    return 1


def backup_health(settings: Settings, now: datetime | None = None) -> dict[str, Any]:
    """Always `ok` (a late backup does not make the API unusable); `status` is for monitoring:
    `failed` while the last scheduled pass raised, `stale` when the newest backup is older than two
    intervals or none was ever taken two intervals after the first try."""
    now = now or datetime.now(UTC)
    if settings.backup_interval_hours <= 0:
        return {"ok": True, "status": "off"}
    report = _health(settings, now)
    attempts = _attempts(settings)
    if attempts.get("last_error"):
        report.update(status="failed", last_error=attempts["last_error"], last_attempt_at=attempts.get("last_attempt_at"))
    return report


def _health(settings: Settings, now: datetime) -> dict[str, Any]:
    newest = scheduled_backups(settings)
    window = timedelta(hours=2 * settings.backup_interval_hours)
    if not newest:
        first = _attempts(settings).get("first_attempt_at")
        # A host restored from elsewhere starts with an empty directory: "none yet" must not last.
        never = first is not None and now - datetime.fromisoformat(first) > window
        return {"ok": True, "status": "stale" if never else "none yet", "interval_hours": settings.backup_interval_hours}
    age = now - newest[0].taken_at
    stale = age > window
    report = {"ok": True, "status": "stale" if stale else "ok", "latest": newest[0].path.name,
              "age_hours": round(age.total_seconds() / 3600, 2), "interval_hours": settings.backup_interval_hours,
              "kept": len(newest)}  # fmt: skip
    if overdue := overdue_keys(settings, now):  # erasures not yet out of the old backups past the promised window
        since = min(overdue.values()).isoformat()
        report.update(status="stale" if stale else "shredding overdue", shredding_overdue_keys=len(overdue),
                      shredding_overdue_since=since)  # fmt: skip
        if settings.kyc_master_keys is not None:  # the worker cannot rotate keys it does not keep
            report["shredding"] = (f"operator rotation overdue since {since}: put a new key first in "
                                   "LOANCHAIN_KYC_MASTER_KEYS, run `loanchain kyc rotate-key --no-new-key`, then drop the "
                                   "older keys once no kept backup predates the rotation")  # fmt: skip
    return report
