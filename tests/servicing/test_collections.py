"""The collections case log: staff record contacts and promises to pay against a late loan; a
promise is judged by the chain's payments (kept, pending, broken); bad entries are refused and
change nothing; auditors read the log but do not write it. SQLite and PostgreSQL."""

from __future__ import annotations

import json

from sqlalchemy import select
from typer.testing import CliRunner

from backend.audit.models import AuditEntry
from backend.cli.main import app
from backend.config import get_settings
from backend.db.session import session_scope
from backend.identity.roles import grant_role
from backend.servicing.models import CollectionAction
from backend.servicing.service import servicing_pass
from tests.anchoring.helpers import point_get_settings_at
from tests.identity.conftest import ADMIN, client_for, minted_bearer
from tests.servicing.conftest import index

DAY = 86_400


def _pass(settings) -> None:
    with session_scope(settings) as session:
        servicing_pass(session, settings)


def test_a_promise_to_pay_is_kept_or_broken_by_what_the_chain_shows(servicing_settings, world, monkeypatch):
    settings, chain = servicing_settings, world.chain
    late, start = world.active_loan()
    repaid, _ = world.active_loan(investors=world.investors[:2])
    chain.mine_at(start + 30 * DAY + 20 * DAY)
    world.repay(repaid, world.book.functions.amountDue(repaid).call()[1])  # paid off: never in collections
    index(settings)
    _pass(settings)
    client, staff = client_for(settings), minted_bearer(settings, ADMIN)
    url = f"/api/v1/servicing/collections/{late}/actions"

    def log(**body):
        return client.post(url, json=body, headers=staff)

    assert log(kind="no_answer", note="called twice, voicemail").status_code == 201
    due = world.book.functions.amountDue(late).call()[0]
    promise = log(kind="promise_to_pay", note="will pay the arrears on payday", promised_amount=due, promised_in_days=7)
    assert promise.status_code == 201, promise.text
    made = promise.json()
    assert (made["promise_status"], made["paid_since"]) == ("pending", 0)
    assert made["promised_by"] == made["chain_time"] + 7 * DAY

    (item,) = client.get("/api/v1/servicing/collections", headers=staff).json()
    assert item["loan_id"] == late and [a["kind"] for a in item["actions"]] == ["promise_to_pay", "no_answer"]
    world.repay(late, due)  # the borrower keeps it
    index(settings)
    (item,) = client.get("/api/v1/servicing/collections", headers=staff).json()  # no pass since: still queued
    assert (item["actions"][0]["promise_status"], item["actions"][0]["paid_since"]) == ("kept", due)

    chain.mine_at(start + 3 * 30 * DAY + 20 * DAY)  # late again; a promise made and not kept
    index(settings)
    _pass(settings)
    second = log(kind="promise_to_pay", note="promised half now", promised_amount=10**6, promised_in_days=3).json()
    chain.mine_at(second["promised_by"] + 1)
    (item,) = client.get("/api/v1/servicing/collections", headers=staff).json()
    assert (item["actions"][0]["promise_status"], item["actions"][0]["paid_since"]) == ("broken", 0)

    # Bad entries: a clear 4xx, nothing written.
    with session_scope(settings) as session:
        before = len(list(session.scalars(select(CollectionAction.id))))
    assert log(kind="promise_to_pay", note="no amount", promised_in_days=3).status_code == 422
    assert log(kind="contacted", note="spoke to them", promised_amount=5).status_code == 422
    assert log(kind="threatened", note="xyz").status_code == 422 and log(kind="note", note="").status_code == 422
    assert log(kind="promise_to_pay", note="too far", promised_amount=5, promised_in_days=61).status_code == 422
    not_late = client.post(f"/api/v1/servicing/collections/{repaid}/actions", json={"kind": "note", "note": "hello"},
                           headers=staff)  # fmt: skip
    assert not_late.status_code == 409 and "not in collections" in not_late.json()["detail"]
    assert client.post("/api/v1/servicing/collections/999/actions", json={"kind": "note", "note": "hello"},
                       headers=staff).status_code == 404  # fmt: skip
    auditor = world.investors[5]
    with session_scope(settings) as session:
        grant_role(session, ADMIN.address, auditor.address, "auditor")
    as_auditor = minted_bearer(settings, auditor)
    assert client.post(url, json={"kind": "note", "note": "hello"}, headers=as_auditor).status_code == 403
    assert client.get("/api/v1/servicing/collections", headers=as_auditor).status_code == 200  # reads the log
    assert client.post(url, json={"kind": "note", "note": "hello"}).status_code == 401
    with session_scope(settings) as session:
        assert len(list(session.scalars(select(CollectionAction.id)))) == before
        logged = list(session.scalars(select(AuditEntry.action).where(AuditEntry.action == "collections.action")))
    assert len(logged) == before == 3  # every entry is in the audit log too

    runner = CliRunner()
    try:
        point_get_settings_at(monkeypatch, settings)
        cli = runner.invoke(app, ["servicing", "collections", "--json"])
        table = runner.invoke(app, ["servicing", "collections"])
    finally:
        monkeypatch.undo()
        get_settings.cache_clear()
    assert json.loads(cli.stdout) == client.get("/api/v1/servicing/collections", headers=staff).json()
    assert table.exit_code == 0 and "broken" in table.stdout


def test_a_borrower_asks_for_hardship_help_and_staff_see_it_until_they_answer(servicing_settings, world):
    settings = servicing_settings
    loan_id, _ = world.active_loan()  # current: not late at all
    funding, _ = world.create()
    index(settings)
    _pass(settings)
    client, staff = client_for(settings), minted_bearer(settings, ADMIN)
    borrower = minted_bearer(settings, world.borrower)

    def ask(loan: int, headers: dict, note: str = "lost my job; could pay half for three months"):
        return client.post(f"/api/v1/loans/{loan}/hardship", json={"note": note}, headers=headers)

    assert client.get("/api/v1/servicing/collections", headers=staff).json() == []
    asked = ask(loan_id, borrower)
    assert asked.status_code == 201 and (asked.json()["kind"], asked.json()["actor"]) == ("hardship", world.borrower.address)
    (item,) = client.get("/api/v1/servicing/collections", headers=staff).json()  # in the queue, though current
    assert (item["loan_id"], item["bucket"], item["actions"][0]["note"]) == (loan_id, "current", asked.json()["note"])

    answer = client.post(f"/api/v1/servicing/collections/{loan_id}/actions", headers=staff,
                         json={"kind": "contacted", "note": "called back; payment plan offered"})  # fmt: skip
    assert answer.status_code == 201
    assert client.get("/api/v1/servicing/collections", headers=staff).json() == []  # answered, and not late

    assert ask(loan_id, minted_bearer(settings, world.investors[0])).status_code == 403  # only its borrower
    assert ask(funding, borrower).status_code == 409 and ask(999, borrower).status_code == 404  # nothing owed yet
    assert ask(loan_id, borrower, note="").status_code == 422
    assert client.post(f"/api/v1/loans/{loan_id}/hardship", json={"note": "help"}).status_code == 401
