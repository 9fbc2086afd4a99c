"""Counting the SQL statements a read or a pass issues: how the tests show a cost does not grow
with the book."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from sqlalchemy import event
from sqlalchemy.orm import Session


@contextmanager
def statements(session: Session) -> Iterator[list[tuple[str, Any]]]:
    """The statements `session`'s engine runs inside the block, as they were sent, with their parameters."""
    sent: list[tuple[str, Any]] = []
    engine = session.get_bind()

    def count(conn, cursor, statement, parameters, context, executemany):
        sent.append((statement, parameters))

    event.listen(engine, "before_cursor_execute", count)
    try:
        yield sent
    finally:
        event.remove(engine, "before_cursor_execute", count)
