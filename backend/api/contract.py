"""The OpenAPI document as an integrator builds a client from it: every error in the one shape the app
sends (`ErrorPublic`, in place of FastAPI's default 422 schema, which the app never sends), the codes each
operation can answer, and who may call it. Worked out from the routes themselves (their guard from
`allow()`, their rate limits, their path), so a new route is documented by the rules it is built with."""

from __future__ import annotations

from typing import Any

from fastapi.routing import APIRoute, iter_route_contexts
from starlette.routing import BaseRoute

from backend.api.deps import ENDPOINT_ROLES, FRESH_SIGN_IN, PUBLIC, RATE_LIMITS, SIGNED_IN, EndpointAccess
from backend.api.errors import ErrorPublic

ERROR_REF = {"$ref": "#/components/schemas/ErrorPublic"}
WRITES = {"post", "put", "patch", "delete"}
# Public, yet they refuse a signed message or a refresh token with a 401 (siwe_*, refresh_reused, ...).
SIGN_IN_ENDPOINTS = {"auth.login", "auth.refresh"}
_FASTAPI_422 = ("HTTPValidationError", "ValidationError")


def _error(description: str, **extra: Any) -> dict:
    return {"description": description, "content": {"application/json": {"schema": ERROR_REF}}, **extra}


UNPROCESSABLE = _error("validation_failed (`fields` lists each refused field: in the body, the path or the query, "
                       "where an unknown query parameter is refused too) or a service's own refusal of the input")
UNAUTHORIZED = _error("Not signed in, or the access token (the sign-in message, the refresh token) is refused: "
                      "not_signed_in, token_invalid, token_expired, session_ended, fresh_sign_in_required, siwe_*, "
                      "refresh_reused")  # fmt: skip
FORBIDDEN = _error("role_required (the caller has none of the roles this needs), or forbidden: a rule refuses this "
                   "caller (someone else's record, one's own application)")  # fmt: skip
NOT_FOUND = _error("not_found: nothing by that id, or nothing the caller may see (never 403 for another's record)")
CONFLICT = _error("conflict: the state does not allow this now (already done, superseded, expired)")
KEYED_CONFLICT = _error("conflict: the state does not allow this now (already done, superseded, expired); "
                        "idempotency_key_reused: the Idempotency-Key came with another request of the caller's")
RETRIED = "A retry (the same Idempotency-Key and request): the record its first attempt made, as it is now; nothing written"
RATE_LIMITED = _error("rate_limited: too many requests from this client or wallet",
                      headers={"Retry-After": {"description": "Seconds until the window frees",
                                               "schema": {"type": "integer"}}})  # fmt: skip
OTHER = _error("Any other failure, in the same shape: 503 service_unavailable or chain_unavailable (a node or store "
               "not reachable), 500 internal_error")  # fmt: skip


def access_words(endpoint: str) -> str:
    """Who may call the endpoint, as ENDPOINT_ROLES and FRESH_SIGN_IN say, for the operation's description."""
    access = ENDPOINT_ROLES[endpoint]
    if access == PUBLIC:
        return "Access: anyone, signed in or not."
    roles = sorted(access) if access != SIGNED_IN else []
    who = ("any signed-in wallet" if not roles else f"the role {roles[0]}" if len(roles) == 1
           else f"one of the roles {', '.join(roles)}")  # fmt: skip
    fresh = (" It also needs a recent sign-in (LOANCHAIN_FRESH_SIGN_IN_MAX_AGE): an older session gets 401 "
             "fresh_sign_in_required.") if endpoint in FRESH_SIGN_IN else ""  # fmt: skip
    return f"Access: {who} (`Authorization: Bearer <access token>`).{fresh}"


def _guard_and_limits(route: Any) -> tuple[str | None, bool]:
    calls = [d.call for d in route.dependant.dependencies]
    guards = [c.endpoint for c in calls if isinstance(c, EndpointAccess)]
    return (guards[0] if guards else None), any(c in RATE_LIMITS for c in calls)


def error_responses(route: Any, method: str) -> dict[str, dict]:
    """The error responses one operation documents (its 2xx stay FastAPI's)."""
    endpoint, limited = _guard_and_limits(route)
    responses = {"422": UNPROCESSABLE}  # every operation: the app refuses unknown query parameters everywhere
    if endpoint is not None and ENDPOINT_ROLES[endpoint] != PUBLIC:
        responses |= {"401": UNAUTHORIZED, "403": FORBIDDEN}
    elif endpoint in SIGN_IN_ENDPOINTS:
        responses["401"] = UNAUTHORIZED
    if route.dependant.path_params:
        responses["404"] = NOT_FOUND
    if method in WRITES:
        responses["409"] = KEYED_CONFLICT if takes_idempotency_key(route) else CONFLICT
    if limited:
        responses["429"] = RATE_LIMITED
    responses["default"] = OTHER
    return responses


def takes_idempotency_key(route: Any) -> bool:
    """Does the operation read `Idempotency-Key` (backend/api/deps.py `Idempotent`, or the case log's own)?"""
    def headers(dependant: Any) -> set[str]:
        return {p.alias for p in dependant.header_params}.union(*map(headers, dependant.dependencies))
    return "Idempotency-Key" in headers(route.dependant)


def document_errors(schema: dict, routes: list[BaseRoute]) -> dict:
    """`schema` (FastAPI's, from these routes) with the errors and access rules added, in place."""
    by_operation = {(r.path_format, m.lower()): r for r in iter_route_contexts(routes)
                    if isinstance(r.original_route, APIRoute) and r.include_in_schema for m in r.methods}  # fmt: skip
    for path, operations in schema.get("paths", {}).items():
        for method, operation in operations.items():
            route = by_operation[(path, method)]
            responses = operation.setdefault("responses", {})
            for status, documented in error_responses(route, method).items():
                # a route's own description of a status (health's 503 report) stands
                responses[status] = {**documented, **responses.get(status, {})} if status != "422" else documented
            if takes_idempotency_key(route) and "201" in responses:  # a retry's answer, in the 201's shape
                responses.setdefault("200", {"description": RETRIED, "content": responses["201"].get("content", {})})
            if (endpoint := _guard_and_limits(route)[0]) is not None:
                operation["description"] = "\n\n".join(filter(None, [operation.get("description"), access_words(endpoint)]))
    components = schema.setdefault("components", {}).setdefault("schemas", {})
    for name in _FASTAPI_422:
        components.pop(name, None)
    error_schema = ErrorPublic.model_json_schema(ref_template="#/components/schemas/{model}")
    components.update(error_schema.pop("$defs", {}), ErrorPublic=error_schema)
    return schema
