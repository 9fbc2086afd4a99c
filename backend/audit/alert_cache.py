"""The alerts the API serves, raised once for the reads that come close together.

The rules are recomputed from the whole history (`monitoring.py`), seconds of CPU on a large book,
and the staff page asks for every page of them on each refresh, from every open tab. Those reads
share one computation, in this process, while what the rules read has not visibly changed and for
at most `monitoring_alerts_cache_seconds`:

- visibly changed: the index's checkpoint moved (a range indexed, a reorg, a rebuild), or a row of
  the other tables the rules read was added, erased or decided (`_inputs`): the next read raises
  the alerts anew, so a new chain event, notice, promise, application or KYC decision shows at once;
- not seen by that fingerprint (a link between two records revoked, a KYC record's expiry passing),
  a change shows within the cache's seconds.

Reviews are not cached: each read joins the reviews as they stand. A review looks its alert up
in a fresh computation (`review_alert`), never here.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from backend.audit.schemas import AlertPublic
from backend.chain.models import IndexerCheckpoint
from backend.config import Settings
from backend.identity.models import KycOrigin, KycPersonLink, KycRecord
from backend.scoring.models import CreditDecision
from backend.servicing.models import CollectionAction, ServicingNotice


@dataclass(frozen=True)
class _Raised:
    inputs: tuple
    at: float
    alerts: tuple[AlertPublic, ...]


_lock = threading.Lock()
_raised: dict[tuple, _Raised] = {}


def raised(db: Session, settings: Settings, rule: str | None,
           compute: Callable[[], list[AlertPublic]]) -> list[AlertPublic]:  # fmt: skip
    """`compute()`'s alerts, or those of a computation made for the same rule, settings and
    inputs within the cache's seconds; copies, so a read's reviews stay its own."""
    ttl = settings.monitoring_alerts_cache_seconds
    if ttl <= 0:
        return compute()
    key = (settings.database_url, rule, _monitoring_settings(settings))
    # One computation at a time: reads arriving meanwhile wait for it and share it, not repeat it.
    with _lock:
        inputs, now = _inputs(db), time.monotonic()
        kept = _raised.get(key)
        if kept is None or kept.inputs != inputs or now - kept.at > ttl:
            kept = _raised[key] = _Raised(inputs, now, tuple(compute()))
    return [alert.model_copy() for alert in kept.alerts]


def forget() -> None:
    """Drop every kept computation (tests; an operator's `POST` that must see its own change)."""
    with _lock:
        _raised.clear()


def _monitoring_settings(settings: Settings) -> tuple:
    return tuple(sorted((name, repr(value)) for name, value in settings.model_dump().items()
                        if name.startswith("monitoring_")))  # fmt: skip


def _inputs(db: Session) -> tuple:
    """What the rules read, as one row: the index's checkpoints, and per other table how many rows
    it holds and its newest id, or, where ids are UUIDs, its newest times and how many rows still
    name a wallet (an erasure clears it in place)."""
    checkpoints = tuple(db.execute(select(IndexerCheckpoint.name, IndexerCheckpoint.block_number,
                                          IndexerCheckpoint.block_hash, IndexerCheckpoint.reorgs)
                                   .order_by(IndexerCheckpoint.name)))  # fmt: skip
    parts = [
        *(q for table in (KycOrigin, ServicingNotice, CollectionAction, KycPersonLink)
          for q in (select(func.count()).select_from(table), select(func.max(table.id)))),
        select(func.max(KycPersonLink.confirmed_at)),
        select(func.count()).select_from(KycRecord), select(func.max(KycRecord.decided_at)),
        select(func.max(KycRecord.erased_at)), select(func.max(KycRecord.submitted_at)),
        select(func.count()).select_from(CreditDecision), select(func.count(CreditDecision.wallet)),
        select(func.max(CreditDecision.created_at)), select(func.max(CreditDecision.reviewed_at)),
    ]  # fmt: skip
    return checkpoints, tuple(db.execute(select(*(part.scalar_subquery() for part in parts))).one())
