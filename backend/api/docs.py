"""The interactive API docs at /docs, served whole from this app: Swagger UI's script and styles come
from npm `swagger-ui-dist` in node_modules, never a CDN, so the page works offline and its CSP can
name no host but this one. ReDoc has no such local copy and is left off."""

from __future__ import annotations

import base64
import hashlib
import re
from pathlib import Path

from fastapi import FastAPI
from fastapi.openapi.docs import get_swagger_ui_html
from fastapi.responses import FileResponse, HTMLResponse

from backend.errors import NotFound, ServiceUnavailable

ASSETS_PATH = "/docs/assets"
# The only files the page loads; anything else under the package stays unserved.
ASSETS = {"swagger-ui-bundle.js": "text/javascript", "swagger-ui.css": "text/css", "favicon-32x32.png": "image/png"}


def _csp(html: str) -> str:
    """Swagger UI starts from one inline script: allowed by its hash, not 'unsafe-inline'. Its
    components set inline styles and draw icons from data: URLs."""
    inline = re.findall(r"<script>(.*?)</script>", html, flags=re.S)
    hashes = " ".join(f"'sha256-{base64.b64encode(hashlib.sha256(s.encode()).digest()).decode()}'" for s in inline)
    return (f"default-src 'self'; script-src 'self' {hashes}; style-src 'self' 'unsafe-inline'; img-src 'self' data:; "
            "connect-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'self'")  # fmt: skip


def mount_docs(app: FastAPI, node_modules: Path) -> None:
    """Call with the app built with `docs_url=None, redoc_url=None`."""
    package = node_modules / "swagger-ui-dist"
    page = get_swagger_ui_html(
        openapi_url=app.openapi_url,
        title=f"{app.title}: API",
        swagger_js_url=f"{ASSETS_PATH}/swagger-ui-bundle.js",
        swagger_css_url=f"{ASSETS_PATH}/swagger-ui.css",
        swagger_favicon_url=f"{ASSETS_PATH}/favicon-32x32.png",
        swagger_ui_parameters={"validatorUrl": None},  # else a badge fetched from validator.swagger.io
    ).body.decode()
    headers = {"Content-Security-Policy": _csp(page), "X-Content-Type-Options": "nosniff", "Referrer-Policy": "no-referrer"}

    def _installed() -> None:
        if not (package / "swagger-ui-bundle.js").is_file():
            raise ServiceUnavailable(f"Swagger UI is not installed ({package}): run `make setup` (npm ci installs swagger-ui-dist)")

    def docs() -> HTMLResponse:
        _installed()
        return HTMLResponse(page, headers=headers)

    def asset(name: str) -> FileResponse:
        if name not in ASSETS:
            raise NotFound(f"no docs asset {name!r}")
        _installed()
        return FileResponse(package / name, media_type=ASSETS[name], headers={"X-Content-Type-Options": "nosniff"})

    app.add_api_route("/docs", docs, include_in_schema=False)
    app.add_api_route(f"{ASSETS_PATH}/{{name}}", asset, include_in_schema=False)
