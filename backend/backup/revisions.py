"""Backups across schema revisions.

A backup holds the tables of the schema it was taken at. One taken before a migration is restored
by this release all the same: into an empty database brought to the backup's revision, its rows
loaded, then every later migration run on them (their data steps included), in the restore's one
transaction (`migrate.upgrade_on`). And a database this release has not upgraded yet is backed up as
it stands (the upgrade's own safety copy). Either way the tables are the ones the database holds
(reflected), each column typed as this release's model types it where the model has it (a uint256
as its decimal string, a time in UTC), else as the database says."""

from __future__ import annotations

from sqlalchemy import Column, MetaData, Table, create_engine, func, inspect, select, text
from sqlalchemy.engine import Connection

from backend.config import Settings
from backend.db import migrate
from backend.db.models import Base
from backend.errors import Conflict

VERSION_TABLE = "alembic_version"


def _reflected(conn: Connection) -> MetaData:
    reflected = MetaData()
    reflected.reflect(conn, only=[n for n in inspect(conn).get_table_names() if n != VERSION_TABLE])
    return reflected


def tables_at(conn: Connection) -> list[Table]:
    """The database's own tables, parents before children, typed by this release's model where it can."""
    reflected, model = _reflected(conn), Base.metadata.tables
    typed = MetaData()
    for table in reflected.sorted_tables:
        ours = model.get(table.name)
        Table(table.name, typed, *(Column(c.name, ours.c[c.name].type if ours is not None and c.name in ours.c else c.type,
                                          primary_key=c.primary_key) for c in table.columns))  # fmt: skip
    return [typed.tables[t.name] for t in reflected.sorted_tables]


def is_head(conn: Connection, settings: Settings) -> bool:
    return _revision(conn) == migrate.head_revision(settings)


def _revision(conn: Connection) -> str | None:
    if VERSION_TABLE not in inspect(conn).get_table_names():
        return None
    return conn.scalar(text(f"SELECT version_num FROM {VERSION_TABLE}"))


def check_known(settings: Settings, revision: str | None) -> None:
    if revision is None or not migrate.known_revision(settings, revision):
        raise Conflict(f"the backup is at schema revision {revision}, which this release does not know (a later "
                       "release's): restore it with that release", backup_revision=revision)  # fmt: skip


def empty_at(conn: Connection, settings: Settings, revision: str, seeded: dict) -> None:
    """Bring an empty database (at any revision, or none) to `revision`, in `conn`'s transaction:
    its tables are checked to hold nothing but a fresh migration's seeds, then dropped and made anew."""
    if conn.dialect.name == "sqlite" and not (dbapi := conn.connection.dbapi_connection).in_transaction:
        # Python's sqlite3 begins a transaction only before DML: the DDL before it would commit on its
        # own, and a restore that fails would leave the database without its tables.
        dbapi.execute("BEGIN")
    _own_tables_only(conn, settings)
    tables = tables_at(conn)
    for table in tables:
        if table.name in seeded:
            if not seeded[table.name]([dict(r._mapping) for r in conn.execute(select(table))]):
                raise Conflict(f"restore needs an empty database: {table.name} holds data", table=table.name)
        elif conn.scalar(select(func.count()).select_from(table)):
            raise Conflict(f"restore needs an empty database: {table.name} holds rows", table=table.name)
    _reflected(conn).drop_all(conn)
    conn.execute(text(f"DROP TABLE IF EXISTS {VERSION_TABLE}"))
    migrate.upgrade_on(conn, settings, revision)


def _own_tables_only(conn: Connection, settings: Settings) -> None:
    """Refuse a database holding tables no revision of this platform made (another application's):
    they are not this restore's to drop, even empty."""
    present = {n for n in inspect(conn).get_table_names() if n != VERSION_TABLE}
    known = set(Base.metadata.tables)
    if (revision := _revision(conn)) is not None and present - known and migrate.known_revision(settings, revision):
        known |= set(columns_at(settings, revision))  # tables a later migration dropped
    if strangers := sorted(present - known):
        raise Conflict(f"restore needs a database of its own: {', '.join(strangers)} are not this platform's tables",
                       tables=strangers)  # fmt: skip


def columns_at(settings: Settings, revision: str) -> dict[str, list[str]]:
    """Each table's columns at `revision`, as this release's migrations make it (on a scratch in-memory
    SQLite database): what a restore of a backup taken there expects."""
    engine = create_engine("sqlite://")
    try:
        with engine.begin() as conn:
            migrate.upgrade_on(conn, settings, revision)
            return {t.name: [c.name for c in t.columns] for t in _reflected(conn).sorted_tables}
    finally:
        engine.dispose()
