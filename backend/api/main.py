"""The FastAPI application. Routes are thin: they translate HTTP to service calls."""

from __future__ import annotations

from typing import Any

from fastapi import Depends, FastAPI
from fastapi.routing import APIRoute
from starlette.types import ASGIApp

from backend.api.cache_headers import NoStoreOnApi
from backend.api.contract import document_errors
from backend.api.deps import refuse_control_characters, refuse_unknown_query_parameters
from backend.api.docs import mount_docs
from backend.api.errors import JsonTooLarge, install_error_handlers
from backend.api.routes import (
    admin,
    audit,
    auth,
    chain,
    disclosure,
    health,
    kyc,
    loans,
    market,
    offers,
    portfolio,
    score,
    servicing,
    verify,
)
from backend.api.web import mount_web
from backend.config import Settings, get_settings
from backend.workers.lifespan import worker_lifespan


class LoanchainAPI(FastAPI):
    def build_middleware_stack(self) -> ASGIApp:
        # Outside FastAPI's body limit, whose 413 no exception handler reaches.
        return NoStoreOnApi(JsonTooLarge(super().build_middleware_stack()))  # no-store outermost: on a 500 too

    def openapi(self) -> dict[str, Any]:
        if self.openapi_schema is None:
            self.openapi_schema = document_errors(super().openapi(), self.routes)
        return self.openapi_schema


def operation_id(route: APIRoute) -> str:
    """The route's function name (unique across the app): generated clients name their methods after
    it, so it stays put when a path or prefix moves, unlike FastAPI's name_path_method default."""
    return route.name


def create_app(settings: Settings | None = None) -> FastAPI:
    """The app; `settings` (the environment's when omitted) fixes only its body-size bound, which
    FastAPI enforces before any route, a route's own larger bound taking precedence, and where
    Swagger UI's files are (node_modules)."""
    settings = settings or get_settings()
    app = LoanchainAPI(
        title="loanchain",
        version="0.1.0",
        description="Blockchain-anchored peer-to-peer lending: agreements and money on-chain, "
        "KYC, scoring and anchoring in this API.",
        lifespan=worker_lifespan,
        max_body_size=settings.max_body_bytes,
        docs_url=None,  # served by mount_docs from node_modules, not a CDN
        redoc_url=None,
        dependencies=[Depends(refuse_control_characters), Depends(refuse_unknown_query_parameters)],
        generate_unique_id_function=operation_id,
    )
    install_error_handlers(app)
    for router in (health.router, auth.router, kyc.router, admin.router, verify.router, audit.router, score.router,
                   disclosure.router, offers.router, loans.router, servicing.router, chain.router,
                   portfolio.router, market.router):  # fmt: skip
        app.include_router(router)
    mount_docs(app, settings.node_modules)
    mount_web(app)
    return app


app = create_app()
