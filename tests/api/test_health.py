import re

import pytest
from fastapi.testclient import TestClient

from backend.api.main import create_app
from backend.chain.deploy import deploy_all
from backend.chain.node import LocalNode
from backend.config import get_settings
from backend.db import migrate
from tests.conftest import free_port, make_settings


@pytest.fixture
def own_chain(tmp_path, artifacts):
    """A chain of its own, because this test stops and restarts the node."""
    port = free_port()
    settings = make_settings(tmp_path, chain_port=port, rpc_url=f"http://127.0.0.1:{port}")
    node = LocalNode(settings, kind="anvil")
    node.start()
    deploy_all(settings)
    migrate.upgrade(settings)
    yield settings, node
    node.stop()


def client_for(settings) -> TestClient:
    app = create_app()
    app.dependency_overrides[get_settings] = lambda: settings
    return TestClient(app)


def test_health_ok_then_503_naming_the_chain_then_ok_again(own_chain):
    settings, node = own_chain
    client = client_for(settings)
    body = client.get("/health").json()
    assert body["status"] == "ok", body
    assert body["chain"]["chain_id"] == 31337 and body["chain"]["latest_block"] >= 1
    assert all(c["code_matches"] for c in body["contracts"]["contracts"].values())
    assert body["database"]["revision"] == body["database"]["head"]

    node.stop()
    down = client.get("/health")
    assert down.status_code == 503
    assert "chain" in down.json()["failing"]
    assert down.json()["chain"]["ok"] is False

    node.start()
    again = client.get("/health")
    assert again.status_code == 200, again.json()


def test_health_names_pending_migrations(tmp_path, anvil, deployment, chain_settings):
    settings = chain_settings.model_copy(update={"database_url": f"sqlite:///{tmp_path / 'empty.db'}"})
    client = client_for(settings)
    resp = client.get("/health")
    assert resp.status_code == 503
    assert resp.json()["failing"] == ["database"]
    alias = client.get("/api/v1/health")  # the same report under the API's prefix
    assert alias.status_code == 503 and alias.json()["failing"] == ["database"]


def test_health_never_shows_the_rpc_urls_credentials_and_is_rate_limited(tmp_path):
    """Anyone may read the report: a hosted node's key (in the path, query or userinfo) is redacted
    from it and from the errors that repeat it; a client asking too often gets a 429."""
    url = "https://user:s3cretpass@127.0.0.1:1/v3/PROJECT_KEY?apikey=QUERY_KEY"
    settings = make_settings(tmp_path, rpc_url=url, health_rate_limit=2)
    migrate.upgrade(settings)
    client = client_for(settings)
    down = client.get("/api/v1/health")
    assert down.status_code == 503 and down.json()["chain"]["rpc_url"] == "https://127.0.0.1:1"
    for secret in ("s3cretpass", "PROJECT_KEY", "QUERY_KEY", str(settings.var_dir)):
        assert secret not in down.text
    assert client.get("/health").status_code == 503
    limited = client.get("/health")
    assert limited.status_code == 429 and "health" in limited.json()["detail"]


def test_openapi_docs_are_served(tmp_path):
    client = client_for(make_settings(tmp_path))
    assert client.get("/docs").status_code == 200
    assert client.get("/openapi.json").json()["info"]["title"] == "loanchain"


def test_the_api_docs_page_loads_nothing_from_outside_this_app(tmp_path):
    """Offline, a CDN-hosted Swagger UI leaves /docs blank: its files come from node_modules, served
    here, and the page's CSP names no other host."""
    client = client_for(make_settings(tmp_path))
    page = client.get("/docs")
    assert page.status_code == 200 and not re.findall(r"https?://|//[a-z]", page.text), page.text
    loaded = re.findall(r'(?:src|href)="([^"]+)"', page.text)
    assert len(loaded) == 3 and all(url.startswith("/docs/assets/") for url in loaded)
    for url in loaded:
        asset = client.get(url)
        assert asset.status_code == 200 and len(asset.content) > 500, url
    assert "SwaggerUIBundle" in client.get("/docs/assets/swagger-ui-bundle.js").text
    csp = page.headers["Content-Security-Policy"]
    assert "http" not in csp and "script-src 'self' 'sha256-" in csp and "unsafe-inline" not in csp.split(";")[1]
    assert client.get("/docs/assets/package.json").status_code == 404  # only what the page loads
    assert client.get("/redoc").status_code == 404  # no local copy of ReDoc: left off rather than fetched
