"""A 2xx means stored: the request's transaction commits before the response is sent, so a
commit that fails is the client's error response (and nothing changed), and the client's next
request reads the write. FastAPI ends a `yield` dependency after the response by default, which
answered success before the commit, or despite it; SessionDep asks for scope="function"."""

from __future__ import annotations

from sqlalchemy.exc import OperationalError
from sqlalchemy.orm import Session

from tests.identity.conftest import ADMIN, client_for, make_applicant, minted_bearer, settings, verify  # noqa: F401

STAFF = make_applicant(90)
GRANT = {"wallet": STAFF.account.address, "role": "auditor"}  # proposed; another admin confirms it


def test_a_commit_that_fails_is_an_error_response_and_changes_nothing(settings, monkeypatch):  # noqa: F811
    client, admin = client_for(settings), minted_bearer(settings, ADMIN)
    verify(settings, STAFF.account.address, STAFF)  # staff roles go to verified wallets only

    def commit_fails(self):
        raise OperationalError("COMMIT", {}, Exception("disk I/O error"))

    with monkeypatch.context() as patch:
        patch.setattr(Session, "commit", commit_fails)
        assert client.post("/api/v1/admin/roles", json=GRANT, headers=admin).status_code == 500
    assert client.get("/api/v1/admin/roles/pending", headers=admin).json() == []
    assert client.post("/api/v1/admin/roles", json=GRANT, headers=admin).status_code == 201
    assert [p["role"] for p in client.get("/api/v1/admin/roles/pending", headers=admin).json()] == ["auditor"]  # read back at once
