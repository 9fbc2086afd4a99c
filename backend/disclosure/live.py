"""The live disclosure and loan tape, computed once for each state of what they read.

`GET /api/v1/disclosure` and `GET /api/v1/disclosure/loans.csv` are public and recompute every
figure or row from the index: over a second of one core at 10,000 loans (`loanchain bench
disclosure`). The figures change only when the index
moves (a new block), a servicing pass stores where the loans stand or gives a notice (the roll
rates), or the minute turns (orders expire on the wall clock), so each API process keeps the last
answer per database with the state it was read at, and reads that state first: a few indexed
lookups. A stale answer is never served: any of those changes computes it again. The whole-book
risk that every portfolio and market read prices with (`live_book_risk`) is kept the same way."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import Any, TypeVar

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from backend.chain.indexer import CHECKPOINT
from backend.chain.models import IndexerCheckpoint
from backend.config import Settings
from backend.disclosure import tape
from backend.disclosure.reserve import BookRisk, book_risk
from backend.disclosure.schemas import DisclosurePublic
from backend.disclosure.service import platform_disclosure
from backend.servicing.models import ServicingNotice, ServicingState

T = TypeVar("T")
_lock = threading.Lock()
_last: dict[tuple[str, str], tuple[tuple, Any]] = {}  # (database URL, what) -> (state, answer)
_computing: dict[tuple[str, str], threading.Lock] = {}  # one computation per key at a time


def _state(session: Session) -> tuple:
    checkpoint = session.get(IndexerCheckpoint, CHECKPOINT)
    serviced = session.execute(select(func.max(ServicingState.updated_at), func.count()).select_from(ServicingState)).one()
    return (checkpoint.block_number if checkpoint else None, checkpoint.block_hash if checkpoint else None,
            *serviced, session.scalar(select(func.max(ServicingNotice.id))), int(time.time()) // 60)  # fmt: skip


def _answer(session: Session, what: str, compute: Callable[[Session], T]) -> T:
    key, state = (str(session.get_bind().url), what), _state(session)
    with _lock:
        last, computing = _last.get(key), _computing.setdefault(key, threading.Lock())
    if last is not None and last[0] == state:
        return last[1]
    # A new block makes every reader miss at once: one computes (a second or more at 10,000 loans)
    # while the others wait for its answer instead of each computing the same one beside it.
    with computing:
        with _lock:
            last = _last.get(key)
        if last is not None and last[0] == state:
            return last[1]
        answer = compute(session)
        with _lock:
            _last[key] = (state, answer)
    return answer


def live_disclosure(session: Session, settings: Settings) -> DisclosurePublic:
    """`platform_disclosure` as the index and the last servicing pass stand now (the reserve's
    balance asked of the chain at the index's block, which is part of the state)."""
    return _answer(session, "disclosure", lambda s: platform_disclosure(s, settings))


def live_tape_csv(session: Session) -> str:
    """The loan tape as CSV, as the index and the last servicing pass stand now."""
    return _answer(session, "tape", lambda s: tape.tape_csv(tape.loan_tape(s)))


def live_book_risk(session: Session) -> BookRisk:
    """`book_risk` as the index and the last servicing pass stand now: every `GET /portfolio`,
    `/market` and quote prices with it, and recomputing it re-reads the book and re-hashes every
    active loan's decision (over a second at 10,000 loans), so it is computed once per state, its
    decisions re-checked then, not per request. Callers only read it: it is shared."""
    return _answer(session, "book_risk", book_risk)
