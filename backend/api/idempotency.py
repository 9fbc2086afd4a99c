"""The HTTP side of retried requests (backend/idempotency.py): the `Idempotency-Key` header, and
201 for a record a request made against 200 for the one its earlier attempt made."""

from __future__ import annotations

from typing import Annotated, TypeVar

from fastapi import Header, Response

from backend.idempotency import Recorded

T = TypeVar("T")

IdempotencyKey = Annotated[
    str | None,
    Header(
        alias="Idempotency-Key",
        min_length=1,
        max_length=128,
        pattern=r"^[\x21-\x7e]+$",  # visible ASCII, as a UUID or any token a client makes
        description="Optional: one value per request the client means (a UUID). Sent again with the same body, "
        "the request is answered with what the first one recorded (200), nothing written again; with another "
        "body, 409 idempotency_key_reused. Keys are the caller's own: another wallet's are never matched.",
    ),
]


def answered(recorded: Recorded[T], response: Response) -> T:
    """`recorded`'s value, 201 when this request made it and 200 when an earlier one did."""
    response.status_code = 201 if recorded.created else 200
    return recorded.value
