"""The identity domain's entries in the tamper-evident audit log.

Payloads carry ids, wallets, statuses and reason codes only: never names, ID numbers or notes.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy.orm import Session


def audit(session: Session, actor: str, action: str, subject: str, payload: dict[str, Any]) -> None:
    from backend.audit import record

    record(session, actor=actor, action=action, subject=subject, payload=payload)
