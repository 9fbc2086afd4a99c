"""An erasure the AML period holds off is accepted, not done: 202 with the schedule."""

from __future__ import annotations

from fastapi.encoders import jsonable_encoder
from fastapi.responses import JSONResponse

from backend.identity.schemas import ErasurePublic, ErasureScheduledPublic

SCHEDULED_RESPONSE = {202: {"model": ErasureScheduledPublic, "description": "Scheduled: the AML record-keeping period "
                            "after the business relationship keeps the data until `erase_after`; erased then, "
                            "automatically, and meanwhile its processing is restricted"}}  # fmt: skip


def erased_or_scheduled(result: ErasurePublic | ErasureScheduledPublic) -> ErasurePublic | JSONResponse:
    if isinstance(result, ErasureScheduledPublic):
        return JSONResponse(status_code=202, content=jsonable_encoder(result))
    return result
