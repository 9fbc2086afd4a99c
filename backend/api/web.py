"""Serving the browser front end: static files at /app (no build step), / redirecting there, and
headers that keep the page to its own origin. The page calls only this API and the wallet the
browser injects, so a strict Content-Security-Policy costs it nothing and shuts out injected
scripts, framing (clickjacking a signature prompt) and leaking URLs through the Referer."""

from __future__ import annotations

from pathlib import Path

from fastapi import FastAPI
from fastapi.responses import RedirectResponse
from fastapi.staticfiles import StaticFiles
from starlette.datastructures import MutableHeaders
from starlette.types import ASGIApp, Message, Receive, Scope, Send

WEB_DIR = Path(__file__).resolve().parent.parent / "web" / "static"
SECURITY_HEADERS = {
    "Content-Security-Policy": (
        "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; "
        "frame-ancestors 'none'; base-uri 'none'; form-action 'self'"
    ),
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "no-referrer",
}


def mount_web(app: FastAPI) -> None:
    app.mount("/app", StaticFiles(directory=WEB_DIR, html=True), name="web")
    app.add_api_route("/", lambda: RedirectResponse("/app/"), include_in_schema=False)

    app.add_middleware(WebSecurityHeaders)


class WebSecurityHeaders:
    """Adds SECURITY_HEADERS to what /app answers. Plain ASGI, not `@app.middleware("http")`:
    Starlette's BaseHTTPMiddleware reads the body in a task group of its own, which wraps a body
    over the bound in an ExceptionGroup that the app's error handlers never see (a plain-text 413)."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or not scope["path"].startswith("/app"):
            await self.app(scope, receive, send)
            return

        async def with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = MutableHeaders(scope=message)
                for name, value in SECURITY_HEADERS.items():
                    headers[name] = value
            await send(message)

        await self.app(scope, receive, with_headers)
