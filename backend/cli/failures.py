"""What the CLI says when its surroundings fail rather than the command: the chain node or the
database cannot be reached, or the database is behind this release. An operator gets one line
naming the part and what to do, not two hundred lines of traceback through requests or SQLAlchemy.
`LOANCHAIN_DEBUG=1` keeps the traceback (a bug is still a traceback: only these are translated)."""

from __future__ import annotations

from urllib.parse import urlsplit

import requests
from sqlalchemy.exc import DBAPIError
from web3.exceptions import ProviderConnectionError

from backend.config import Settings
from backend.errors import LoanchainError

NODE_DOWN = (requests.exceptions.ConnectionError, requests.exceptions.Timeout, ProviderConnectionError)


def where(url: str) -> str:
    """A URL as an error may repeat it: scheme, host and port (a hosted RPC URL carries its key in the
    path or query, a database URL its password), or a SQLite file's path."""
    parts = urlsplit(url)
    if parts.scheme.startswith("sqlite"):
        # sqlite:///relative and sqlite:////absolute: the path is what follows the third slash.
        return parts.path[1:] or ":memory:"
    return f"{parts.scheme}://{parts.hostname}{f':{parts.port}' if parts.port else ''}" if parts.hostname else "<redacted>"


def _database_failure(settings: Settings) -> str:
    # Imported here: the migration scripts load Alembic, which most commands never need.
    from backend.db.migrate import current_revision, head_revision

    try:
        current = current_revision(settings)
    except Exception as exc:  # noqa: BLE001 - whatever stops a connection is the answer
        return (f"cannot reach the database at {where(settings.database_url)} "
                f"({type(exc).__name__}); check DATABASE_URL and that the server runs")
    head = head_revision(settings)
    if current != head:
        return (f"the database at {where(settings.database_url)} is at revision {current or 'none (empty)'}, "
                f"this release needs {head}: run `loanchain db upgrade`")
    return f"the database at {where(settings.database_url)} refused the command; run with LOANCHAIN_DEBUG=1 for the details"


def explain(exc: BaseException, settings: Settings) -> str | None:
    """One line for a failure of the command's surroundings, or None for anything else."""
    if isinstance(exc, NODE_DOWN):
        return (f"cannot reach the chain node at {where(settings.rpc_url)}; start a local one with "
                "`make run` or `loanchain chain up`, or set RPC_URL")
    if isinstance(exc, DBAPIError):
        return _database_failure(settings)
    if isinstance(exc, LoanchainError):
        return exc.message
    return None
