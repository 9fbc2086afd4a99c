"""Engines and sessions. One engine per database URL per process."""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from functools import lru_cache
from pathlib import Path
from typing import Any, TypeVar

from sqlalchemy import Connection, Engine, create_engine, event, false, text, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, configure_mappers, sessionmaker

from backend.config import Settings

T = TypeVar("T")


def normalise_url(url: str) -> str:
    # psycopg 3 is the driver we install; accept the bare scheme hosts hand out.
    for prefix in ("postgres://", "postgresql://"):
        if url.startswith(prefix):
            return "postgresql+psycopg://" + url[len(prefix) :]
    return url


# A database error's text would otherwise carry the statement's values ("[parameters: ...]"): an
# application's declared finances, wallets, sealed blobs. That text reaches the logs (a 500's
# traceback, a worker's `str(exc)`), so both engines hide them: errors name the statement only
# (privacy review L1).
@lru_cache(maxsize=8)
def _engine(url: str) -> Engine:
    url = normalise_url(url)
    if url.startswith("sqlite"):
        path = url.split("///", 1)[-1]
        if path and path != ":memory:":
            Path(path).parent.mkdir(parents=True, exist_ok=True)
        engine = create_engine(url, connect_args={"check_same_thread": False, "timeout": 30},
                               hide_parameters=True)  # fmt: skip

        @event.listens_for(engine, "connect")
        def _sqlite_pragmas(dbapi_conn, _record):  # WAL lets the API read while a worker writes
            cur = dbapi_conn.cursor()
            cur.execute("PRAGMA journal_mode=WAL")
            cur.execute("PRAGMA foreign_keys=ON")
            cur.close()

        @event.listens_for(engine, "savepoint")
        def _begin_before_savepoint(conn, _name):
            # Python's sqlite3 opens a transaction (BEGIN) only before an INSERT, UPDATE or DELETE. A
            # SAVEPOINT before any of those starts one of its own, which its RELEASE then commits: a
            # row written in `begin_nested()` (an outbox intent, a notice) would outlive the
            # rollback of the transaction around it. Opening the transaction first keeps it nested.
            dbapi_conn = conn.connection.dbapi_connection
            if not dbapi_conn.in_transaction:
                dbapi_conn.execute("BEGIN")

        return engine
    return create_engine(url, pool_pre_ping=True, pool_size=5, max_overflow=10, hide_parameters=True)


def get_engine(settings: Settings) -> Engine:
    return _engine(settings.database_url)


@lru_cache(maxsize=1)
def configure_models() -> None:
    """Import every domain's models, then configure the mappers, before any session exists.

    Mappers resolve relationships by class name when first used. Background workers are threads:
    if one queried while another was still importing a models module, a name would be missing and
    SQLAlchemy would refuse every mapper for the rest of the process."""
    import backend.db.models  # noqa: F401  (the registry of every domain's models)

    configure_mappers()


def session_factory(settings: Settings) -> sessionmaker[Session]:
    configure_models()
    return sessionmaker(bind=get_engine(settings), expire_on_commit=False)


@contextmanager
def session_scope(settings: Settings) -> Iterator[Session]:
    """A transaction: committed on success, rolled back on any exception."""
    session = session_factory(settings)()
    try:
        yield session
        session.commit()
    except BaseException:
        session.rollback()
        raise
    finally:
        session.close()


def begin_write(session: Session, model: type) -> None:
    """On SQLite, take the database's write lock now, before reading what will be changed (a no-op
    UPDATE of `model`'s table). Two writers then run one after the other instead of the second
    reading stale rows and failing to upgrade its read lock later. PostgreSQL uses row locks
    (FOR UPDATE), which SQLite ignores."""
    if session.get_bind().dialect.name == "sqlite":
        key = model.__mapper__.primary_key[0]
        session.execute(update(model).where(false()).values({key.key: key}))


def lock_until_commit(session: Session, name: str) -> None:
    """PostgreSQL: wait for, then hold until the transaction ends, a lock on `name` (an advisory lock
    on its hash): a check-then-insert that no row lock covers (the row does not exist yet, or is
    another's) runs one at a time per name. SQLite has one writer anyway, but its reads are not
    serialized: there, two such requests at the same instant can still both pass the check."""
    if session.get_bind().dialect.name == "postgresql":
        key = int.from_bytes(hashlib.sha256(name.encode()).digest()[:8], "big", signed=True)
        session.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": key})


def begin_snapshot(conn: Connection) -> None:
    """Every read on `conn` after this, until its transaction ends, sees one snapshot of the
    database. PostgreSQL needs REPEATABLE READ, set when the connection is opened. Python's
    sqlite3 begins a transaction only before a write, so each SELECT would read the newest
    commit: open it now (in WAL mode a reader's transaction keeps the snapshot of its first read)."""
    if conn.dialect.name == "sqlite":
        dbapi_conn = conn.connection.dbapi_connection
        if not dbapi_conn.in_transaction:
            dbapi_conn.execute("BEGIN")


def get_or_add(session: Session, model: type[T], key: Any, make: Callable[[], T], *, lock: bool = False) -> tuple[T, bool]:
    """The row of `model` with primary key `key`, added (from `make()`) when missing: (row, added).
    Two requests adding the same row at once (a double click, two tabs) both see it missing; the
    second insert fails on the key inside its savepoint and reads the first one's row instead of
    failing the request. `lock` reads it FOR UPDATE (PostgreSQL), for a read-modify-write."""
    row = session.get(model, key, with_for_update=lock)
    if row is not None:
        return row, False
    try:
        with session.begin_nested():
            row = make()
            session.add(row)
        return row, True
    except IntegrityError:
        return session.get(model, key, with_for_update=lock, populate_existing=True), False
