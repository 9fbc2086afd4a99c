"""`Cache-Control: no-store` on every API response: many carry personal data (a KYC record, an
admin's reveal, statements, referrals with declared finances), and a browser's disk cache or a
shared proxy must keep none of them (privacy review L6). The web page's static files are outside
/api/v1 and keep the usual caching.

Plain ASGI rather than Starlette's BaseHTTPMiddleware, so streamed downloads (CSV) pass through
untouched; main.py wraps the whole stack in it, so a 500 from the outermost error middleware and a
413 say it too. A route that sets its own Cache-Control (a deliberate choice for public data)
keeps it."""

from __future__ import annotations

from starlette.datastructures import MutableHeaders
from starlette.types import ASGIApp, Message, Receive, Scope, Send

API_PREFIX = "/api/v1"
NO_STORE = "no-store"


class NoStoreOnApi:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        path = scope.get("path", "") if scope["type"] == "http" else ""
        if not (path == API_PREFIX or path.startswith(API_PREFIX + "/")):
            await self.app(scope, receive, send)
            return

        async def send_no_store(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = MutableHeaders(scope=message)
                if "cache-control" not in headers:
                    headers["Cache-Control"] = NO_STORE
            await send(message)

        await self.app(scope, receive, send_no_store)
