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
