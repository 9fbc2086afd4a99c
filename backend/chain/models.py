"""Tables of the transaction outbox, the chain index and the background workers' leases."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    ColumnElement,
    DateTime,
    Index,
    Integer,
    String,
    Text,
    UniqueConstraint,
    and_,
    event,
    func,
    inspect,
    true,
    update,
)
from sqlalchemy.orm import Mapped, mapped_column
from sqlalchemy.types import TypeDecorator

from backend.db.base import Base
from backend.errors import Conflict


def utcnow() -> datetime:
    return datetime.now(UTC)


class Uint(TypeDecorator):
    """An unsigned 256-bit integer stored as a decimal string: exact on SQLite and PostgreSQL
    alike (SQLite's NUMERIC is a float beyond 15 digits)."""

    impl = String(80)
    cache_ok = True

    def process_bind_param(self, value: Any, dialect) -> str | None:
        return None if value is None else str(int(value))

    def process_result_value(self, value: Any, dialect) -> int | None:
        return None if value is None else int(value)


class IntentStatus:
    PENDING = "pending"  # recorded, nothing signed
    SIGNED = "signed"  # nonce, hash and raw tx persisted; the node may not have it yet
    SENT = "sent"  # the node accepted the raw tx
    MINED = "mined"  # in a block, fewer than `confirmations` deep
    CONFIRMED = "confirmed"
    FAILED = "failed"

    IN_FLIGHT = (SIGNED, SENT, MINED)
    OPEN = (PENDING, SIGNED, SENT, MINED)
    ALL = (PENDING, SIGNED, SENT, MINED, CONFIRMED, FAILED)


class Intent(Base):
    """One state-changing call the platform wants on chain, exactly once."""

    __tablename__ = "outbox_intents"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    # Byte order on PostgreSQL too, so a key prefix is a range the unique index serves (see key_prefixed).
    key: Mapped[str] = mapped_column(String(200).with_variant(String(200, collation="C"), "postgresql"), unique=True)
    contract: Mapped[str] = mapped_column(String(100))
    address: Mapped[str | None] = mapped_column(String(42))
    function: Mapped[str] = mapped_column(String(100))
    args: Mapped[list] = mapped_column(JSON)
    value: Mapped[int] = mapped_column(Uint, default=0)
    status: Mapped[str] = mapped_column(String(20), index=True, default=IntentStatus.PENDING)

    sender: Mapped[str | None] = mapped_column(String(42))  # the signing address
    sent_by: Mapped[str | None] = mapped_column(String(200))  # worker instance (host:pid) that signed
    nonce: Mapped[int | None] = mapped_column(BigInteger, index=True)
    tx_hash: Mapped[str | None] = mapped_column(String(66), index=True)
    raw_tx: Mapped[str | None] = mapped_column(Text)
    gas_limit: Mapped[int | None] = mapped_column(BigInteger)
    gas_used: Mapped[int | None] = mapped_column(BigInteger)
    block_number: Mapped[int | None] = mapped_column(BigInteger)
    block_hash: Mapped[str | None] = mapped_column(String(66))
    # Hashes signed earlier for this intent whose nonce another transaction consumed: they can
    # never be mined, and are kept so an audit can see why the intent was re-signed.
    replaced_tx_hashes: Mapped[list] = mapped_column(JSON, default=list)

    error: Mapped[str | None] = mapped_column(Text)
    error_name: Mapped[str | None] = mapped_column(String(200))
    error_args: Mapped[dict | None] = mapped_column(JSON)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    next_attempt_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))

    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow, server_default=func.now())
    updated_at: Mapped[datetime] = mapped_column(
        DateTime(timezone=True), default=utcnow, onupdate=utcnow, server_default=func.now()
    )
    sent_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    mined_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    confirmed_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))

    @property
    def is_open(self) -> bool:
        return self.status in IntentStatus.OPEN

    def __repr__(self) -> str:
        return f"<Intent {self.key} {self.contract}.{self.function} {self.status} nonce={self.nonce}>"


