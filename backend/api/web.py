"""Serving the browser front end: static files at /app (no build step), / redirecting there, and
headers that keep the page to its own origin. The page calls only this API and the wallet the
browser injects, so a strict Content-Security-Policy costs it nothing and shuts out injected
scripts, framing (clickjacking a signature prompt) and leaking URLs through the Referer."""

from __future__ import annotations

from pathlib import Path

from fastapi import FastAPI, Request
from fastapi.responses import RedirectResponse
from fastapi.staticfiles import StaticFiles

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

    @app.middleware("http")
    async def web_security_headers(request: Request, call_next):  # no I/O of its own: safe as async
        response = await call_next(request)
        if request.url.path.startswith("/app"):
            response.headers.update(SECURITY_HEADERS)
        return response
