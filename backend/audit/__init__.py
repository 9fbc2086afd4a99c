"""The tamper-evident audit log: `record(session, actor, action, subject, payload)` appends."""

from backend.audit.log import deferred, record

__all__ = ["deferred", "record"]
