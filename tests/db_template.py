"""Migrated test databases cloned from one template per worker session instead of migrated one
by one (34 migrations take ~0.25 s per database; a file copy or CREATE DATABASE ... TEMPLATE takes
milliseconds).

Upgrading an empty database to head writes the same schema and rows whatever the Settings: the
only settings-dependent step, the keyring that 0021 and 0030 load, runs only when there are notes
to seal. So a clone is only taken for exactly that case (revision head, database empty), and is
what the upgrade itself would have produced; tests/db/test_db_template.py holds the two side by
side. Tests of the migrations themselves (marker `real_migrations`) always run them."""

from __future__ import annotations

import shutil
import uuid
from pathlib import Path

from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url
from sqlalchemy.pool import NullPool

from backend.config import Settings
from backend.db import migrate
from backend.db.session import _engine, normalise_url

real_upgrade = migrate.upgrade

# Every relation outside the catalogs: an empty database has none.
_USER_RELATIONS = text(
    "SELECT count(*) FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace "
    "WHERE n.nspname NOT IN ('pg_catalog', 'information_schema') AND n.nspname NOT LIKE 'pg_toast%'"
)


class Templates:
    def __init__(self, workdir: Path, pg_admin_url: str) -> None:
        self.workdir = workdir
        self.pg_admin_url = pg_admin_url
        self.enabled = True
        self._sqlite: Path | None = None
        self._pg: str | None = None
        self._admin = None
        # PostgreSQL databases the database_url fixture created as clones, not upgraded since: an
        # upgrade to head finds them at head, as it would after running every migration.
        self.pristine: set[str] = set()

    # --- the replacement for migrate.upgrade ------------------------------------------------------
    def upgrade(self, settings: Settings, revision: str = "head") -> None:
        if self.enabled and revision == "head":
            url = make_url(normalise_url(settings.database_url))
            if url.get_backend_name() == "sqlite" and self._clone_sqlite(settings, url):
                return
            if url.get_backend_name() == "postgresql" and self._clone_postgres(settings, url):
                return
        real_upgrade(settings, revision)

    # --- SQLite -------------------------------------------------------------------------------------
    def _clone_sqlite(self, settings: Settings, url) -> bool:
        if not url.database or url.database == ":memory:" or url.query:
            return False
        target = Path(url.database)
        if target.exists():  # may hold anything: migrate it for real
            return False
        source = self.sqlite_template(settings)
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(source, target)
        return True

    def sqlite_template(self, settings: Settings) -> Path:
        if self._sqlite is None:
            path = self.workdir / "template.db"
            tmpl_url = f"sqlite:///{path}"
            real_upgrade(settings.model_copy(update={"database_url": tmpl_url}))
            # Closing the last connection checkpoints the WAL into the main file, so one file is it all.
            _engine(tmpl_url).dispose()
            wal = path.with_name(path.name + "-wal")
            assert not wal.exists() or wal.stat().st_size == 0, "the template's WAL was not checkpointed"
            self._sqlite = path
        return self._sqlite

    # --- PostgreSQL ---------------------------------------------------------------------------------
    def admin(self):
        if self._admin is None:
            self._admin = create_engine(self.pg_admin_url, isolation_level="AUTOCOMMIT")
        return self._admin

    def _clone_postgres(self, settings: Settings, url) -> bool:
        name = url.database
        if name in self.pristine:
            self.pristine.discard(name)
            return True
        with self.admin().connect() as conn:
            if self._connections(conn, name):  # someone uses it: leave it alone
                return False
        probe = create_engine(url, poolclass=NullPool)
        try:
            with probe.connect() as conn:
                if conn.execute(_USER_RELATIONS).scalar():
                    return False
        finally:
            probe.dispose()
        template = self.pg_template(settings)
        with self.admin().connect() as conn:
            # FORCE: only the probe's connection, closed above, may still be on its way out.
            conn.execute(text(f'DROP DATABASE "{name}" WITH (FORCE)'))
            conn.execute(text(f'CREATE DATABASE "{name}" TEMPLATE "{template}"'))
        return True

    def create_pg_clone(self, name: str, settings: Settings) -> None:
        """A new database that is already a clone (no empty database to drop first, which costs
        more than the copy)."""
        template = self.pg_template(settings)
        with self.admin().connect() as conn:
            conn.execute(text(f'CREATE DATABASE "{name}" TEMPLATE "{template}"'))
        self.pristine.add(name)

    @staticmethod
    def _connections(conn, name: str) -> int:
        return conn.execute(text("SELECT count(*) FROM pg_stat_activity WHERE datname = :n"), {"n": name}).scalar()

    def pg_template(self, settings: Settings) -> str:
        if self._pg is None:
            name = f"loanchain_tmpl_{uuid.uuid4().hex[:10]}"
            with self.admin().connect() as conn:
                conn.execute(text(f'CREATE DATABASE "{name}"'))
            tmpl_url = self.pg_admin_url.rsplit("/", 1)[0] + f"/{name}"
            real_upgrade(settings.model_copy(update={"database_url": tmpl_url}))
            # A template with an open connection cannot be copied.
            _engine(tmpl_url).dispose()
            self._pg = name
        return self._pg

    def drop(self) -> None:
        if self._pg is not None:
            with self.admin().connect() as conn:
                conn.execute(text(f'DROP DATABASE IF EXISTS "{self._pg}" WITH (FORCE)'))
            self._pg = None
        if self._admin is not None:
            self._admin.dispose()
