"""Privacy review L6: API answers carry personal data (a KYC record, a reveal, statements,
referrals), so none may stay in a browser's disk cache or a shared proxy: every /api/v1 response,
an error too, says `Cache-Control: no-store`; the web page's files keep the usual caching."""

from __future__ import annotations

from fastapi import FastAPI, Response
from fastapi.testclient import TestClient

from backend.api.cache_headers import NoStoreOnApi
from tests.identity.conftest import bearer, client, make_applicant, settings, submit  # noqa: F401


def test_the_owner_s_kyc_data_and_every_api_answer_are_never_stored(client):  # noqa: F811
    applicant = make_applicant(31)
    headers = bearer(client, applicant.account)
    assert submit(client, applicant, headers).status_code == 201
    mine = client.get("/api/v1/kyc/me/data", headers=headers)
    assert mine.status_code == 200 and mine.json()["data"]["full_name"] == applicant.full_name
    assert mine.headers["cache-control"] == "no-store"
    for answer in (client.get("/api/v1/kyc/me/data"),  # 401
                   client.get("/api/v1/admin/kyc/queue", headers=headers),  # 403
                   client.get("/api/v1/loans/999"),  # 404
                   client.get("/api/v1/loans", params={"status": "lost"})):  # 422  # fmt: skip
        assert answer.status_code >= 400 and answer.headers["cache-control"] == "no-store", answer
    client.app.get("/api/v1/boom")(boom)  # a bug: the 500 comes from the outermost error middleware
    client.app.middleware_stack = None
    failed = client.get("/api/v1/boom")
    assert failed.status_code == 500 and failed.headers["cache-control"] == "no-store"
    assert "no-store" not in client.get("/").headers.get("cache-control", "")  # the web page is not the API


def boom() -> None:
    raise RuntimeError("a bug")


def test_a_route_s_own_cache_control_is_kept_and_other_paths_are_left_alone():
    app = FastAPI()
    app.add_middleware(NoStoreOnApi)

    @app.get("/api/v1/public")
    def public(response: Response) -> dict:
        response.headers["Cache-Control"] = "public, max-age=60"
        return {}

    @app.get("/api/v1x")
    def lookalike() -> dict:
        return {}

    test = TestClient(app)
    assert test.get("/api/v1/public").headers["cache-control"] == "public, max-age=60"
    assert "cache-control" not in test.get("/api/v1x").headers
    assert test.get("/api/v1/none").headers["cache-control"] == "no-store"  # a 404 of the API too
