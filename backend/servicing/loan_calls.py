"""LoanBook calls the servicing pass makes on the platform's behalf (cancel, disburse,
markDefault), queued in the outbox and recorded in the audit log.

The pass queues a call only once LoanBook, read at the latest block, would take it; yet a call can
still fail when the sender estimates it (another block, another wallet's transaction in between).
A failed call is tried again by a later pass, under a new key, while the contract still allows it,
at most `MAX_CALL_ATTEMPTS` times: queued once for good, a default a few seconds early would be
lost for ever, and with it the reserve's cover for the loan's investors."""

from __future__ import annotations

from typing import Any

from sqlalchemy import or_, select
from sqlalchemy.orm import Session

from backend import audit
from backend.chain.models import Intent, IntentStatus, key_prefixed
from backend.chain.outbox import enqueue_once
from backend.config import Settings

MAX_CALL_ATTEMPTS = 5


def call_attempts(db: Session, stem: str) -> list[Intent]:
    """The intents of one call, oldest first: `stem` itself, then `stem:2`, `stem:3`..."""
    mine = or_(Intent.key == stem, key_prefixed(f"{stem}:"))
    return list(db.scalars(select(Intent).where(mine).order_by(Intent.id)))


def last_statuses(db: Session, family: str, stems: set[str]) -> dict[str, str]:
    """The status of the latest attempt at each call of `stems` that has one, where every stem
    starts with `family`: one range read of the family's keys (a few per loan ever called), not a
    query per call."""
    latest = {}
    for key, status in db.execute(select(Intent.key, Intent.status).where(key_prefixed(family)).order_by(Intent.id)):
        stem = key if key in stems else key.rpartition(":")[0]
        if stem in stems:
            latest[stem] = status
    return latest


def queue_call(db: Session, settings: Settings, loan_id: int, function: str, stem: str, action: str,
               payload: dict[str, Any]) -> bool:  # fmt: skip
    """Queue `LoanBook.function(loan_id)` unless an attempt is open or went through, or the
    attempts are used up; True when queued (and audited) by this call. The caller has checked the
    contract would take it."""
    attempts = call_attempts(db, stem)
    if len(attempts) >= MAX_CALL_ATTEMPTS or any(a.status != IntentStatus.FAILED for a in attempts):
        return False
    key = f"{stem}:{len(attempts) + 1}" if attempts else stem
    if not enqueue_once(db, key=key, contract="LoanBook", function=function, args=[loan_id], settings=settings):
        return False  # another pass overlapping this one queued it first: its audit entry stands for the call
    after = {"after_failed": [a.error_name or a.error for a in attempts]} if attempts else {}
    audit.record(db, actor="servicing", action=action, subject=f"loan:{loan_id}", payload=payload | after)
    return True
