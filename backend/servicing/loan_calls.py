"""LoanBook calls the servicing pass makes on the platform's behalf (cancel, disburse,
markDefault): each queued in the outbox once, under its key, and recorded in the audit log."""

from __future__ import annotations

from typing import Any

from sqlalchemy.orm import Session

from backend import audit
from backend.chain.outbox import enqueue, get_intent
from backend.config import Settings


def queue_once(db: Session, settings: Settings, loan_id: int, function: str, key: str, action: str,
               payload: dict[str, Any]) -> bool:  # fmt: skip
    """Queue `LoanBook.function(loan_id)` unless an intent under `key` exists; True when queued."""
    if get_intent(db, key) is not None:
        return False
    enqueue(db, key=key, contract="LoanBook", function=function, args=[loan_id], settings=settings)
    audit.record(db, actor="servicing", action=action, subject=f"loan:{loan_id}", payload=payload)
    return True
