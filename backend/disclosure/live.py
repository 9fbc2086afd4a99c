"""The live disclosure, computed once for each state of what it reads.

`GET /api/v1/disclosure` is public and recomputes every figure from the index: about a second of
one core at 10,000 loans (`loanchain bench disclosure`). The figures change only when the index
moves (a new block), a servicing pass stores where the loans stand or gives a notice (the roll
rates), or the minute turns (orders expire on the wall clock), so each API process keeps the last
figures per database with the state they were read at, and reads that state first: a few indexed
lookups. A stale answer is never served: any of those changes computes the figures again."""

from __future__ import annotations

import threading
import time

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from backend.chain.indexer import CHECKPOINT
from backend.chain.models import IndexerCheckpoint
from backend.disclosure.schemas import DisclosurePublic
from backend.disclosure.service import platform_disclosure
from backend.servicing.models import ServicingNotice, ServicingState

_lock = threading.Lock()
_last: dict[str, tuple[tuple, DisclosurePublic]] = {}  # database URL -> (state, figures)


def _state(session: Session) -> tuple:
    checkpoint = session.get(IndexerCheckpoint, CHECKPOINT)
    serviced = session.execute(select(func.max(ServicingState.updated_at), func.count()).select_from(ServicingState)).one()
    return (checkpoint.block_number if checkpoint else None, checkpoint.block_hash if checkpoint else None,
            *serviced, session.scalar(select(func.max(ServicingNotice.id))), int(time.time()) // 60)  # fmt: skip


def live_disclosure(session: Session) -> DisclosurePublic:
    """`platform_disclosure` as the index and the last servicing pass stand now."""
    database, state = str(session.get_bind().url), _state(session)
    with _lock:
        last = _last.get(database)
    if last is not None and last[0] == state:
        return last[1]
    figures = platform_disclosure(session)
    with _lock:
        _last[database] = (state, figures)
    return figures
