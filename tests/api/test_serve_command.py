"""`loanchain serve` (what `make run` ends with) says where the web app is before it starts serving."""

from __future__ import annotations

import uvicorn
from typer.testing import CliRunner

from backend.cli.main import app


def test_serve_prints_the_web_apps_address(monkeypatch):
    served = {}
    monkeypatch.setattr(uvicorn, "run", lambda target, **kw: served.update(target=target, **kw))  # not a real server here
    monkeypatch.setenv("LOANCHAIN_API_PORT", "8123")
    from backend.config import get_settings

    get_settings.cache_clear()
    try:
        result = CliRunner().invoke(app, ["serve", "--host", "0.0.0.0"])
    finally:
        get_settings.cache_clear()
    assert result.exit_code == 0, result.output
    assert "http://127.0.0.1:8123/app/" in result.output and "http://127.0.0.1:8123/docs" in result.output
    assert served == {"target": "backend.api.main:app", "host": "0.0.0.0", "port": 8123, "workers": 1}
