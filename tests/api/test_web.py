"""The web front end is served with headers that keep it to its own origin."""

from tests.identity.conftest import client_for, identity_settings


def test_the_page_is_served_with_a_strict_content_security_policy(tmp_path):
    client = client_for(identity_settings(tmp_path, f"sqlite:///{tmp_path / 'web.db'}"))
    assert client.get("/", follow_redirects=False).headers["location"] == "/app/"
    for path in ("/app/", "/app/app.js", "/app/app.css"):
        response = client.get(path)
        assert response.status_code == 200, path
        assert "default-src 'self'" in response.headers["content-security-policy"]
        assert "frame-ancestors 'none'" in response.headers["content-security-policy"]
        assert response.headers["x-frame-options"] == "DENY" and response.headers["x-content-type-options"] == "nosniff"
    assert "content-security-policy" not in client.get("/api/v1/loans").headers  # the API is JSON, not a page
