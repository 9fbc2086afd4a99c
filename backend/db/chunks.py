"""Bounded `IN (...)` lists. A literal list binds one parameter per item, and the databases cap
them: SQLite at 32,766 a statement, PostgreSQL's protocol at 65,535. A read that puts every loan,
wallet or alert of the book in one list fails outright once the book passes that, so reads of
lists that grow with the book either say it as a join or subquery, or go `chunks` at a time."""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from typing import TypeVar

T = TypeVar("T")

CHUNK = 500  # parameters a statement: far under either cap, with room for the query's own


def chunks(values: Iterable[T], size: int = CHUNK) -> Iterator[list[T]]:
    """`values` without repeats, sorted (one order, so the same reads run the same statements),
    `size` at a time; nothing for no values, so a caller's loop runs no query for an empty list."""
    ordered = sorted(set(values))
    for start in range(0, len(ordered), size):
        yield ordered[start : start + size]
