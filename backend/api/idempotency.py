"""The HTTP side of retried requests (backend/idempotency.py): the `Idempotency-Key` header, and
201 for a record a request made against 200 for the one its earlier attempt made."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Annotated, Any, TypeVar

from fastapi import Header, Request, Response
from sqlalchemy.orm import Session

from backend import idempotency_keys
from backend.config import Settings
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


async def request_fingerprint(request: Request) -> str:
    """The hash of what the request asks (`idempotency_keys.fingerprint`). Async only to read the body,
    which FastAPI has already read into memory: nothing here waits on the network or the database."""
    return idempotency_keys.fingerprint(request.method, request.url.path, await request.body())


@dataclass
class IdempotentRequest:
    """A create request, with its caller's `Idempotency-Key` if it sent one (`key` None: every such
    request makes a record). The key is looked up when first asked about (`is_retry`, by a rate limit
    that spends nothing on a retry) and claimed when the handler makes its record (`answer`): after the
    rate limits have counted, which write in transactions of their own."""

    db: Session
    settings: Settings
    principal: str
    key: str | None
    route: str
    request_hash: str
    _earlier: idempotency_keys.IdempotencyKeyRow | None = field(default=None, init=False)
    _looked_up: bool = field(default=False, init=False)

    def is_retry(self) -> bool:
        """Did an earlier attempt with this key make its record? (409 if the key came with another request.)"""
        if self.key is None:
            return False
        if not self._looked_up:
            self._earlier, self._looked_up = idempotency_keys.earlier(self.db, self.settings, self.principal, self.key,
                                                                      self.route, self.request_hash), True  # fmt: skip
        return self._earlier is not None and self._earlier.record_id is not None

    def answer(self, response: Response, make: Callable[[], T], read: Callable[[str], T]) -> T:
        """`make()`'s record (201), kept under the key, or, for a retry, the record its first attempt made
        as `read(id)` shows it now (200, nothing written). The record's id is `made.id`."""
        self.is_retry()  # the lookup, if no rate limit made it
        held = (None if self.key is None else
                idempotency_keys.claim(self.db, self.principal, self.key, self.route, self.request_hash))  # fmt: skip
        recorded: Recorded[Any] = idempotency_keys.once(self.db, held, make, read, lambda made: made.id)
        return answered(recorded, response)
