"""One hardship request a loan at a time: while the borrower's last one waits for the collections
team's answer, asking again is a 409 that says so and writes nothing (no case-log entry, no audit
entry); once staff have answered, the borrower may ask again. SQLite and PostgreSQL, no chain."""

from __future__ import annotations

from eth_account import Account
from sqlalchemy import func, select

from backend.audit.models import AuditEntry
from backend.db.session import session_scope
from backend.servicing.models import CollectionAction
from tests.identity.conftest import ADMIN, client_for, identity_settings, minted_bearer
from tests.servicing.loan_rows import index_active_loan, stub_chain_clock

BORROWER = Account.from_key("0x" + "b7" * 32)


def _written(settings) -> tuple[int, int]:
    with session_scope(settings) as session:
        return (session.scalar(select(func.count()).select_from(CollectionAction)),
                session.scalar(select(func.count()).select_from(AuditEntry)))  # fmt: skip


def test_a_second_hardship_request_waits_for_the_answer_to_the_first(tmp_path, database_url, monkeypatch):
    stub_chain_clock(monkeypatch)
    settings = identity_settings(tmp_path, database_url)
    loan_id = index_active_loan(settings, BORROWER.address)
    client, borrower, staff = client_for(settings), minted_bearer(settings, BORROWER), minted_bearer(settings, ADMIN)

    def ask(note: str = "lost my job; could pay half for three months"):
        return client.post(f"/api/v1/loans/{loan_id}/hardship", json={"note": note}, headers=borrower)

    assert ask().status_code == 201
    before = _written(settings)
    for note in ("lost my job; could pay half for three months", "please answer"):
        again = ask(note)
        body = again.json()
        assert again.status_code == 409 and body["error"] == "hardship_awaiting_answer", again.text
        assert "still waiting for the collections team" in body["detail"] and "ask again once they have" in body["detail"]
        assert body["context"] == {"loan_id": loan_id}
    assert _written(settings) == before  # neither a case-log entry nor an audit entry

    answer = client.post(f"/api/v1/servicing/collections/{loan_id}/actions", headers=staff,
                         json={"kind": "contacted", "note": "called back; payment plan offered"})  # fmt: skip
    assert answer.status_code == 201, answer.text
    assert ask("the plan is too steep after all").status_code == 201  # answered: the borrower may ask again
    assert ask().status_code == 409


def test_a_hardship_request_retried_with_its_idempotency_key_is_answered_with_its_entry(tmp_path, database_url,
                                                                                         monkeypatch):  # fmt: skip
    """Without a key a retry of a lost answer read as a 409 (one request waiting); with the request's
    `Idempotency-Key` it is the entry the first attempt made (200), nothing written, even once staff
    have answered it; the key with another note is 409 idempotency_key_reused."""
    stub_chain_clock(monkeypatch)
    settings = identity_settings(tmp_path, database_url)
    loan_id = index_active_loan(settings, BORROWER.address)
    client, staff = client_for(settings), minted_bearer(settings, ADMIN)
    keyed = {**minted_bearer(settings, BORROWER), "Idempotency-Key": "hardship-1"}
    note = {"note": "lost my job; could pay half for three months"}
    first = client.post(f"/api/v1/loans/{loan_id}/hardship", json=note, headers=keyed)
    assert first.status_code == 201, first.text
    before = _written(settings)
    retry = client.post(f"/api/v1/loans/{loan_id}/hardship", json=note, headers=keyed)
    assert retry.status_code == 200 and retry.json() == first.json(), retry.text
    other = client.post(f"/api/v1/loans/{loan_id}/hardship", json={"note": "please answer"}, headers=keyed)
    assert other.status_code == 409 and other.json()["error"] == "idempotency_key_reused", other.text
    assert _written(settings) == before
    answer = client.post(f"/api/v1/servicing/collections/{loan_id}/actions", headers=staff,
                         json={"kind": "contacted", "note": "called back; payment plan offered"})  # fmt: skip
    assert answer.status_code == 201
    late_retry = client.post(f"/api/v1/loans/{loan_id}/hardship", json=note, headers=keyed)
    assert late_retry.status_code == 200 and late_retry.json()["id"] == first.json()["id"]
    # the same key on another loan's path is another request
    elsewhere = client.post(f"/api/v1/loans/{loan_id + 1}/hardship", json=note, headers=keyed)
    assert elsewhere.status_code == 409 and elsewhere.json()["error"] == "idempotency_key_reused"
