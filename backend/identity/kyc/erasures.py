"""The erasure log: what was erased, kept beside the master keys and never inside a backup.

A backup taken before an erasure still holds the wrapped data keys (until the master key they are
wrapped under is retired, `backend/backup/shredding.py`), so a restore would bring the data back;
a restore therefore re-applies the log (`erasure_replay.py`) and refuses to run without it.

Format, one JSON object a line:
- a header naming this log (a fresh instance id), written when the log is created: an empty log a
  new host made for itself is then told apart from the log a backup was taken beside;
- an entry per erasure: the KYC record ids, the key-holder rows shredded and the rows cleared, by
  table and id, with `erased_at`. A restore erases exactly those, never a record made later. An
  erasure of the retention schedule (`retention.py`) says `"kind": "retention"`: it reached those
  rows only, not the wallet's other traces, and `kept_index` names the records whose blind index it
  kept (a rejection on identity grounds, for fraud prevention);
- an outcome line per entry, `committed` or `rolled_back`.

Two phases, because an erasure must never commit unlogged. The entry is written and fsynced
before the erasure's transaction commits (a failed write fails the erasure: nothing committed).
After the commit, `committed` is appended; after a rollback, `rolled_back`, but only once the
database confirms that what the entry names is still there (a COMMIT whose answer was lost may
have landed). An entry left without an outcome (a crash in between, a failed second write) is
re-applied by a restore only where the erasure's own guards would allow it now, since the person
did ask to be erased (`erasure_replay.py`); `settle_erasures` resolves such entries against the
live database before each backup.

Lines written before entries named their rows hold a wallet only; they were written after the
commit, so they count as committed, and re-apply to that wallet's rows made up to `erased_at`.

A backup records how many lines the log had and the SHA-256 of those lines (`binding`); a restore
refuses a log that does not begin with exactly them (`check_binding`). A torn last line (a crash
mid-append, so its erasure never committed) is ignored, and cut off by the next append; any other
line that does not parse makes the log unusable until repaired by hand."""

from __future__ import annotations

import fcntl
import hashlib
import json
import os
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from sqlalchemy import event
from sqlalchemy.orm import Session

from backend.config import Settings
from backend.errors import Conflict

LOG_NAME = "loanchain kyc erasures"
COMMITTED, ROLLED_BACK = "committed", "rolled_back"


class ErasureLogUnusable(Conflict):
    """The log is damaged, or is not the log a backup was taken beside."""


def erasure_log(settings: Settings) -> Path:
    return settings.kyc_erasure_log or settings.keys_dir / "kyc-erasures.jsonl"


@dataclass
class Entry:
    wallet: str
    erased_at: datetime
    id: str | None = None  # None: a line from before entries named their rows (wallet only)
    records: list[str] = field(default_factory=list)
    holders: dict[str, list] = field(default_factory=dict)  # table -> primary keys of rows shredded
    cleared: dict[str, list] = field(default_factory=dict)  # table -> primary keys of rows whose personal data was cleared
    outcome: str | None = None
    kind: str | None = None  # None: a wallet's erasure (on request); "retention": rows past their retention
    kept_index: list[str] = field(default_factory=list)  # records whose blind index stays (retention only)

    @property
    def names_rows(self) -> bool:
        return self.id is not None

    @property
    def standing(self) -> bool:
        return self.outcome != ROLLED_BACK


@dataclass
class ErasureLog:
    path: Path
    lines: list[bytes]  # complete lines, each ending in b"\n"
    header: dict[str, Any] | None
    entries: list[Entry]

    def digest(self, count: int | None = None) -> str:
        return hashlib.sha256(b"".join(self.lines[: len(self.lines) if count is None else count])).hexdigest()

    def binding(self) -> dict[str, Any]:
        """What a backup records of the log beside it."""
        return {"lines": len(self.lines), "sha256": self.digest()}

    @property
    def created_at(self) -> datetime | None:
        return datetime.fromisoformat(self.header["created_at"]) if self.header else None


def _line(obj: dict[str, Any]) -> bytes:
    return json.dumps(obj, sort_keys=True, separators=(",", ":")).encode() + b"\n"


def _parse(path: Path, content: bytes) -> ErasureLog:
    *complete, _torn = content.split(b"\n")  # the piece after the last newline: empty, or a torn append
    lines = [line + b"\n" for line in complete]
    header, entries, by_id = None, [], {}
    for number, line in enumerate(lines, 1):
        if not line.strip():
            continue
        try:
            obj = json.loads(line)
            if obj.get("log") == LOG_NAME:
                header = obj
            elif "outcome" in obj and "wallet" not in obj:
                by_id[obj["erasure"]].outcome = obj["outcome"]
            else:
                entry = Entry(wallet=obj["wallet"], erased_at=datetime.fromisoformat(obj["erased_at"]), id=obj.get("erasure"),
                              records=list(obj.get("records", [])), holders=dict(obj.get("holders", {})),
                              cleared=dict(obj.get("cleared", {})), kind=obj.get("kind"),
                              kept_index=list(obj.get("kept_index", [])),
                              outcome=obj.get("outcome", COMMITTED if obj.get("erasure") is None else None))  # fmt: skip
                entries.append(entry)
                if entry.id is not None:
                    by_id[entry.id] = entry
        except (ValueError, KeyError, TypeError, AttributeError) as exc:
            raise ErasureLogUnusable(f"the erasure log {path} is damaged at line {number} ({type(exc).__name__}): repair it "
                                     "from a copy before restoring", erasure_log=str(path), line=number) from None  # fmt: skip
    return ErasureLog(path, lines, header, entries)


