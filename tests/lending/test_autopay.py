"""Autopay without custody: a borrower signs a repayment mandate for its loan once and approves
the repayment agent; the platform's keeper pays each installment through the outbox as it falls
due, from the borrower's wallet; a wallet short of the installment gets a notice instead of a
failed transaction; withdrawn, the keeper stops and the wallet ends it on chain. Bad input gets a
4xx naming the field."""

from __future__ import annotations

import json

import pytest
from sqlalchemy import select
from typer.testing import CliRunner

from backend.audit.trace import trace_loan
from backend.chain import repayment_mandates as rm
from backend.chain.indexer import Indexer
from backend.chain.models import Intent
from backend.cli.main import app
from backend.config import get_settings
from backend.db.session import session_scope
from backend.lending.autopay import KEY_PREFIX
from backend.lending.autopay_keeper import pay_by_mandates
from backend.lending.models import RepaymentMandateRow
from backend.servicing.models import ServicingNotice
from backend.servicing.service import servicing_pass
from tests.anchoring.helpers import point_get_settings_at
from tests.conftest import own_database
from tests.contracts.conftest import chain, world  # noqa: F401
from tests.identity.conftest import client_for, minted_bearer
from tests.lending.test_mandates import _keeper_pass as keeper_pass
from tests.lending.test_mandates import _signed
from tests.lending.test_wallet_txs import _send

DAY = 86_400


@pytest.fixture
def settings(chain_settings, deployment, world, snapshot, tmp_path, database_url):  # noqa: F811
    return own_database(chain_settings, tmp_path, database_url, disclosure_publish_monthly=False)


def _keeper_pass(settings) -> list:
    return keeper_pass(settings, pay_by_mandates)


