"""`Idempotency-Key` for create requests that have no other way to tell a retry from a new request
(a credit application, a loan offer, a hardship request: each the same content could mean again).
One table for all of them: a caller's key names the first request that carried it (its route and a
hash of what it asked) and, once that request made its record, the record's id. A retry with the key
and the same request is answered with that record, nothing written; with another request, it is
refused (409 `idempotency_key_reused`). Keys are the caller's own (unique per principal, a wallet),
kept `RETENTION` and deleted as new ones are claimed and by each retention round: past it, the key
names a new request. An erasure of the wallet deletes its keys at once (`forget`).

The claim is a row added in the request's own transaction: a request that fails (a 4xx, a 5xx)
rolls it back with everything else, so its retry runs again; two attempts at once meet on the
primary key, the second waiting for the first to end and then answered with its record."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import TypeVar

from sqlalchemy import DateTime, Integer, String, delete
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Mapped, Session, mapped_column

from backend.config import Settings
from backend.db.base import Base
from backend.db.session import session_scope
from backend.idempotency import IdempotencyKeyReused, Recorded

T = TypeVar("T")

# A client retries within seconds or minutes of a lost answer; a day covers a client that retries
# after a restart, and a key stays out of the way of another request no longer than that.
RETENTION = timedelta(hours=24)


class IdempotencyKeyRow(Base):
    """A caller's `Idempotency-Key`: the request it first came with, and the record that request made."""

    __tablename__ = "idempotency_keys"

    principal: Mapped[str] = mapped_column(String(42), primary_key=True)  # the caller's wallet
    key: Mapped[str] = mapped_column(String(128), primary_key=True)
    route: Mapped[str] = mapped_column(String(200))  # "POST /api/v1/score"
    request_hash: Mapped[str] = mapped_column(String(64))  # sha256 of the method, path and body (fingerprint())
    response_status: Mapped[int | None] = mapped_column(Integer, nullable=True)  # set with record_id
    record_id: Mapped[str | None] = mapped_column(String(64), nullable=True)  # the record the first request made
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), index=True)


def fingerprint(method: str, path: str, body: bytes) -> str:
    """What a request asks, hashed: its method, path (ids in it included) and body; a JSON body read
    back in one form, so a retry that orders its keys or spaces them otherwise asks the same."""
    try:
        content = json.dumps(json.loads(body), sort_keys=True, separators=(",", ":")) if body else ""
    except ValueError:  # not JSON: the bytes as sent
        content = body.hex()
    return hashlib.sha256(json.dumps([method, path, content]).encode()).hexdigest()


@dataclass
class Claim:
    """A request's hold on its key: `row.record_id` set when an earlier attempt made the record."""

    row: IdempotencyKeyRow

    @property
    def retry(self) -> bool:
        return self.row.record_id is not None


def earlier(db: Session, settings: Settings, principal: str, key: str, route: str,
            request_hash: str) -> IdempotencyKeyRow | None:  # fmt: skip
    """The key's row if an earlier request of the caller holds it (keys past `RETENTION` deleted
    first); refused when it came with another request. Reads only, in the request's transaction."""
    prune(settings)
    row = db.get(IdempotencyKeyRow, (principal, key))
    return None if row is None else _same_request(row, route, request_hash)


def claim(db: Session, principal: str, key: str, route: str, request_hash: str) -> Claim:
    """The key for this request: added now, in the request's transaction (the request makes its
    record, then `keep`s its id), or the earlier attempt's (a retry); refused when it came with
    another request."""
    row = db.get(IdempotencyKeyRow, (principal, key))
    if row is None:
        try:
            with db.begin_nested():
                row = IdempotencyKeyRow(principal=principal, key=key, route=route, request_hash=request_hash,
                                        created_at=datetime.now(UTC))  # fmt: skip
                db.add(row)
            return Claim(row)
        except IntegrityError:  # an attempt at the same moment held it, and has committed by now
            row = db.get(IdempotencyKeyRow, (principal, key), populate_existing=True)
    return Claim(_same_request(row, route, request_hash))


def _same_request(row: IdempotencyKeyRow, route: str, request_hash: str) -> IdempotencyKeyRow:
    if row.route != route or row.request_hash != request_hash:
        record = f", record {row.record_id}" if row.record_id else ""
        raise IdempotencyKeyReused(f"Idempotency-Key {row.key!r} was already used for another request ({row.route}"
                                   f"{record}): send a new key with a new request", field="Idempotency-Key",
                                   route=row.route)  # fmt: skip
    return row


def keep(db: Session, held: Claim, record_id: str, status: int) -> None:
    """Name the record the request made under its key, for its retries (in its transaction)."""
    held.row.record_id, held.row.response_status = str(record_id), status
    db.flush()


def once(db: Session, held: Claim | None, make: Callable[[], T], read: Callable[[str], T],
         record_id: Callable[[T], object]) -> Recorded[T]:  # fmt: skip
    """`make()`'s record under the key (`created`), or, for a retry, `read` of the one its first
    attempt made; without a key (`held` None), `make()`'s every time."""
    if held is not None and held.retry:
        return Recorded(read(held.row.record_id), created=False)
    made = make()
    if held is not None:
        keep(db, held, str(record_id(made)), 201)
    return Recorded(made, created=True)


def forget(db: Session, principal: str, until: datetime | None = None) -> int:
    """Delete `principal`'s keys (made up to `until`), in the caller's transaction: an erasure's. A
    key names the wallet, the record it made and a hash of the body, for a credit application an
    unsalted hash of closed choices and an amount that trying them all gives back."""
    query = delete(IdempotencyKeyRow).where(IdempotencyKeyRow.principal == principal)
    if until is not None:
        query = query.where(IdempotencyKeyRow.created_at <= until)
    return db.execute(query).rowcount


def prune(settings: Settings, now: datetime | None = None) -> int:
    """Delete the keys older than `RETENTION`, in a transaction of its own: short, so concurrent
    requests do not wait on one another's (a request's own lasts as long as its handler)."""
    cutoff = (now or datetime.now(UTC)) - RETENTION
    with session_scope(settings) as session:
        return session.execute(delete(IdempotencyKeyRow).where(IdempotencyKeyRow.created_at < cutoff)).rowcount
