"""Maps the loanchain exception root to HTTP in one place."""

from __future__ import annotations

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse

from backend.errors import LoanchainError, RateLimited


def _jsonable(value):
    if isinstance(value, dict):
        return {k: _jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_jsonable(v) for v in value]
    if isinstance(value, (str, int, float, bool)) or value is None:
        return value
    return str(value)


def install_error_handlers(app: FastAPI) -> None:
    @app.exception_handler(LoanchainError)
    def _loanchain_error(_request: Request, exc: LoanchainError) -> JSONResponse:
        status = exc.status_code if 400 <= exc.status_code < 600 else 500
        return JSONResponse(
            status_code=status,
            content={"error": exc.code, "detail": exc.message, **({"context": _jsonable(exc.details)} if exc.details else {})},
            headers={"Retry-After": str(exc.retry_after)} if isinstance(exc, RateLimited) else None,
        )

    @app.exception_handler(RequestValidationError)
    def _validation_error(_request: Request, exc: RequestValidationError) -> JSONResponse:
        # FastAPI's default echoes each rejected value back ("input"); for KYC fields that is
        # personal data in a response and in any log that records responses. Say where and why only.
        errors = [{"loc": list(e.get("loc", ())), "msg": e.get("msg", ""), "type": e.get("type", "")} for e in exc.errors()]
        return JSONResponse(status_code=422, content={"error": "validation_failed", "detail": errors})
