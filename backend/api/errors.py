"""Maps the loanchain exception root to HTTP in one place."""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, Field
from starlette.datastructures import Headers
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from backend.errors import LoanchainError, RateLimited

TOO_LARGE = "the request body is larger than this endpoint accepts (LOANCHAIN_MAX_BODY_BYTES, 64 KiB by default, for most)"
UNEXPECTED = "the server failed on this request (the failure is logged); try again later, or report it if it persists"
HTTP_CODES = {404: "not_found", 405: "method_not_allowed", 413: "content_too_large"}
_WORDS = {
    404: "nothing at this path: the API's paths are listed at /docs",
    405: "this path does not take that method: see /docs",
    413: TOO_LARGE,
}


class FieldErrorPublic(BaseModel):
    """One refused field, as FastAPI reports it (never the value sent)."""

    model_config = ConfigDict(extra="forbid")

    loc: list[str | int] = Field(description="Where: body, query, path or header, then the field's name (and index)")
    msg: str = Field(description="Why, in words")
    type: str = Field(description="A code for why (missing, int_parsing, validation_failed, ...)")


class ErrorPublic(BaseModel):
    """Every refusal and failure (4xx, 5xx) in one shape."""

    model_config = ConfigDict(extra="forbid")

    error: str = Field(description="A code to branch on: validation_failed, not_signed_in, token_invalid, "
                       "session_ended, fresh_sign_in_required, role_required, forbidden, not_found, conflict, "
                       "rate_limited, service_unavailable, internal_error, ...")  # fmt: skip
    detail: str = Field(description="What went wrong and what to do, in words")
    context: dict[str, Any] | None = Field(default=None, description="Facts behind the refusal (the field, an id, "
                                           "`retry_after` seconds on a 429)")  # fmt: skip
    fields: list[FieldErrorPublic] | None = Field(default=None, description="422: each refused field")


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
    def _loanchain_error(request: Request, exc: LoanchainError) -> JSONResponse:
        status = exc.status_code if 400 <= exc.status_code < 600 else 500
        content = {"error": exc.code, "detail": exc.message, **({"context": _jsonable(exc.details)} if exc.details else {})}
        if status == 422 and isinstance(field := exc.details.get("field"), str):
            content["fields"] = [_service_field(request, field, exc)]
        return JSONResponse(
            status_code=status,
            content=content,
            headers={"Retry-After": str(exc.retry_after)} if isinstance(exc, RateLimited) else None,
        )

    @app.exception_handler(StarletteHTTPException)
    def _http_error(_request: Request, exc: StarletteHTTPException) -> JSONResponse:
        # Starlette's own refusals (no such route, a method the route lacks, a body over the bound)
        # in the app's shape, not {"detail": "Not Found"} nor plain text.
        code = HTTP_CODES.get(exc.status_code, f"http_{exc.status_code}")
        detail = exc.detail if isinstance(exc.detail, str) else str(exc.detail)
        return JSONResponse(status_code=exc.status_code, content={"error": code, "detail": _WORDS.get(exc.status_code, detail)},
                            headers=getattr(exc, "headers", None))  # fmt: skip

    @app.exception_handler(RequestValidationError)
    def _validation_error(_request: Request, exc: RequestValidationError) -> JSONResponse:
        # FastAPI's default echoes each rejected value back ("input"); for KYC fields that is
        # personal data in a response and in any log that records responses. Say where and why only:
        # in words in `detail`, as every other refusal does, and field by field in `fields`.
        fields = _once([{"loc": list(e.get("loc", ())), "msg": e.get("msg", ""), "type": e.get("type", "")} for e in exc.errors()])
        words = "; ".join(f"{name}: {f['msg']}" if (name := _field_name(f)) else f["msg"] for f in fields)
        return JSONResponse(status_code=422, content={"error": "validation_failed", "detail": words, "fields": fields})

    @app.exception_handler(Exception)
    def _unexpected(_request: Request, _exc: Exception) -> JSONResponse:
        # A bug, in the app's shape rather than plain text. Starlette raises the exception again once
        # this has answered, so the server logs its traceback as it did without this handler.
        return JSONResponse(status_code=500, content={"error": "internal_error", "detail": UNEXPECTED})


def _service_field(request: Request, field: str, exc: LoanchainError) -> dict:
    """A service's refusal of one field, listed as FastAPI lists its own (a form client maps `fields`
    onto its inputs whichever layer refused): where it came from is where the request carries it."""
    where = "path" if field in request.path_params else "query" if field in request.query_params else "body"
    return {"loc": [where, *field.split(".")], "msg": exc.message.removeprefix(f"{field}: "), "type": exc.code}


def _once(fields: list[dict]) -> list[dict]:
    """A body a dependency declares as well (the hourly limits take the route's body) is validated
    twice, and FastAPI lists each error twice: each is said once."""
    seen: set[tuple] = set()
    unique = []
    for field in fields:
        key = (tuple(field["loc"]), field["msg"], field["type"])
        if key not in seen:
            seen.add(key)
            unique.append(field)
    return unique


def _field_name(field: dict) -> str:
    """`["body", "amount"]` -> "amount", `["body", "items", 2, "cid"]` -> "items.2.cid": where
    the value was (body, query, path, header) goes without saying; malformed JSON has no field
    (its `loc` holds the character position)."""
    if field["type"] == "json_invalid":
        return ""
    return ".".join(str(part) for part in field["loc"][1:] if part != "body")


class JsonTooLarge:
    """Starlette answers a body over the bound (when Content-Length says so) with its own plain-text
    413, whatever the app's handlers say; this outermost layer puts it in the app's error shape."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        replacing = False

        async def send_json(message: Message) -> None:
            nonlocal replacing
            if message["type"] == "http.response.start" and message["status"] == 413:
                replacing = Headers(raw=message["headers"]).get("content-type", "").startswith("text/plain")
            if not replacing:
                await send(message)
            elif message["type"] == "http.response.body" and not message.get("more_body"):
                await JSONResponse(status_code=413, content={"error": "content_too_large", "detail": TOO_LARGE})(scope, receive, send)

        await self.app(scope, receive, send_json)
