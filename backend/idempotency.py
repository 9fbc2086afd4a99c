"""Retried requests answered as the first one was. A client that lost an answer (a timeout, a
dropped connection) sends its request again; a request that creates a record then finds the record
its first attempt made and answers with it, writing nothing, instead of a second record, a second
transaction paid for in gas, or a 409 that reads as someone else's doing. Which requests do so, and
how they recognise a repeat (an `Idempotency-Key` header, or the same content), is in the README
(*Retries*)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Generic, TypeVar

from backend.errors import Conflict

T = TypeVar("T")


@dataclass(frozen=True)
class Recorded(Generic[T]):
    """What a create-or-repeat call answers: `value`, and whether this call wrote it (`created`) or
    found what an earlier identical request wrote (a retry: nothing written)."""

    value: T
    created: bool


class IdempotencyKeyReused(Conflict):
    """409: the `Idempotency-Key` named an earlier request of the caller with other content."""

    code = "idempotency_key_reused"
