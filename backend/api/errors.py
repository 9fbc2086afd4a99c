"""Maps the loanchain exception root to HTTP in one place."""

from __future__ import annotations

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse

from backend.errors import LoanchainError


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
        )