def read_log(settings: Settings) -> ErasureLog | None:
    """The whole log, checked line by line; None where there is none."""
    path = erasure_log(settings)
    return _parse(path, path.read_bytes()) if path.exists() else None


def _header() -> dict[str, Any]:
    return {"log": LOG_NAME, "instance": uuid.uuid4().hex, "created_at": datetime.now(UTC).isoformat()}


def _append(path: Path, obj: dict[str, Any] | None) -> None:
    """Append `obj` durably (fsync before returning), under an exclusive lock: API and workers share
    the log. A new or empty log gets its header first; a torn last line is cut off."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_RDWR | os.O_APPEND | os.O_CREAT, 0o600)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        size = os.fstat(fd).st_size
        if size and os.pread(fd, 1, size - 1) != b"\n":  # its writer died mid-line, before its commit
            size = os.pread(fd, size, 0).rfind(b"\n") + 1
            os.ftruncate(fd, size)
        data = (_line(_header()) if size == 0 else b"") + (_line(obj) if obj else b"")
        if data:
            os.write(fd, data)
            os.fsync(fd)
    finally:
        os.close(fd)
    if size == 0:  # the file is new: its directory entry must survive a crash too
        dir_fd = os.open(path.parent, os.O_RDONLY)
        try:
            os.fsync(dir_fd)
        finally:
            os.close(dir_fd)


def ensure_erasure_log(settings: Settings) -> Path:
    """Create the log (its header only) if there is none yet: a host that takes backups has one."""
    path = erasure_log(settings)
    if not path.exists() or path.stat().st_size == 0:
        _append(path, None)
    return path


def log_erasure(session: Session, settings: Settings, wallet: str, at: datetime, records: list[str],
                holders: dict[str, list], cleared: dict[str, list],
                still_there: Callable[[Entry], bool | None], kind: str | None = None,
                kept_index: list[str] | None = None) -> Entry:  # fmt: skip
    """Write the erasure's entry now, before `session` commits, and its outcome once it has.
    `still_there(entry)` asks the database, after a rollback, whether the entry's rows are unerased
    (None: cannot tell); only then is the entry marked rolled back."""
    entry = Entry(wallet=wallet, erased_at=at, id=uuid.uuid4().hex, records=records, holders=holders, cleared=cleared,
                  kind=kind, kept_index=list(kept_index or []))  # fmt: skip
    path = erasure_log(settings)
    extra = {k: v for k, v in (("kind", kind), ("kept_index", entry.kept_index)) if v}  # a wallet's erasure: as before
    _append(path, {"erasure": entry.id, "wallet": wallet, "erased_at": at.isoformat(), "records": records,
                   "holders": holders, "cleared": cleared, **extra})  # fmt: skip
    settled = []

    def outcome(name: str) -> None:
        if not settled:
            settled.append(name)
            _append(path, {"erasure": entry.id, "outcome": name})

    # Savepoints (the outbox's, the audit checkpoint's) commit and roll back inside the erasure's
    # transaction and fire these events too: only the outermost transaction's outcome counts.
    def committed(session_: Session) -> None:
        if session_.get_nested_transaction() is not None:
            return
        try:
            outcome(COMMITTED)
        except OSError:
            pass  # the entry stands without an outcome: settle_erasures resolves it against the database

    def rolled_back(session_: Session) -> None:
        if settled or session_.get_nested_transaction() is not None:
            return
        try:
            if still_there(entry) is True:
                outcome(ROLLED_BACK)
        except Exception:  # noqa: BLE001 - unresolved is the safe state: a restore re-applies it with erasure's guards
            pass

    event.listen(session, "after_commit", committed)
    event.listen(session, "after_rollback", rolled_back)
    return entry


def log_committed(settings: Settings, entry: Entry) -> None:
    """Mark an entry committed (after the fact), or log an erasure the log lacks as committed."""
    path = erasure_log(settings)
    if entry.id is None:
        entry.id = uuid.uuid4().hex
        _append(path, {"erasure": entry.id, "wallet": entry.wallet, "erased_at": entry.erased_at.isoformat(),
                       "records": entry.records, "holders": entry.holders, "cleared": entry.cleared, "outcome": COMMITTED})  # fmt: skip
    else:
        _append(path, {"erasure": entry.id, "outcome": COMMITTED})
    entry.outcome = COMMITTED


def erased_wallets(settings: Settings) -> list[str]:
    """Wallets with an erasure standing in the log (not rolled back), once each, in log order."""
    log = read_log(settings)
    return list(dict.fromkeys(e.wallet for e in log.entries if e.standing)) if log else []


def erasure_count(settings: Settings) -> int:
    """Erasure entries logged so far (only ever grows: it drives the master-key rotation)."""
    log = read_log(settings)
    return len(log.entries) if log else 0


def check_binding(log: ErasureLog, binding: dict[str, Any]) -> None:
    """Refuse a log that does not begin with the lines a backup was taken beside."""
    count, digest = binding["lines"], binding["sha256"]
    if len(log.lines) < count or log.digest(count) != digest:
        raise ErasureLogUnusable(
            f"the erasure log at {log.path} is not the one this backup was taken beside: the backup expects it to begin "
            f"with {count} lines hashing to sha256 {digest}, it has {len(log.lines)} lines (the first {min(count, len(log.lines))} "
            f"hash to {log.digest(count)}). Copy the log from where the master keys are kept (LOANCHAIN_KYC_ERASURE_LOG), "
            "or restore with --without-erasure-log and erase those people again",
            erasure_log=str(log.path), expected_lines=count, expected_sha256=digest,
        )  # fmt: skip
