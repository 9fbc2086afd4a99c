"""Master-key rotation: re-wrap every data key under the active master key.

Only the 32-byte data keys are unwrapped and wrapped again; the records' ciphertexts are never
decrypted. Every table holding wrapped keys (`holders.py`: the KYC records, the collections case
log) is rotated. Rows are processed in batches, each its own transaction, so a large table rotates
with bounded memory and an interrupted run simply continues where it stopped.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass

from sqlalchemy import func, select, update
from sqlalchemy.orm import Session

from backend.config import Settings
from backend.db.session import session_scope
from backend.errors import Conflict
from backend.identity.crypto.holders import WrappedKeyHolder, key_holders, rewrapped
from backend.identity.crypto.keyring import Keyring, delete_master_key, load_keyring


@dataclass(frozen=True)
class RotationReport:
    active_id: str
    rewrapped: int
    remaining: int
    unreadable: int = 0  # under master keys the keyring lacks (a restore with --allow-missing-keys): left as they are


def keys_in_use(session: Session) -> dict[str, int]:
    """How many data keys each master key wraps, over every holder table."""
    counts: Counter[str] = Counter()
    for holder in key_holders():
        rows = session.execute(select(holder.key_id, func.count()).where(holder.key_id.is_not(None)).group_by(holder.key_id))
        counts.update({key_id: count for key_id, count in rows})
    return dict(counts)


def count_stale(session: Session, keyring: Keyring) -> int:
    """Data keys a rotation can move: not under the active key, and under a key the keyring holds."""
    return sum(count for key_id, count in keys_in_use(session).items() if key_id != keyring.active_id and key_id in keyring.keys)


def count_unreadable(session: Session, keyring: Keyring) -> int:
    return sum(count for key_id, count in keys_in_use(session).items() if key_id not in keyring.keys)


def rewrap_batch(session: Session, keyring: Keyring, batch: int) -> int:
    """Re-wrap up to `batch` stale keys of the first holder table that has any."""
    for holder in key_holders():
        rows = session.scalars(
            select(holder)
            .where(holder.key_id.is_not(None), holder.key_id != keyring.active_id)
            # Rows under a key this keyring lacks cannot be unwrapped: skipped, not a failure that
            # would stop every later rotation (and the backups that rotate first) for good.
            .where(holder.key_id.in_(list(keyring.keys)))
            .order_by(*holder.__mapper__.primary_key)
            .limit(batch)
            .with_for_update(skip_locked=True)
        ).all()
        for row in rows:
            _swap_in(session, keyring, row)
        if rows:
            return len(rows)
    return 0


def _swap_in(session: Session, keyring: Keyring, row: WrappedKeyHolder) -> None:
    """Write the re-wrapped key only where the row still holds the key it was read with. SQLite
    ignores FOR UPDATE, so an erasure may commit between the read and this write; a plain write
    would put a live key back on the erased record and undo its crypto-shredding."""
    if (moved := rewrapped(keyring, row)) is None:
        return
    holder = type(row)
    same_row = [column == getattr(row, column.key) for column in holder.__mapper__.primary_key]
    session.execute(update(holder).where(*same_row, holder.key_id == row.key_id, holder.wrapped_key == row.wrapped_key)
                    .values(key_id=moved[0], wrapped_key=moved[1]).execution_options(synchronize_session=False))  # fmt: skip
    session.expire(row)


def rotate(
    settings: Settings, keyring: Keyring | None = None, batch: int = 500, progress: Callable[[int, int], None] | None = None
) -> RotationReport:
    """Re-wrap data keys not under the active master key. `progress(done, total)` after each batch."""
    keyring = keyring or load_keyring(settings)
    with session_scope(settings) as session:
        total = count_stale(session, keyring)
    done = 0
    while True:
        with session_scope(settings) as session:
            moved = rewrap_batch(session, keyring, batch)
        done += moved
        if progress:
            progress(done, total)
        if not moved:
            break
    with session_scope(settings) as session:
        remaining, unreadable = count_stale(session, keyring), count_unreadable(session, keyring)
    return RotationReport(keyring.active_id, done, remaining, unreadable)


def retire(settings: Settings, key_id: str) -> None:
    """Delete a master key file once no data key is wrapped under it."""
    with session_scope(settings) as session:
        in_use = keys_in_use(session).get(key_id, 0)
    if in_use:
        raise Conflict(f"{in_use} data keys are still wrapped under {key_id}: run `loanchain kyc rotate-key` first")
    delete_master_key(settings, key_id)
