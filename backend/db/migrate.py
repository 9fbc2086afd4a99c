"""Alembic, driven from Python so `loanchain db upgrade`, `make run` and tests share one path."""

from __future__ import annotations

from functools import cache
from pathlib import Path
from urllib.parse import urlsplit

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy.exc import DBAPIError, InterfaceError, OperationalError

from backend.config import Settings
from backend.db.session import get_engine, normalise_url

MIGRATIONS = Path(__file__).resolve().parent / "migrations"


def alembic_config(settings: Settings) -> Config:
    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS))
    cfg.set_main_option("sqlalchemy.url", normalise_url(settings.database_url).replace("%", "%%"))
    cfg.attributes["settings"] = settings
    return cfg


def upgrade(settings: Settings, revision: str = "head") -> None:
    command.upgrade(alembic_config(settings), revision)


def upgrade_on(connection, settings: Settings, revision: str = "head") -> None:
    """Migrate through `connection`, inside its open transaction (nothing is committed here): a restore
    brings a backup's schema up with its rows, all or nothing."""
    cfg = alembic_config(settings)
    cfg.attributes["connection"] = connection
    command.upgrade(cfg, revision)


@cache
def _scripts() -> ScriptDirectory:
    """This release's migrations, read once per process: they change only with the release, which
    restarts it. Reading them imports every migration module, which each `/health` probe and backup did."""
    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS))
    return ScriptDirectory.from_config(cfg)


def known_revision(settings: Settings, revision: str) -> bool:
    """Whether this release's migrations know `revision` (a newer release's are unknown here)."""
    try:
        return _scripts().get_revision(revision) is not None
    except Exception:  # noqa: BLE001 - alembic raises several kinds for a revision it does not have
        return False


def downgrade(settings: Settings, revision: str) -> None:
    command.downgrade(alembic_config(settings), revision)


def current_revision(settings: Settings) -> str | None:
    with get_engine(settings).connect() as conn:
        return MigrationContext.configure(conn).get_current_revision()


def head_revision(settings: Settings) -> str | None:
    return _scripts().get_current_head()


def where(url: str) -> str:
    """A URL as an error may repeat it: scheme, host and port (a database URL carries its password, a
    hosted RPC URL its key in the path or query), or a SQLite file's path."""
    parts = urlsplit(url)
    if parts.scheme.startswith("sqlite"):
        # sqlite:///relative and sqlite:////absolute: the path is what follows the third slash.
        return parts.path[1:] or ":memory:"
    return f"{parts.scheme}://{parts.hostname}{f':{parts.port}' if parts.port else ''}" if parts.hostname else "<redacted>"


def explain_failure(exc: BaseException, settings: Settings) -> str | None:
    """Why a database call failed, in one line an operator can act on, when the database rather than
    the command is at fault: the server cannot be reached, the schema is behind this release, or the
    server failed the operation (OperationalError, InterfaceError: a lock or statement timeout, a
    connection dropped mid-command). None for anything else, an IntegrityError or ProgrammingError on
    a database at head included: that is a bug, and a bug is a traceback."""
    if not isinstance(exc, DBAPIError):
        return None
    at = where(settings.database_url)
    try:
        current = current_revision(settings)
    except Exception as cause:  # noqa: BLE001 - whatever stops a connection is the answer
        return f"cannot reach the database at {at} ({type(cause).__name__}); check DATABASE_URL and that the server runs"
    head = head_revision(settings)
    if current != head:
        return f"the database at {at} is at revision {current or 'none (empty)'}, this release needs {head}: run `loanchain db upgrade`"
    if isinstance(exc, (OperationalError, InterfaceError)):
        return f"the database at {at} failed the command ({type(exc.orig or exc).__name__}); run with LOANCHAIN_DEBUG=1 for the details"
    return None
