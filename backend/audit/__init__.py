"""The tamper-evident audit log: `record(session, actor, action, subject, payload)` appends."""

from backend.audit.log import record

__all__ = ["record"]
