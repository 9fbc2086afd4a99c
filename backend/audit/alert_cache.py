"""The alerts the API serves, raised once for the reads that come close together.

The rules are recomputed from the whole history (`monitoring.py`), seconds of CPU on a large book,
and the staff page asks for every page of them on each refresh, from every open tab. Those reads
share one computation, in this process, while what the rules read has not visibly changed and for
at most `monitoring_alerts_cache_seconds`:

- visibly changed: the index gained or lost an event (a range indexed, a reorg, a rebuild), or a
  row of the other tables the rules read was added, erased or decided (`_inputs`);
- not seen by that fingerprint (a link between two records revoked, a KYC record's expiry passing),
  a change is seen once the cache's seconds have passed.

Then one thread raises them anew, for every read that asks meanwhile. A read waits for it up to
`WAIT_SECONDS`: on a small book it gets the new answer, a new chain event, notice, promise,
application or KYC decision seen at once; on a large one it is served the last answer until the
new one is made, rather than each read waiting the rules' seconds (and, before, computing them
again for every page and tab).

Reviews are not cached: each read joins the reviews as they stand.
"""

from __future__ import annotations

import hashlib
import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from backend.audit.schemas import AlertPublic
from backend.chain.models import ChainEvent
from backend.config import Settings
from backend.db.session import session_scope
from backend.identity.models import KycOrigin, KycPersonLink, KycRecord
from backend.scoring.models import CreditDecision, FairLendingCheck
from backend.servicing.models import CollectionAction, ServicingNotice

# How long a read waits for a computation it started before it is served the one before: a small
# book's rules take a fraction of it, so its reads see new records at once; a large book's
# (seconds: `loanchain bench alerts`) are served the last answer meanwhile, not kept waiting.
WAIT_SECONDS = 1.0

log = logging.getLogger("loanchain.monitoring")


@dataclass(frozen=True)
class _Raised:
    inputs: tuple
    at: float
    alerts: tuple[AlertPublic, ...]


@dataclass
class _Refresh:
    done: threading.Event = field(default_factory=threading.Event)
    error: Exception | None = None


_lock = threading.Lock()
_raised: dict[tuple, _Raised] = {}
_refreshing: dict[tuple, _Refresh] = {}


def raised(db: Session, settings: Settings, rule: str | None,
           compute: Callable[[Session], list[AlertPublic]]) -> list[AlertPublic]:  # fmt: skip
    """The alerts `compute(session)` raises for `rule`, as a computation for the same rule and
    settings made on the same inputs within the cache's seconds left them; else those of a new one,
    made by one thread for every read that asks meanwhile. A read waits for it up to `WAIT_SECONDS`
    (with nothing kept yet, to the end), then is served the newest kept: the shared alerts
    themselves, which callers copy before they change one (`monitoring._reviewed` copies its page)."""
    ttl = settings.monitoring_alerts_cache_seconds
    if ttl <= 0:
        return compute(db)
    key, inputs = (rule, _settings_key(settings)), _inputs(db)
    with _lock:
        kept = _raised.get(key)
        if kept is not None and kept.inputs == inputs and time.monotonic() - kept.at <= ttl:
            return list(kept.alerts)
        refresh = _refreshing.get(key)
        if refresh is None:
            refresh = _refreshing[key] = _Refresh()
            threading.Thread(target=_refresh, args=(settings, key, compute, refresh), name="alerts-refresh",
                             daemon=True).start()  # fmt: skip
    refresh.done.wait(None if kept is None else WAIT_SECONDS)
    with _lock:
        kept = _raised.get(key)
    if kept is None:  # the first computation failed: this read fails as it would have alone
        raise refresh.error or RuntimeError("the monitoring rules could not be computed")
    return list(kept.alerts)


def _refresh(settings: Settings, key: tuple, compute: Callable[[Session], list[AlertPublic]],
             refresh: _Refresh) -> None:  # fmt: skip
    try:
        with session_scope(settings) as session:
            inputs = _inputs(session)  # before the rules read: a change in between raises them again next read
            found = tuple(compute(session))
            session.rollback()  # the rules write nothing; nothing of theirs is committed
        with _lock:
            _raised[key] = _Raised(inputs, time.monotonic(), found)
    except Exception as error:  # kept for the reads waiting on it; the next read tries again
        log.exception("monitoring alerts could not be computed")
        refresh.error = error
    finally:
        with _lock:
            _refreshing.pop(key, None)
        refresh.done.set()


def forget() -> None:
    """Drop every kept computation (tests)."""
    with _lock:
        _raised.clear()


def _settings_key(settings: Settings) -> str:
    """All of the settings, not only the rules' thresholds: the database, the deployment whose roles
    `role_change` compares against (hashed into a short key)."""
    return hashlib.sha256(repr(sorted(settings.model_dump().items(), key=lambda kv: kv[0])).encode()).hexdigest()


def _inputs(db: Session) -> tuple:
    """What the rules read, as one row: per table how many rows it holds and its newest id, or, where
    ids are UUIDs, its newest times and how many rows still name a wallet (an erasure clears it in
    place). The index by its events, not its checkpoint: every projection the rules read is folded
    from them, and the checkpoint moves with every block of a live chain, events or not; a reorg
    or a rebuild removes events or adds new ids."""
    parts = [
        *(q for table in (ChainEvent, KycOrigin, ServicingNotice, CollectionAction, KycPersonLink)
          for q in (select(func.count()).select_from(table), select(func.max(table.id)))),
        select(func.max(KycPersonLink.confirmed_at)),
        select(func.count()).select_from(KycRecord), select(func.max(KycRecord.decided_at)),
        select(func.max(KycRecord.erased_at)), select(func.max(KycRecord.submitted_at)),
        select(func.count()).select_from(CreditDecision), select(func.count(CreditDecision.wallet)),
        select(func.max(CreditDecision.created_at)), select(func.max(CreditDecision.reviewed_at)),
        select(func.max(FairLendingCheck.id)),
    ]  # fmt: skip
    return tuple(db.execute(select(*(part.scalar_subquery() for part in parts))).one())
