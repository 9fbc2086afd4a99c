"""What the CLI says when its surroundings fail rather than the command: the chain node or the
database cannot be reached, the database is behind this release, or its server failed the
operation (OperationalError, InterfaceError). An operator gets one line naming the part and what
to do, not two hundred lines of traceback through requests or SQLAlchemy. `LOANCHAIN_DEBUG=1`
keeps the traceback. A bug is still a traceback: only these are translated, so an IntegrityError
or ProgrammingError on a database at head is shown whole."""

from __future__ import annotations

from backend.chain.client import NODE_UNREACHABLE
from backend.config import Settings
from backend.db.migrate import explain_failure, where
from backend.errors import LoanchainError


def explain(exc: BaseException, settings: Settings) -> str | None:
    """One line for a failure of the command's surroundings, or None for anything else."""
    if isinstance(exc, NODE_UNREACHABLE):
        return (f"cannot reach the chain node at {where(settings.rpc_url)}; start a local one with "
                "`make run` or `loanchain chain up`, or set RPC_URL")
    if isinstance(exc, LoanchainError):
        return exc.message
    return explain_failure(exc, settings)
