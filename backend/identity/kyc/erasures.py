"""The erasure log: the wallets whose personal data was erased, kept beside the master keys and
never inside a backup. A backup taken before an erasure still holds the wrapped data keys (until
the master key they are wrapped under is retired, `backend/backup/shredding.py`), so a restore
would bring the data back; a restore therefore re-applies every erasure in the log
(`replay_erasures`), and refuses to run where there is no log. Keep the log with the keys, on
durable storage, apart from the backups.

One JSON line per erasure, appended once the erasure's transaction has committed: an erasure that
rolled back never enters it, and one that committed is in it before the request answers."""

from __future__ import annotations

import json
import os
from pathlib import Path

from sqlalchemy import event
from sqlalchemy.orm import Session

from backend.config import Settings


def erasure_log(settings: Settings) -> Path:
    return settings.kyc_erasure_log or settings.keys_dir / "kyc-erasures.jsonl"


def log_on_commit(session: Session, settings: Settings, wallet: str, at: str) -> None:
    """Append `wallet` to the log when `session` commits (not before, and not if it rolls back)."""
    path = erasure_log(settings)

    def append(_session: Session) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        with open(path, "a", encoding="utf-8") as log:
            log.write(json.dumps({"wallet": wallet, "erased_at": at}) + "\n")
            log.flush()
            os.fsync(log.fileno())

    event.listen(session, "after_commit", append, once=True)


def erased_wallets(settings: Settings) -> list[str]:
    path = erasure_log(settings)
    if not path.exists():
        return []
    wallets = (json.loads(line)["wallet"] for line in path.read_text(encoding="utf-8").splitlines() if line.strip())
    return list(dict.fromkeys(wallets))  # once each, in the order they were erased


def erasure_count(settings: Settings) -> int:
    """Erasures logged so far (lines, a wallet erased twice counts twice)."""
    path = erasure_log(settings)
    if not path.exists():
        return 0
    return sum(1 for line in path.read_text(encoding="utf-8").splitlines() if line.strip())


def ensure_erasure_log(settings: Settings) -> Path:
    """Create the (empty) log if there is none yet: a host that takes backups has one, so a restore
    that finds none knows it is on a host the log was not carried to."""
    path = erasure_log(settings)
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        path.touch(mode=0o600)
    return path
