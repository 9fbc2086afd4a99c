"""Lists page one way (limit, at most PAGE_MAX, and offset), and a query parameter an endpoint does not
take is a 422 naming it: ignored, `GET /score/mine?offset=20` answered the first page again, and a client
paging on it looped for ever."""

from __future__ import annotations

import pytest
from eth_account import Account
from sqlalchemy import select

from backend.api.deps import PAGE_MAX
from backend.api.main import create_app
from backend.audit.hashing import payload_hash
from backend.audit.models import AuditEntry
from backend.chain.models import ChainEvent
from backend.db.session import session_scope
from backend.identity.roles import grant_role
from backend.servicing import collections as case_log
from backend.servicing.service import NOTES_READ
from tests.identity.conftest import ADMIN, client_for, identity_settings, minted_bearer
from tests.scoring.conftest import SAMPLE

# Lists answered whole, each small by nature or a cursor; anything else that returns an array pages.
WHOLE = {
    "/api/v1/admin/roles/pending": "grants waiting for a second admin",
    "/api/v1/audit/mandates/{address}": "one investor's mandates",
    "/api/v1/disclosure/reports/missing": "months ended without a report",
    "/api/v1/servicing/collections/{loan_id}/plans": "one loan's hardship plans (one open at a time)",
    "/api/v1/loans/{loan_id}/plans": "the hardship plans agreed on one loan (one open at a time)",
}
# Staff lists that grow with the platform (grants, alerts, the collections queue) page too, in one order.
STAFF_LISTS = ("/api/v1/admin/roles", "/api/v1/audit/alerts", "/api/v1/servicing/collections")


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
    for path in STAFF_LISTS:
        params = {p["name"]: p["schema"] for p in spec["paths"][path]["get"]["parameters"]}
        assert params["limit"]["maximum"] == PAGE_MAX and params["limit"]["default"] == 100 and "offset" in params
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


def _pages(client, headers, path: str, limit: int) -> list[list[dict]]:
    """Every page of `path` until a short one (the last)."""
    pages = []
    while not pages or len(pages[-1]) == limit:
        sep = "&" if "?" in path else "?"
        answer = client.get(f"{path}{sep}limit={limit}&offset={limit * len(pages)}", headers=headers)
        assert answer.status_code == 200, answer.text
        pages.append(answer.json())
    return pages


def test_role_grants_alerts_and_the_collections_queue_page_in_one_order(tmp_path, database_url):
    """The staff lists that were answered whole page like every other list: read a page at a time
    they are the whole list, in its order, no item twice or missed (ties in the order broken, so an
    unchanged list pages the same every time); a collections page opens only its own loans' notes."""
    from tests.servicing.test_collections import _queue_of

    settings = identity_settings(tmp_path, database_url)
    client, staff = client_for(settings), minted_bearer(settings, ADMIN)
    with session_scope(settings) as session:
        for i in range(7):
            grant_role(session, "cli", "0x" + f"{i + 1:040x}", ("auditor", "underwriter")[i % 2])
        for i in range(9):  # pauses: three at each block time, so the order must break ties
            session.add(ChainEvent(block_number=i, block_hash=f"0x{i:064x}", tx_hash=f"0x{i:064x}", tx_index=0,
                                   log_index=i, contract="LoanBook", address="0x" + "11" * 20, event="Paused",
                                   args={"account": "0x" + f"{i + 1:040x}"}, block_timestamp=1_000 + i // 3))  # fmt: skip
    _queue_of(settings, 1, 3)  # 9 loans: 3 late, 3 defaulted, 3 asking for help
    with session_scope(settings) as session:
        case_log._add(session, settings, 2, "note", "called, says a job starts next month", ADMIN.address, now=0)
    for path, limit in (("/api/v1/admin/roles", 3), ("/api/v1/audit/alerts?rule=pause", 2),
                        ("/api/v1/servicing/collections", 4)):  # fmt: skip
        whole = client.get(path, headers=staff).json()
        assert len(whole) in (7, 9), path
        pages = _pages(client, staff, path, limit)
        assert [item for page in pages for item in page] == whole, path
        assert _pages(client, staff, path, limit) == pages, path  # the same list, the same pages
        assert client.get(f"{path}{'&' if '?' in path else '?'}limit={PAGE_MAX + 1}", headers=staff).status_code == 422
    grants = client.get("/api/v1/admin/roles", headers=staff).json()
    assert [(g["wallet"], g["role"]) for g in grants] == sorted((g["wallet"], g["role"]) for g in grants)
    def notes_read() -> list[str]:
        with session_scope(settings) as session:
            return list(session.scalars(select(AuditEntry.payload_hash).where(AuditEntry.action == NOTES_READ)
                                        .order_by(AuditEntry.seq)))  # fmt: skip

    before = notes_read()
    for page in range(3):
        assert len(client.get(f"/api/v1/servicing/collections?limit=4&offset={4 * page}", headers=staff).json()) == (4, 4, 1)[page]
    assert notes_read()[len(before):] == [payload_hash({"loan_ids": [2]})]  # only loan 2's page opened a note