@event.listens_for(Intent, "before_update")
def _refuse_a_stale_write(_mapper, connection, target: Intent) -> None:
    """Every write of an intent past `pending` is a compare-and-set on the status and hash this
    session read: two senders can overlap for a round (a lock holder whose connection dropped
    mid-round, beside the new holder), and a plain update by id would let the stale one overwrite
    the other's fee bump, losing a hash that was broadcast and may be mined. A write refused here
    raises Conflict, which rolls its transaction back and ends that sender's round. The first
    statement in the transaction that touches the row, so on PostgreSQL it also holds the row
    (a concurrent writer waits, then finds the hash changed) and on SQLite the write lock.
    An intent read as `pending` is compared like any other (status pending and no hash): a stale
    sender whose estimate reverts because the new holder's transaction already ran the call would
    otherwise record that confirmed call as failed. `pending` -> `signed` is `_claim`'s own core
    UPDATE (this hook does not fire for it)."""
    state = inspect(target)
    read = {}
    for name in ("status", "tx_hash"):
        history = state.attrs[name].history
        before = history.deleted or history.unchanged
        if not before:
            return  # not read in this session: nothing to compare against
        read[name] = before[0]
    table = Intent.__table__
    same_hash = table.c.tx_hash.is_(None) if read["tx_hash"] is None else table.c.tx_hash == read["tx_hash"]
    touched = connection.execute(
        update(table).where(table.c.id == target.id, table.c.status == read["status"], same_hash).values(updated_at=utcnow())
    ).rowcount
    if touched != 1:
        raise Conflict(
            f"intent {target.key}: changed by another sender since this one read it ({read['status']}, "
            f"{read['tx_hash']}); this sender's write is refused and its round stops"
        )


def key_prefixed(prefix: str) -> ColumnElement[bool]:
    """Intents whose key starts with `prefix`, as a range `uq_outbox_intents_key` serves: a LIKE
    uses no index on SQLite (it ignores case) nor on PostgreSQL unless the column collates "C".
    The key collates "C" there (migration 0037), so byte order makes the range exactly the prefix."""
    if not prefix:
        return true()
    return and_(Intent.key >= prefix, Intent.key < prefix[:-1] + chr(ord(prefix[-1]) + 1))


class ChainEvent(Base):
    """One decoded log of a loanchain contract. The source every projection is built from."""

    __tablename__ = "chain_events"
    __table_args__ = (UniqueConstraint("block_hash", "log_index", name="uq_chain_events_block_hash_log_index"),
                      Index("ix_chain_events_contract_event", "contract", "event"))  # fmt: skip

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    block_number: Mapped[int] = mapped_column(BigInteger, index=True)
    block_hash: Mapped[str] = mapped_column(String(66))
    tx_hash: Mapped[str] = mapped_column(String(66), index=True)
    tx_index: Mapped[int] = mapped_column(Integer)
    log_index: Mapped[int] = mapped_column(Integer)
    contract: Mapped[str] = mapped_column(String(100))
    address: Mapped[str] = mapped_column(String(42))
    event: Mapped[str] = mapped_column(String(100), index=True)
    args: Mapped[dict] = mapped_column(JSON)
    block_timestamp: Mapped[int | None] = mapped_column(BigInteger, index=True)


class IndexedBlock(Base):
    """Hash of a block the indexer has processed, to notice when the chain replaced it (reorg)."""

    __tablename__ = "indexed_blocks"

    number: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=False)
    hash: Mapped[str] = mapped_column(String(66))
    parent_hash: Mapped[str] = mapped_column(String(66))
    timestamp: Mapped[int] = mapped_column(BigInteger)


class IndexerCheckpoint(Base):
    """How far the index is complete: every event up to and including `block_number`."""

    __tablename__ = "indexer_checkpoints"

    name: Mapped[str] = mapped_column(String(100), primary_key=True)
    block_number: Mapped[int] = mapped_column(BigInteger)
    block_hash: Mapped[str | None] = mapped_column(String(66))
    # Which deployment the index follows; a redeploy (new addresses) triggers a rebuild.
    deployment_hash: Mapped[str] = mapped_column(String(64))
    reorgs: Mapped[int] = mapped_column(Integer, default=0)
    updated_at: Mapped[datetime] = mapped_column(
        DateTime(timezone=True), default=utcnow, onupdate=utcnow, server_default=func.now()
    )


class WorkerLease(Base):
    """Who runs each background worker now, and how its rounds go (informational; the lock itself
    is advisory/file)."""

    __tablename__ = "worker_leases"

    name: Mapped[str] = mapped_column(String(100), primary_key=True)
    holder: Mapped[str] = mapped_column(String(200))
    acquired_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    heartbeat_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    runs: Mapped[int] = mapped_column(Integer, default=0)
    last_ok_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)  # a round completed
    last_error: Mapped[str | None] = mapped_column(String(500), nullable=True)  # the last round that raised
    last_error_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)

    @property
    def failing(self) -> bool:
        """Its last round raised, and none has completed since."""
        return self.last_error_at is not None and (self.last_ok_at is None or self.last_error_at > self.last_ok_at)


# The projections' tables register with the same metadata (imported last: they use `Uint`).
from backend.chain import projection_models  # noqa: E402,F401