def test_the_keeper_pays_each_installment_from_the_borrowers_wallet_as_it_falls_due(settings, world, monkeypatch):  # noqa: F811
    borrower, node = world.borrower, world.chain
    loan_id, start = world.active_loan()
    amount = world.loan(loan_id)["installmentAmount"]
    Indexer().catch_up(settings)
    client, headers = client_for(settings), minted_bearer(settings, borrower)
    path = f"/api/v1/loans/{loan_id}/autopay"

    draft = client.post(f"{path}/draft", json={}, headers=headers)
    assert draft.status_code == 200, draft.text
    assert draft.json()["mandate"]["max_per_payment"] == 2 * amount  # two installments by default
    (approve,) = draft.json()["transactions"]  # the agent may take nothing yet
    given = client.put(path, json=_signed(draft.json(), borrower), headers=headers)
    assert given.status_code == 200, given.text
    assert "add money or approve more" in given.json()["warnings"][0]
    _send(world.w3, borrower, [approve])
    assert client.get(path, headers=headers).json()["warnings"] == []

    node.mine_at(start + 10 * DAY)
    assert _keeper_pass(settings) == []  # billed, but not due for twenty days: nothing paid early
    node.mine_at(start + 29 * DAY + DAY // 2)
    before = world.balance(borrower)
    assert _keeper_pass(settings) == [(loan_id, amount)]
    assert world.loan(loan_id)["installmentsPaid"] == 1 and world.balance(borrower) == before - amount
    assert world.balance(world.agent) == 0  # the agent keeps nothing
    assert _keeper_pass(settings) == []  # paid: nothing more until the next installment is billed
    shown = client.get(path, headers=headers).json()
    assert shown["status"] == "active" and [p["amount"] for p in shown["payments"]] == [amount]
    try:  # staff read it from the CLI
        point_get_settings_at(monkeypatch, settings)
        assert json.loads(CliRunner().invoke(app, ["loan", "autopay", str(loan_id), "--json"]).stdout) == shown
        assert "1 paid" in CliRunner().invoke(app, ["loan", "autopay", str(loan_id)]).stdout
    finally:
        monkeypatch.undo()
        get_settings.cache_clear()

    # The wallet is short when the next one falls due: no transaction, a notice instead.
    world.chain.tx(world.token.functions.transfer(world.investors[0].address, world.balance(borrower)), borrower.address)
    node.mine_at(start + 59 * DAY + DAY // 2)
    assert _keeper_pass(settings) == [] and _keeper_pass(settings) == []
    with session_scope(settings) as session:
        told = list(session.scalars(select(ServicingNotice).where(ServicingNotice.kind == "autopay_short")))
    assert [(n.loan_id, n.recipient, n.installment) for n in told] == [(loan_id, borrower.address, 2)]
    assert "Autopay could not pay" in told[0].message
    assert "less than" in client.get(path, headers=headers).json()["warnings"][0]

    # An auditor's trace of the loan holds the payment and the mandate the borrower signed for it.
    with session_scope(settings) as session:
        trace = trace_loan(session, settings, loan_id)
    assert "PaidWithMandate" in [e.event for e in trace.events]
    (check,) = [c for c in trace.checks if c.name == "autopay_payments_authorized"]
    assert check.ok and [m.investor for m in trace.mandates] == [borrower.address]

    withdrawn = client.delete(path, headers=headers)
    assert withdrawn.status_code == 200
    assert client.get(path, headers=headers).json()["cancel_transactions"]  # until the wallet sends it
    _send(world.w3, borrower, withdrawn.json()["transactions"])
    shown = client.get(path, headers=headers).json()
    assert (shown["status"], shown["cancel_transactions"]) == ("cancelled", [])
    assert world.agent.functions.cancelled(bytes.fromhex(shown["mandate_hash"][2:])).call()


def autopay_due_soon(settings, world) -> tuple[int, object, dict, str]:  # noqa: F811
    """An active loan whose borrower turned autopay on (signed, the agent approved), the chain half a
    day before its first installment is due, indexed: (loan id, API client, the borrower's headers,
    the loan's autopay path)."""
    borrower, node = world.borrower, world.chain
    loan_id, start = world.active_loan()
    Indexer().catch_up(settings)
    client, headers = client_for(settings), minted_bearer(settings, borrower)
    path = f"/api/v1/loans/{loan_id}/autopay"
    draft = client.post(f"{path}/draft", json={}, headers=headers).json()
    assert client.put(path, json=_signed(draft, borrower), headers=headers).status_code == 200
    _send(world.w3, borrower, draft["transactions"])
    node.mine_at(start + 29 * DAY + DAY // 2)
    Indexer().catch_up(settings)
    return loan_id, client, headers, path


def test_autopay_withdrawn_while_the_keeper_plans_pays_nothing(settings, world, monkeypatch):  # noqa: F811
    loan_id, client, headers, path = autopay_due_soon(settings, world)
    real = rm.AgentView.takeable

    def takeable_and_withdrawn(view):  # the borrower withdraws while the keeper asks the chain
        takeable = real(view)
        assert client.delete(path, headers=headers).status_code == 200
        return takeable

    monkeypatch.setattr(rm.AgentView, "takeable", takeable_and_withdrawn)
    with session_scope(settings) as session:
        assert pay_by_mandates(session, settings) == []
    monkeypatch.undo()
    with session_scope(settings) as session:
        assert session.scalars(select(Intent).where(Intent.key.startswith(KEY_PREFIX))).all() == []
    assert world.loan(loan_id)["installmentsPaid"] == 0


def test_bad_autopay_requests_get_a_clear_4xx_and_change_nothing(settings, world):  # noqa: F811
    borrower = world.borrower
    loan_id, _ = world.active_loan()
    funding, _ = world.create()
    amount = world.loan(loan_id)["installmentAmount"]
    Indexer().catch_up(settings)
    client, headers = client_for(settings), minted_bearer(settings, borrower)
    path = f"/api/v1/loans/{loan_id}/autopay"

    assert client.post(f"{path}/draft", json={}, headers=minted_bearer(settings, world.investors[0])).status_code == 403
    assert client.post(f"/api/v1/loans/{funding}/autopay/draft", json={}, headers=headers).status_code == 409
    assert client.post("/api/v1/loans/999/autopay/draft", json={}, headers=headers).status_code == 404
    for body, field in (({"max_per_payment": amount - 1}, "max_per_payment"), ({"max_per_payment": 0}, "max_per_payment"),
                        ({"days": 1}, "days"), ({"extra": 1}, "extra")):  # fmt: skip
        answer = client.post(f"{path}/draft", json=body, headers=headers)
        assert answer.status_code == 422 and field in answer.text, (body, answer.text)
    good = client.post(f"{path}/draft", json={}, headers=headers).json()

    def give(signer=borrower, **changes):
        draft = {**good, "mandate": good["mandate"] | changes,
                 "typed_data": {**good["typed_data"], "message": good["typed_data"]["message"]
                                | {{"loan_id": "loanId", "max_per_payment": "maxPerPayment"}.get(k, k): v
                                   for k, v in changes.items()}}}  # fmt: skip
        return client.put(path, json=_signed(draft, signer), headers=headers)

    assert give(signer=world.investors[1]).status_code == 422  # not the borrower's signature
    assert give(executor=world.investors[1].address).status_code == 422
    assert give(loan_id=funding).status_code == 422
    assert give(max_per_payment=amount - 1).status_code == 422
    assert give(payer=world.investors[1].address).status_code == 403
    assert client.get(path, headers=headers).status_code == 404  # nothing was saved
    given = give()
    assert given.status_code == 200
    assert give().json() == given.json()  # the same mandate again: a retry (the next test)
    assert client.post(f"{path}/draft", json={}, headers=headers).status_code == 409  # one at a time
    assert client.get(path, headers=minted_bearer(settings, world.investors[0])).status_code == 403


def test_the_same_signed_autopay_sent_again_is_answered_with_it_until_it_is_no_longer_in_use(settings, world):  # noqa: F811
    """Review-api M2, as for funding mandates: a retried PUT with the mandate it had just given was a
    409 telling the borrower to sign again. While in use it is answered with itself (200, nothing
    written); replaced by a renewal, withdrawn or expired, it is refused, saying which."""
    from sqlalchemy import func

    from backend.audit.models import AuditEntry

    borrower = world.borrower
    loan_id, _ = world.active_loan()
    Indexer().catch_up(settings)
    client, headers = client_for(settings), minted_bearer(settings, borrower)
    path = f"/api/v1/loans/{loan_id}/autopay"

    def signed(days: int) -> dict:
        return _signed(client.post(f"{path}/draft", json={"days": days}, headers=headers).json(), borrower)

    def given() -> tuple[int, int]:
        with session_scope(settings) as session:
            return (session.scalar(select(func.count()).select_from(RepaymentMandateRow)),
                    session.scalar(select(func.count()).where(AuditEntry.action == "autopay.sign")))  # fmt: skip

    short = signed(10)
    first, again = [client.put(path, json=short, headers=headers) for _ in range(2)]
    assert (first.status_code, again.status_code) == (200, 200) and again.json() == first.json()
    assert first.json()["status"] == "active" and given() == (1, 1)  # one row, signed once in the audit log

    world.chain.travel(4 * DAY)  # in its last week: renewable
    renewal = signed(60)
    assert client.put(path, json=renewal, headers=headers).status_code == 200
    replaced = client.put(path, json=short, headers=headers)
    assert replaced.status_code == 409 and "withdrawn or replaced" in replaced.json()["detail"]
    assert client.put(path, json=renewal, headers=headers).status_code == 200  # the renewal's own retry
    world.chain.travel(61 * DAY)
    expired = client.put(path, json=renewal, headers=headers)
    assert expired.status_code == 409 and "has expired" in expired.json()["detail"], expired.text
    assert given() == (2, 2)


def test_above_the_cap_autopay_pays_the_cap_oldest_first_and_the_borrower_is_told(settings, world):  # noqa: F811
    """The review's L-3: a borrower more than the cap behind (two installments and their fees, a cap
    of one installment) was once never paid for again, what is due only growing until the default.
    Now each pass pays up to the cap, oldest installment first, and the borrower is told once that
    autopay could not pay all of it; it never pays ahead of the schedule (the fees left wait for the
    next installment's window)."""
    borrower = world.borrower
    loan_id, start = world.active_loan()
    amount = world.loan(loan_id)["installmentAmount"]
    Indexer().catch_up(settings)
    client, headers = client_for(settings), minted_bearer(settings, borrower)
    path = f"/api/v1/loans/{loan_id}/autopay"
    draft = client.post(f"{path}/draft", json={"max_per_payment": amount}, headers=headers).json()
    client.put(path, json=_signed(draft, borrower), headers=headers)
    _send(world.w3, borrower, draft["transactions"])
    world.chain.mine_at(start + 80 * DAY)  # installments 1 and 2 past their grace period, each with its fee
    before = world.balance(borrower)
    assert _keeper_pass(settings) == [(loan_id, amount)]  # the cap, towards installment 1
    assert world.loan(loan_id)["installmentsPaid"] == 1 and world.balance(borrower) == before - amount
    with session_scope(settings) as session:
        (told,) = session.scalars(select(ServicingNotice).where(ServicingNotice.kind == "autopay_short"))
        assert told.installment == 1 and "more than your autopay's cap" in told.message
        assert "Autopay could not pay all the" in told.message and "up to the cap each time" in told.message
    assert _keeper_pass(settings) == [(loan_id, amount)]  # the next pass: installment 2, the cap again
    loan = world.loan(loan_id)
    assert loan["installmentsPaid"] == 2 and loan["feesDue"] > 0
    assert _keeper_pass(settings) == []  # the fees wait for installment 3's window (day 90): never ahead
    assert world.balance(world.agent) == 0


def test_the_payer_is_told_a_week_before_autopay_ends_ahead_of_its_loan(settings, world):  # noqa: F811
    borrower = world.borrower
    loan_id, start = world.active_loan()  # 12 monthly installments
    Indexer().catch_up(settings)
    client, headers = client_for(settings), minted_bearer(settings, borrower)
    path = f"/api/v1/loans/{loan_id}/autopay"
    draft = client.post(f"{path}/draft", json={"days": 45}, headers=headers).json()
    assert client.put(path, json=_signed(draft, borrower), headers=headers).status_code == 200
    expiry = draft["mandate"]["expiry"]

    def ending() -> list[ServicingNotice]:
        with session_scope(settings) as session:
            servicing_pass(session, settings)
            return list(session.scalars(select(ServicingNotice).where(ServicingNotice.kind == "autopay_ending")))

    assert ending() == []  # more than a week left
    early = client.post(f"{path}/draft", json={}, headers=headers)
    assert early.status_code == 409 and "renew it in its last 7 days" in early.text  # withdraw it first
    world.chain.mine_at(expiry - 6 * DAY)
    (told,) = ending()
    unpaid = (expiry - start) // (30 * DAY) + 1  # the first installment falling due after the mandate
    assert (told.loan_id, told.recipient, told.installment) == (loan_id, borrower.address, unpaid)
    assert told.due_date == start + unpaid * 30 * DAY and f"installment {unpaid}" in told.message
    assert len(ending()) == 1  # told once
    notices = client.get("/api/v1/servicing/notices", headers=headers).json()
    assert any(n["kind"] == "autopay_ending" and "Renew autopay" in n["message"] for n in notices)
    first = client.get(path, headers=headers).json()
    assert first["renewable"] and first["status"] == "active"
    # Renewed in its last week: the new mandate takes over at once, the old one is used no more.
    renewed = client.post(f"{path}/draft", json={}, headers=headers).json()
    assert client.put(path, json=_signed(renewed, borrower), headers=headers).status_code == 200
    shown = client.get(path, headers=headers).json()
    assert (shown["mandate_hash"], shown["status"], shown["renewable"]) == (renewed["mandate_hash"], "active", False)
    with session_scope(settings) as session:
        assert session.get(RepaymentMandateRow, first["mandate_hash"]).status == "cancelled"


def test_autopay_that_outlasts_its_loan_or_was_withdrawn_is_not_told_of(settings, world):  # noqa: F811
    borrower = world.borrower
    loan_id, start = world.active_loan(installments=1)  # one installment, due 30 days after the start
    Indexer().catch_up(settings)
    client, headers = client_for(settings), minted_bearer(settings, borrower)
    path = f"/api/v1/loans/{loan_id}/autopay"
    draft = client.post(f"{path}/draft", json={"days": 40}, headers=headers).json()
    client.put(path, json=_signed(draft, borrower), headers=headers)
    withdrawn_loan, _ = world.active_loan()  # 12 installments, but its autopay is withdrawn
    Indexer().catch_up(settings)
    withdrawn = f"/api/v1/loans/{withdrawn_loan}/autopay"
    other = client.post(f"{withdrawn}/draft", json={"days": 45}, headers=headers).json()
    client.put(withdrawn, json=_signed(other, borrower), headers=headers)
    assert client.delete(withdrawn, headers=headers).status_code == 200
    world.chain.mine_at(draft["mandate"]["expiry"] - DAY)  # both within a week of their end
    with session_scope(settings) as session:
        servicing_pass(session, settings)
        assert session.scalars(select(ServicingNotice).where(ServicingNotice.kind == "autopay_ending")).all() == []
