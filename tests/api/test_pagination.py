"""Lists page one way (limit, at most PAGE_MAX, and offset), and a query parameter an endpoint does not
take is a 422 naming it: ignored, `GET /score/mine?offset=20` answered the first page again, and a client
paging on it looped for ever."""

from __future__ import annotations

import pytest
from eth_account import Account

from backend.api.deps import PAGE_MAX
from backend.api.main import create_app
from tests.identity.conftest import client_for, identity_settings, minted_bearer
from tests.scoring.conftest import SAMPLE

# Lists answered whole, each small by nature or a cursor; anything else that returns an array pages.
WHOLE = {
    "/api/v1/admin/roles": "the staff's grants",
    "/api/v1/admin/roles/pending": "grants waiting for a second admin",
    "/api/v1/audit/mandates/{address}": "one investor's mandates",
    "/api/v1/audit/alerts": "the rules' findings now, filtered by since, rule and open",
    "/api/v1/servicing/collections": "the loans in collections now",
    "/api/v1/disclosure/reports/missing": "months ended without a report",
}


def test_every_list_pages_with_a_bounded_limit_and_an_offset_or_is_whole_by_nature():
    spec, unpaged = create_app().openapi(), []
    for path, operations in spec["paths"].items():
        answer = operations.get("get", {}).get("responses", {}).get("200", {})
        if answer.get("content", {}).get("application/json", {}).get("schema", {}).get("type") != "array":
            continue
        params = {p["name"]: p["schema"] for p in operations["get"].get("parameters", [])}
        if path == "/api/v1/audit/entries":  # a cursor: after_seq
            assert params["limit"]["maximum"] == 1000 and "after_seq" in params
        elif path not in WHOLE and not ("maximum" in params.get("limit", {}) and "offset" in params):
            unpaged.append(path)
    assert not unpaged, f"lists with no limit and offset: {unpaged}"
    assert spec["paths"]["/api/v1/score/mine"]["get"]["parameters"][0]["schema"]["maximum"] == PAGE_MAX


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    base = tmp_path_factory.mktemp("pages")
    settings = identity_settings(base, f"sqlite:///{base / 'pages.db'}")
    return client_for(settings), minted_bearer(settings, Account.create())


def test_offset_moves_the_window_over_ones_own_decisions(world):
    client, applicant = world
    made = []
    for _ in range(5):
        answer = client.post("/api/v1/score", json=SAMPLE, headers=applicant)
        assert answer.status_code == 201, answer.text
        made.append(answer.json()["id"])
    newest_first = [d["id"] for d in client.get("/api/v1/score/mine", headers=applicant).json()]
    assert sorted(newest_first) == sorted(made)
    pages = [[d["id"] for d in client.get(f"/api/v1/score/mine?limit=2&offset={o}", headers=applicant).json()]
             for o in (0, 2, 4, 6)]  # fmt: skip
    assert pages == [newest_first[0:2], newest_first[2:4], newest_first[4:5], []]  # a short page is the last
    too_many = client.get(f"/api/v1/score/mine?limit={PAGE_MAX + 1}", headers=applicant)
    assert too_many.status_code == 422 and too_many.json()["fields"][0]["loc"] == ["query", "limit"]


@pytest.mark.parametrize("url", [
    "/api/v1/loans?page=2",  # public
    "/api/v1/score/mine?cursor=abc",  # signed in
    "/api/v1/score/mine?limit=2&offset=0&Limit=3",  # names are case-sensitive
])  # fmt: skip
def test_an_unknown_query_parameter_is_a_422_naming_it(world, url):
    client, applicant = world
    answer = client.get(url, headers=applicant)
    assert answer.status_code == 422, answer.text
    unknown = url.split("&")[-1].split("?")[-1].split("=")[0]
    assert answer.json()["fields"] == [{"loc": ["query", unknown], "msg": "not a parameter of this endpoint (see /docs)",
                                        "type": "extra_forbidden"}]  # fmt: skip
    assert answer.json()["error"] == "validation_failed" and unknown in answer.json()["detail"]


def test_declared_parameters_pass_by_the_name_sent_and_pages_outside_the_api_take_any(world):
    client, applicant = world
    assert client.get("/api/v1/loans?status=active&limit=5&offset=0").status_code == 200
    assert client.get("/api/v1/auth/nonce?address=0x" + "ab" * 20 + "&domain=localhost:8000").status_code == 200
    # `open` is the alias of the route's `open_only`: the name sent is the one declared
    alerts = client.get("/api/v1/audit/alerts?open=true&open_only=true", headers=applicant)
    assert alerts.status_code == 422 and [f["loc"] for f in alerts.json()["fields"]] == [["query", "open_only"]]
    assert client.get("/?utm_source=mail", follow_redirects=False).status_code in (302, 307)
    assert client.get("/docs?x=1").status_code in (200, 503)  # Swagger UI, or a page saying it is not installed
