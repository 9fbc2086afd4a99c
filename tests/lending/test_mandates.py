"""Funding mandates: an investor with a standing instruction signs a mandate once from its wallet;
the platform's keeper then funds the instruction's matches through the outbox, from the
investor's wallet straight into each loan, within every bound signed (per loan, budget, APR
range, term) and the instruction's grades; it never queues the same funding twice; withdrawn,
the keeper stops at once and the wallet ends it on chain. Bad input gets a 4xx naming the field."""

from __future__ import annotations

import json

import pytest
from eth_account import Account
from typer.testing import CliRunner

from backend.audit.trace import trace_loan
from backend.chain import mandates as fm
from backend.chain.indexer import Indexer
from backend.chain.loan_book import deadline_clock
from backend.chain.models import Intent
from backend.chain.outbox import process_until_idle
from backend.cli.main import app
from backend.config import get_settings
from backend.db.session import session_scope
from backend.identity.kyc.submission import submit
from backend.identity.persons import borrower_wallets_of
from backend.identity.schemas import KycCreate
from backend.lending import autopay_keeper
from backend.lending.mandate_keeper import (
    fund_by_mandates,
    index_is_stale,
    mandate_keeper_step,
    plan_fundings,
    release_refunded,
)
from backend.lending.mandates import FUNDING_KEY_PREFIX
from backend.lending.models import FundingMandateRow
from backend.servicing.service import servicing_pass
from tests.anchoring.helpers import point_get_settings_at
from tests.conftest import own_database
from tests.contracts.conftest import chain, world  # noqa: F401
from tests.identity.conftest import ADMIN, client_for, make_applicant, minted_bearer, verify
from tests.identity.test_role_grants import SECOND_ADMIN, THIRD_ADMIN
from tests.lending.conftest import chain_borrower, loan_by_another
from tests.lending.test_portfolio import _decision_hash
from tests.lending.test_wallet_txs import _send
from tests.scoring.conftest import SAMPLE

UNIT, DAY = 10**6, 86_400
RULE = {"per_loan": 300 * UNIT, "grades": ["A", "B"], "min_apr_bps": 1_000, "max_installments": 36}


@pytest.fixture
def settings(chain_settings, deployment, world, snapshot, tmp_path, database_url):  # noqa: F811
    return own_database(chain_settings, tmp_path, database_url, disclosure_publish_monthly=False,
                        admin_wallets=[ADMIN.address])  # fmt: skip


def _investor(settings, investor, seed: int):
    with session_scope(settings) as session:  # KYC level 1: the investor role
        submit(session, settings, investor.address, KycCreate(**make_applicant(seed).form()), [])
    return client_for(settings), minted_bearer(settings, investor)


def _signed(draft: dict, key) -> dict:
    signature = Account.sign_typed_data(key.key, full_message=draft["typed_data"]).signature
    return {"mandate": draft["mandate"], "signature": "0x" + bytes(signature).hex()}


def _keeper_pass(settings, plan=fund_by_mandates) -> list:
    """One pass of the keeper's `plan`, its calls sent and indexed: (loan, amount) of each."""
    Indexer().catch_up(settings)
    with session_scope(settings) as session:
        queued = plan(session, settings)
    process_until_idle(settings)
    Indexer().catch_up(settings)
    return [(f.loan_id, f.amount) for f in queued]


def test_the_keeper_funds_an_instructions_matches_within_the_signed_mandate(settings, world):  # noqa: F811
    investor = world.investors[0]
    client, headers = _investor(settings, investor, 911)
    grade_a = _decision_hash(settings, SAMPLE)
    wanted = loan_by_another(world, decision_hash=grade_a, apr_bps=1_500, installments=12)[0]
    too_dear = loan_by_another(world, decision_hash=grade_a, apr_bps=2_500, installments=12)[0]  # above the mandate's ceiling
    loan_by_another(world, decision_hash=grade_a, apr_bps=900, installments=12)  # below the instruction's minimum
    loan_by_another(world, apr_bps=1_500, installments=12)  # decided elsewhere: no grade
    # 12 installments, as the instruction allows, but 120 days apart: four years, past the mandate's term
    slow = loan_by_another(world, decision_hash=grade_a, apr_bps=1_500, installments=12, installment_period=120 * DAY)[0]
    assert client.put("/api/v1/portfolio/rule", json=RULE, headers=headers).status_code == 200
    Indexer().catch_up(settings)

    draft = client.post("/api/v1/portfolio/rule/mandate/draft", json={"budget": 500 * UNIT, "days": 30,
                                                                       "max_apr_bps": 2_000}, headers=headers)  # fmt: skip
    assert draft.status_code == 200, draft.text
    terms = draft.json()["mandate"]
    (thin,) = draft.json()["warnings"]  # 500 at 300 a loan: one loan, then a part of another
    assert "at most 1 loan at the instruction's per-loan amount" in thin and "at least 20" in thin
    assert (terms["per_loan"], terms["min_apr_bps"], terms["max_installments"]) == (300 * UNIT, 1_000, 36)  # the rule's
    assert terms["max_term"] == 36 * 30 * DAY  # its installments at the platform's period
    assert terms["executor"] == world.admin.address  # the outbox's account, and no one else
    given = client.put("/api/v1/portfolio/rule/mandate", json=_signed(draft.json(), investor), headers=headers)
    assert given.status_code == 200, given.text
    mandate_hash = given.json()["mandate_hash"]
    assert mandate_hash == draft.json()["mandate_hash"] == "0x" + world.funding_agent.functions.hashFundingMandate(
        tuple(terms.values())).call().hex()  # fmt: skip
    # The wallet approved LoanBook long ago; the agent it has yet to authorize, once: until then
    # the keeper funds nothing, and the mandate says why.
    (authorize,) = draft.json()["transactions"]
    assert authorize["to"] == world.book.address and "funding agent" in authorize["description"]
    assert _keeper_pass(settings) == []
    (unauthorized,) = client.get("/api/v1/portfolio/rule/mandate", headers=headers).json()["warnings"]
    assert "not authorized the funding agent" in unauthorized
    _send(world.w3, investor, [authorize])

    before, platform_before = world.balance(investor), world.balance(world.admin)
    assert _keeper_pass(settings) == [(wanted, 300 * UNIT)]
    assert world.book.functions.balanceOf(investor.address, wanted).call() == 300 * UNIT
    assert world.book.functions.balanceOf(investor.address, too_dear).call() == 0
    assert world.balance(investor) == before - 300 * UNIT  # from the investor's wallet...
    assert world.balance(world.admin) == platform_before  # ...never through the platform's
    assert _keeper_pass(settings) == []  # held in full: nothing more, however many passes

    later = loan_by_another(world, decision_hash=grade_a, apr_bps=2_000, installments=6)[0]
    last = loan_by_another(world, decision_hash=grade_a, apr_bps=1_800, installments=6)[0]
    assert _keeper_pass(settings) == [(later, 200 * UNIT)]  # what is left of the budget
    assert _keeper_pass(settings) == []  # spent
    assert world.book.functions.balanceOf(investor.address, last).call() == 0
    assert world.book.functions.balanceOf(investor.address, slow).call() == 0  # never in the mandate's bounds

    with session_scope(settings) as session:  # the servicing pass tells the investor of each
        servicing_pass(session, settings)
    told = {n["loan_id"]: n["message"] for n in client.get("/api/v1/servicing/notices", headers=headers).json()
            if n["kind"] == "mandate_funded"}  # fmt: skip
    assert sorted(told) == [wanted, later]
    assert "funded loan" in told[later] and "200.00" in told[later] and "0.00 of its budget is left" in told[later]
    shown = client.get("/api/v1/portfolio/rule/mandate", headers=headers).json()
    assert (shown["status"], shown["spent"], shown["left"]) == ("active", 500 * UNIT, 0)
    assert [(f["loan_id"], f["amount"]) for f in shown["fundings"]] == [(wanted, 300 * UNIT), (later, 200 * UNIT)]

    # An auditor sees the investor's authority for each funding the platform made for it.
    with session_scope(settings) as session:
        trace = trace_loan(session, settings, wanted)
    (check,) = [c for c in trace.checks if c.name == "mandated_fundings_authorized"]
    assert check.ok and [m.mandate_hash for m in trace.mandates] == [mandate_hash]
    with session_scope(settings) as session:  # the stored bounds edited: no longer what the investor signed
        row = session.get(FundingMandateRow, mandate_hash)
        row.mandate = row.mandate | {"budget": 10**12}
    with session_scope(settings) as session:
        trace = trace_loan(session, settings, wanted)
    assert not next(c for c in trace.checks if c.name == "mandated_fundings_authorized").ok
    with session_scope(settings) as session:
        row = session.get(FundingMandateRow, mandate_hash)
        row.mandate = row.mandate | {"budget": 500 * UNIT}

    withdrawn = client.delete("/api/v1/portfolio/rule/mandate", headers=headers)
    assert withdrawn.status_code == 200 and withdrawn.json()["mandate_hash"] == mandate_hash
    pending = client.get("/api/v1/portfolio/rule/mandate", headers=headers).json()
    assert pending["status"] == "cancelled" and pending["cancel_transactions"] == []  # its budget is spent: dead on chain
    cancel, revoke = withdrawn.json()["transactions"]  # ends it on chain too, and the agent's authorization
    assert cancel["to"] == world.funding_agent.address and revoke["to"] == world.book.address
    _send(world.w3, investor, [cancel, revoke])
    assert not world.book.functions.isAuthorized(investor.address, world.funding_agent.address).call()
    shown = client.get("/api/v1/portfolio/rule/mandate", headers=headers).json()
    assert (shown["status"], shown["spent"], shown["cancel_transactions"]) == ("cancelled", 500 * UNIT, [])
    # An auditor sees every mandate the investor gave; the investor itself may not use the audit view.
    audited = client.get(f"/api/v1/audit/mandates/{investor.address}", headers=minted_bearer(settings, ADMIN))
    assert [m["mandate_hash"] for m in audited.json()] == [mandate_hash] and audited.json()[0] == shown
    assert client.get(f"/api/v1/audit/mandates/{investor.address}", headers=headers).status_code == 403
    assert client.delete("/api/v1/portfolio/rule/mandate", headers=headers).status_code == 404


def test_a_funding_is_queued_once_however_often_the_keeper_runs(settings, world):  # noqa: F811
    investor = world.investors[1]
    client, headers = _investor(settings, investor, 912)
    loan_id = loan_by_another(world, decision_hash=_decision_hash(settings, SAMPLE), apr_bps=1_500, installments=12)[0]
    client.put("/api/v1/portfolio/rule", json=RULE, headers=headers)
    world.chain.tx(world.token.functions.approve(world.book.address, 0), investor.address)  # a wallet new to LoanBook
    draft = client.post("/api/v1/portfolio/rule/mandate/draft", json={"budget": 1_000 * UNIT}, headers=headers).json()
    approve, authorize = draft["transactions"]  # without an allowance the keeper could fund nothing: the draft says so
    client.put("/api/v1/portfolio/rule/mandate", json=_signed(draft, investor), headers=headers)
    _send(world.w3, investor, [authorize])
    (warning,) = client.get("/api/v1/portfolio/rule/mandate", headers=headers).json()["warnings"]
    assert "approve more" in warning
    Indexer().catch_up(settings)
    with session_scope(settings) as session:
        assert fund_by_mandates(session, settings) == []
    _send(world.w3, investor, [approve])
    assert client.get("/api/v1/portfolio/rule/mandate", headers=headers).json()["warnings"] == []
    with session_scope(settings) as session:
        assert [(f.loan_id, f.amount) for f in fund_by_mandates(session, settings)] == [(loan_id, 300 * UNIT)]
    with session_scope(settings) as session:  # a second pass (or keeper) before the funding is sent or indexed
        assert index_is_stale(session) and fund_by_mandates(session, settings) == []
    process_until_idle(settings)
    with session_scope(settings) as session:  # mined, but the index has not read it yet: still waits
        assert index_is_stale(session) and fund_by_mandates(session, settings) == []
    Indexer().catch_up(settings)
    with session_scope(settings) as session:
        assert not index_is_stale(session) and fund_by_mandates(session, settings) == []
    assert world.book.functions.balanceOf(investor.address, loan_id).call() == 300 * UNIT
    # A funding queued but not yet sent when the investor withdraws never goes out.
    another = loan_by_another(world, decision_hash=_decision_hash(settings, SAMPLE), apr_bps=1_500, installments=12)[0]
    Indexer().catch_up(settings)
    with session_scope(settings) as session:
        (queued,) = fund_by_mandates(session, settings)
    # Withdrawn but not yet cancelled on chain (the wallet declined): the page can offer the cancel again.
    assert client.delete("/api/v1/portfolio/rule/mandate", headers=headers).status_code == 200
    process_until_idle(settings)
    with session_scope(settings) as session:
        dropped = session.query(Intent).filter(Intent.key == queued.key).one()
        assert (dropped.status, dropped.error_name, dropped.tx_hash) == ("failed", "Withdrawn", None)
    assert world.book.functions.balanceOf(investor.address, another).call() == 0
    cancel, revoke = client.get("/api/v1/portfolio/rule/mandate", headers=headers).json()["cancel_transactions"]
    _send(world.w3, investor, [cancel, revoke])
    assert client.get("/api/v1/portfolio/rule/mandate", headers=headers).json()["cancel_transactions"] == []


def test_bad_mandates_get_a_clear_4xx_and_change_nothing(settings, world):  # noqa: F811
    investor, other = world.investors[2], world.investors[3]
    client, headers = _investor(settings, investor, 913)

    def draft(**body):
        return client.post("/api/v1/portfolio/rule/mandate/draft", json={"budget": 1_000 * UNIT} | body, headers=headers)

    assert draft().status_code == 404  # no standing instruction to carry out
    client.put("/api/v1/portfolio/rule", json=RULE, headers=headers)
    for body, field in (({"budget": 0}, "budget"), ({"budget": 299 * UNIT}, "budget"), ({"max_apr_bps": 999}, "max_apr_bps"),
                        ({"days": 0}, "days"), ({"days": 366}, "days"), ({"extra": 1}, "extra")):  # fmt: skip
        answer = draft(**body)
        assert answer.status_code == 422 and field in answer.text, (body, answer.text)
    good = draft().json()

    def give(change: dict | None = None, signer=investor, **mandate):
        body = _signed({**good, "mandate": good["mandate"] | mandate,
                        "typed_data": {**good["typed_data"], "message": good["typed_data"]["message"] | (change or {})}},
                       signer)  # fmt: skip
        return client.put("/api/v1/portfolio/rule/mandate", json=body, headers=headers)

    forged = give(signer=other)
    assert forged.status_code == 422 and "signature" in forged.text
    tampered = _signed(good, investor) | {"mandate": good["mandate"] | {"budget": 10**12}}  # signed one, sent another
    answer = client.put("/api/v1/portfolio/rule/mandate", json=tampered, headers=headers)
    assert answer.status_code == 422 and "signature" in answer.text
    someone_elses = give({"investor": other.address}, investor=other.address)
    assert someone_elses.status_code == 403
    wrong_executor = give({"executor": other.address}, executor=other.address)
    assert wrong_executor.status_code == 422 and "executor" in wrong_executor.text
    soon = world.chain.now() + 60
    too_soon = give({"expiry": soon}, expiry=soon)
    assert too_soon.status_code == 422 and "expiry" in too_soon.text
    assert client.get("/api/v1/portfolio/rule/mandate", headers=headers).status_code == 404  # nothing was saved

    given = give()
    assert given.status_code == 200
    assert give().json() == given.json()  # the same mandate again: a retry (the next test)
    assert draft().status_code == 409  # one active mandate at a time: withdraw it first
    world.chain.travel(91 * 86_400)  # past its expiry (90 days by default)
    assert client.get("/api/v1/portfolio/rule/mandate", headers=headers).json()["status"] == "expired"
    assert draft().status_code == 200  # an expired mandate is no longer in the way
    assert client.delete("/api/v1/portfolio/rule/mandate", headers=headers).status_code == 404  # nothing to withdraw
    borrower = client.post("/api/v1/portfolio/rule/mandate/draft", json={"budget": UNIT},
                           headers=minted_bearer(settings, world.borrower))  # fmt: skip
    assert borrower.status_code == 403  # investing is for verified investors


def test_the_same_signed_mandate_sent_again_is_answered_with_it_until_it_is_no_longer_in_use(settings, world):  # noqa: F811
    """Review-api M2: a PUT retried with the mandate it had just given was a 409 telling the investor
    to sign a new one, which would then have replaced the first. While it is in use, the same
    signed mandate is answered with itself (200, nothing written); withdrawn, replaced or expired,
    it is still refused, saying which."""
    from sqlalchemy import func, select

    from backend.audit.models import AuditEntry

    investor, url = world.investors[4], "/api/v1/portfolio/rule/mandate"
    client, headers = _investor(settings, investor, 932)
    client.put("/api/v1/portfolio/rule", json=RULE, headers=headers)

    def signed(days: int) -> dict:
        draft = client.post(f"{url}/draft", json={"budget": 1_000 * UNIT, "days": days}, headers=headers).json()
        return _signed(draft, investor)

    def given() -> tuple[int, int]:
        with session_scope(settings) as session:
            return (session.scalar(select(func.count()).select_from(FundingMandateRow)),
                    session.scalar(select(func.count()).where(AuditEntry.action == "mandate.sign")))  # fmt: skip

    body = signed(90)
    first, again = [client.put(url, json=body, headers=headers) for _ in range(2)]
    assert (first.status_code, again.status_code) == (200, 200) and again.json() == first.json()
    assert first.json()["status"] == "active" and given() == (1, 1)  # one row, signed once in the audit log
    other_signature = {**body, "signature": body["signature"][:-2] + ("1c" if body["signature"].endswith("1b") else "1b")}
    assert client.put(url, json=other_signature, headers=headers).status_code == 422  # not a retry: checked as ever

    assert client.delete(url, headers=headers).status_code == 200
    withdrawn = client.put(url, json=body, headers=headers)
    assert withdrawn.status_code == 409 and "withdrawn or replaced" in withdrawn.json()["detail"]

    short = signed(2)
    assert client.put(url, json=short, headers=headers).status_code == 200
    world.chain.travel(3 * DAY)
    expired = client.put(url, json=short, headers=headers)
    assert expired.status_code == 409 and "has expired" in expired.json()["detail"], expired.text
    assert given() == (2, 2)


def _under_mandate(settings, world, investor, seed: int):  # noqa: F811
    """A verified investor with a standing instruction, a signed mandate of 1,000 (its approvals
    sent) and a new loan the instruction matches: (client, headers, loan id)."""
    client, headers = _investor(settings, investor, seed)
    loan_id = loan_by_another(world, decision_hash=_decision_hash(settings, SAMPLE), apr_bps=1_500, installments=12)[0]
    client.put("/api/v1/portfolio/rule", json=RULE, headers=headers)
    draft = client.post("/api/v1/portfolio/rule/mandate/draft", json={"budget": 1_000 * UNIT}, headers=headers).json()
    client.put("/api/v1/portfolio/rule/mandate", json=_signed(draft, investor), headers=headers)
    _send(world.w3, investor, draft["transactions"])
    Indexer().catch_up(settings)
    return client, headers, loan_id


def test_a_failed_funding_is_tried_again_and_the_worker_and_the_cli_run_the_keeper(settings, world, monkeypatch):  # noqa: F811
    investor = world.investors[4]
    client, headers, loan_id = _under_mandate(settings, world, investor, 914)
    allowance = world.token.functions.allowance(investor.address, world.book.address).call()
    with session_scope(settings) as session:
        (first,) = fund_by_mandates(session, settings)
    # The investor takes its allowance back between the keeper's check and the block: the funding fails.
    world.chain.tx(world.token.functions.approve(world.book.address, 0), investor.address)
    process_until_idle(settings)
    with session_scope(settings) as session:
        failed = session.query(Intent).filter(Intent.key == first.key).one()
        assert (failed.status, failed.error_name) == ("failed", "ERC20InsufficientAllowance")
    assert _keeper_pass(settings) == []  # nothing the wallet lets LoanBook take: nothing queued
    world.chain.tx(world.token.functions.approve(world.book.address, allowance), investor.address)
    world.chain.tx(world.book.functions.pause(), world.admin.address)
    assert _keeper_pass(settings) == []  # paused: the keeper waits
    world.chain.tx(world.book.functions.unpause(), world.admin.address)
    try:  # the worker's step and the CLI, as an operator runs them
        point_get_settings_at(monkeypatch, settings)
        assert mandate_keeper_step(settings.model_copy(update={"mandate_keeper": False})) == 0
        assert mandate_keeper_step(settings) == 1  # the same facts again: a second attempt, under a new key
        process_until_idle(settings)
        Indexer().catch_up(settings)
        assert json.loads(CliRunner().invoke(app, ["portfolio", "fund-mandates", "--json"]).stdout) == []
        shown = json.loads(CliRunner().invoke(app, ["portfolio", "mandate", investor.address, "--json"]).stdout)
        assert [(f["loan_id"], f["amount"]) for f in shown["fundings"]] == [(loan_id, 300 * UNIT)]
        assert "300,000,000 of 1,000,000,000 spent" in CliRunner().invoke(app, ["portfolio", "mandate", investor.address]).stdout
    finally:
        monkeypatch.undo()
        get_settings.cache_clear()
    with session_scope(settings) as session:
        keys = [i.key for i in session.query(Intent).filter(Intent.key.startswith(first.key[:-1]))]
    assert sorted(keys) == [first.key, first.key[:-1] + "2"]
    assert world.book.functions.balanceOf(investor.address, loan_id).call() == 300 * UNIT


def test_the_keeper_commits_its_fundings_first_and_queues_none_under_a_mandate_withdrawn_meanwhile(settings, world, monkeypatch):  # noqa: F811
    investor = world.investors[5]
    client, headers, first = _under_mandate(settings, world, investor, 915)

    # The fundings are committed before the payments' plan asks the chain anything: an audited
    # API write need not wait behind those calls.
    def fundings_committed():
        with session_scope(settings) as other:
            return [i.key for i in other.query(Intent).filter(Intent.key.startswith(FUNDING_KEY_PREFIX))]

    seen = []
    real_pay = autopay_keeper.pay_by_mandates
    monkeypatch.setattr(autopay_keeper, "pay_by_mandates", lambda db, s: seen.append(fundings_committed()) or real_pay(db, s))
    assert mandate_keeper_step(settings) == 1
    assert len(seen) == 1 and len(seen[0]) == 1
    monkeypatch.undo()
    process_until_idle(settings)
    second = loan_by_another(world, decision_hash=_decision_hash(settings, SAMPLE), apr_bps=1_500, installments=12)[0]
    Indexer().catch_up(settings)

    # The investor withdraws while the keeper's plan asks the chain about the mandate: the keeper
    # re-reads it before queuing, and queues nothing.
    real_spent = fm.mandate_spent

    def spent_and_withdrawn(settings_, mandate_hash):
        spent = real_spent(settings_, mandate_hash)
        assert client.delete("/api/v1/portfolio/rule/mandate", headers=headers).status_code == 200
        return spent

    monkeypatch.setattr(fm, "mandate_spent", spent_and_withdrawn)
    with session_scope(settings) as session:
        assert fund_by_mandates(session, settings) == []
    monkeypatch.undo()
    process_until_idle(settings)
    assert len(fundings_committed()) == 1
    assert world.book.functions.balanceOf(investor.address, first).call() == 300 * UNIT
    assert world.book.functions.balanceOf(investor.address, second).call() == 0


def test_mandates_take_turns_when_loans_are_scarce(settings, world):  # noqa: F811
    first, second = world.investors[0], world.investors[1]
    grade_a = _decision_hash(settings, SAMPLE)
    for n, investor in enumerate((first, second)):
        client, headers = _investor(settings, investor, 920 + n)
        client.put("/api/v1/portfolio/rule", json=RULE, headers=headers)
        draft = client.post("/api/v1/portfolio/rule/mandate/draft", json={"budget": 1_000 * UNIT}, headers=headers)
        assert client.put("/api/v1/portfolio/rule/mandate", json=_signed(draft.json(), investor), headers=headers).status_code == 200
        _send(world.w3, investor, draft.json()["transactions"])
    # Each loan has room for one ticket only: the mandate given first takes the first, then they alternate.
    taken = []
    for _ in range(3):
        loan_id = loan_by_another(world, decision_hash=grade_a, apr_bps=1_500, installments=12, principal=300 * UNIT)[0]
        assert [loan for loan, _ in _keeper_pass(settings)] == [loan_id]
        taken.append(next(i for i in (first, second) if world.book.functions.balanceOf(i.address, loan_id).call()))
    assert taken == [first, second, first]


def test_an_investor_is_told_a_week_before_its_mandate_ends_with_budget_left(settings, world):  # noqa: F811
    investor = world.investors[5]
    client, headers = _investor(settings, investor, 930)
    client.put("/api/v1/portfolio/rule", json=RULE, headers=headers)
    draft = client.post("/api/v1/portfolio/rule/mandate/draft", json={"budget": 1_000 * UNIT, "days": 10},
                        headers=headers).json()  # fmt: skip
    client.put("/api/v1/portfolio/rule/mandate", json=_signed(draft, investor), headers=headers)
    expiry = draft["mandate"]["expiry"]

    def ending() -> list[dict]:
        with session_scope(settings) as session:
            servicing_pass(session, settings)
        notices = client.get("/api/v1/servicing/notices", headers=headers).json()
        return [n for n in notices if n["kind"] == "mandate_ending"]

    assert ending() == []  # ten days left
    early = client.post("/api/v1/portfolio/rule/mandate/draft", json={"budget": 500 * UNIT}, headers=headers)
    assert early.status_code == 409 and "renew it in its last 7 days" in early.text  # withdraw it first
    world.chain.mine_at(expiry - 3 * 86_400)
    (told,) = ending()
    assert (told["loan_id"], told["installment"], told["amount"]) == (0, 1, 1_000 * UNIT)  # about no loan: its 1st mandate
    assert "1,000.00 of its budget unspent" in told["message"] and "takes over from this one" in told["message"]
    assert len(ending()) == 1  # told once
    first = client.get("/api/v1/portfolio/rule/mandate", headers=headers).json()
    assert first["renewable"] and first["status"] == "active"
    # Renewed in its last week: the new mandate takes over at once (the keeper uses one at a time),
    # and is told of in turn when it ends.
    draft = client.post("/api/v1/portfolio/rule/mandate/draft", json={"budget": 500 * UNIT, "days": 5},
                        headers=headers).json()  # fmt: skip
    assert client.put("/api/v1/portfolio/rule/mandate", json=_signed(draft, investor), headers=headers).status_code == 200
    shown = client.get("/api/v1/portfolio/rule/mandate", headers=headers).json()
    assert shown["mandate_hash"] == draft["mandate_hash"] and shown["status"] == "active"
    with session_scope(settings) as session:
        assert session.get(FundingMandateRow, first["mandate_hash"]).status == "cancelled"
    assert [(n["installment"], n["amount"]) for n in ending()] == [(2, 500 * UNIT), (1, 1_000 * UNIT)]  # newest first


def test_funding_from_the_wallet_leaves_the_allowance_its_mandate_relies_on(settings, world):  # noqa: F811
    """The keeper funds from the same allowance to LoanBook that a one-click funding or a plan spends,
    and ERC-20 `approve` sets it: theirs covers what the mandate has left to fund as well."""
    investor = world.investors[2]
    world.chain.tx(world.token.functions.approve(world.book.address, 0), investor.address)  # a wallet new to LoanBook
    client, headers, loan_id = _under_mandate(settings, world, investor, 915)  # approves the budget, 1,000

    def allowance() -> int:
        return world.token.functions.allowance(investor.address, world.book.address).call()

    assert allowance() == 1_000 * UNIT
    fund = client.post(f"/api/v1/loans/{loan_id}/transactions", json={"action": "fund", "amount": 200 * UNIT},
                       headers=headers).json()  # fmt: skip
    assert [t["description"] for t in fund["transactions"]] == [
        "allow LoanBook to take up to 1,200.00 tokens from your wallet "
        "(this funding and the 1,000.00 tokens your funding mandate has left to fund)",
        f"fund loan {loan_id} with 200.00 tokens"]
    _send(world.w3, investor, fund["transactions"])
    assert allowance() == 1_000 * UNIT
    assert _keeper_pass(settings) == [(loan_id, 100 * UNIT)]  # up to the instruction's 300 a loan
    assert allowance() == 900 * UNIT

    plan = client.post("/api/v1/portfolio/plan", json={"amount": 300 * UNIT}, headers=headers).json()
    assert plan["allocated"] == 300 * UNIT
    assert plan["transactions"][0]["description"] == (
        "allow LoanBook to take up to 1,200.00 tokens from your wallet "
        "(these fundings and the 900.00 tokens your funding mandate has left to fund)")
    _send(world.w3, investor, plan["transactions"])
    assert allowance() == 900 * UNIT
    assert client.get("/api/v1/portfolio/rule/mandate", headers=headers).json()["warnings"] == []

    # Without a mandate in use, a funding asks for its own amount only.
    assert client.delete("/api/v1/portfolio/rule/mandate", headers=headers).status_code == 200
    world.chain.tx(world.token.functions.approve(world.book.address, 0), investor.address)
    Indexer().catch_up(settings)
    alone = client.post(f"/api/v1/loans/{loan_id}/transactions", json={"action": "fund", "amount": 100 * UNIT},
                        headers=headers).json()  # fmt: skip
    assert alone["transactions"][0]["description"] == "allow LoanBook to take up to 100.00 tokens from your wallet"


def test_a_funding_refunded_from_a_cancelled_loan_goes_back_to_the_mandates_budget_once(settings, world):  # noqa: F811
    """Review L-2: the budget counted a funding whose loan was cancelled and refunded as spent, so
    auto-invest stopped early and the investor was shown money "spent" that was back in its wallet.
    The keeper now queues `releaseFunding` once the refund is taken, once, and the mandate shows
    its whole budget left."""
    investor = world.investors[4]
    client, headers, loan_id = _under_mandate(settings, world, investor, 940)
    assert _keeper_pass(settings) == [(loan_id, 300 * UNIT)]
    mandate_hash = client.get("/api/v1/portfolio/rule/mandate", headers=headers).json()["mandate_hash"]
    deadline = world.loan(loan_id)["fundingDeadline"]
    world.chain.tx(world.book.functions.cancel(loan_id), world.admin.address, at=deadline + 1)
    assert _keeper_pass(settings, release_refunded) == []  # cancelled, but the money is still LoanBook's to refund
    world.chain.tx(world.book.functions.refund(loan_id), investor.address)
    Indexer().catch_up(settings)
    assert mandate_keeper_step(settings) == 1  # the worker's round queues the release
    with session_scope(settings) as session:  # queued once, however often the keeper runs before it is sent...
        assert release_refunded(session, settings) == []
        (intent,) = session.query(Intent).filter(Intent.key.startswith(f"mandate.release:{mandate_hash}:{loan_id}:")).all()
        assert (intent.contract, intent.function) == ("FundingAgent", "releaseFunding")
    process_until_idle(settings)
    with session_scope(settings) as session:  # ...or mined before the index reads it
        assert release_refunded(session, settings) == []
    Indexer().catch_up(settings)
    assert world.funding_agent.functions.mandateSpent(bytes.fromhex(mandate_hash[2:])).call() == 0
    shown = client.get("/api/v1/portfolio/rule/mandate", headers=headers).json()
    assert (shown["spent"], shown["left"]) == (0, 1_000 * UNIT)
    assert [(f["loan_id"], f["amount"], f["released"]) for f in shown["fundings"]] == [(loan_id, 300 * UNIT, True)]
    assert _keeper_pass(settings, release_refunded) == []  # released: nothing more to give back
    with session_scope(settings) as session:  # the index holds the release as the chain does, in the loan's trace
        trace = trace_loan(session, settings, loan_id)
    assert "MandateReleased" in [e.event for e in trace.events]
    checks = {c.name: c.ok for c in trace.checks}  # (its terms, made here on chain with no offer, are not checked)
    assert checks["events_match_chain"] and checks["mandated_fundings_authorized"]
    # The budget given back is used again: a new match is funded under the same mandate.
    again = loan_by_another(world, decision_hash=_decision_hash(settings, SAMPLE), apr_bps=1_500, installments=12)[0]
    assert _keeper_pass(settings) == [(again, 300 * UNIT)]


def test_the_investors_own_plans_leave_out_what_its_mandate_is_funding_now(settings, world):  # noqa: F811
    """While the keeper's funding is queued, sent or mined beyond what the index has read, "Fund my
    matches" and a plan capped per loan count it as held: the platform's two tools never fund one
    loan twice over the investor's per-loan amount."""
    investor = world.investors[0]
    client, headers = _investor(settings, investor, 916)
    grade_a = _decision_hash(settings, SAMPLE)
    wanted = loan_by_another(world, decision_hash=grade_a, apr_bps=1_500, installments=12)[0]
    assert client.put("/api/v1/portfolio/rule", json=RULE, headers=headers).status_code == 200
    draft = client.post("/api/v1/portfolio/rule/mandate/draft", json={"budget": 3_000 * UNIT, "days": 30,
                                                                       "max_apr_bps": 2_000}, headers=headers).json()  # fmt: skip
    assert client.put("/api/v1/portfolio/rule/mandate", json=_signed(draft, investor), headers=headers).status_code == 200
    _send(world.w3, investor, draft["transactions"])
    Indexer().catch_up(settings)
    with session_scope(settings) as session:
        assert [(f.loan_id, f.amount) for f in fund_by_mandates(session, settings)] == [(wanted, 300 * UNIT)]
    later = loan_by_another(world, decision_hash=grade_a, apr_bps=1_500, installments=12)[0]  # after the keeper's pass
    Indexer().catch_up(settings)

    def plans() -> tuple[dict, dict]:
        matches = client.post("/api/v1/portfolio/rule/plan", headers=headers)
        capped = client.post("/api/v1/portfolio/plan", json={"amount": 600 * UNIT, "max_per_loan": 300 * UNIT,
                                                               "grades": ["A"]}, headers=headers)  # fmt: skip
        assert matches.status_code == capped.status_code == 200, (matches.json(), capped.json())
        return matches.json(), capped.json()

    queued = plans()  # the keeper's funding is in the outbox, not yet sent
    for plan in queued:
        assert [(a["loan_id"], a["amount"]) for a in plan["allocations"]] == [(later, 300 * UNIT)]
    assert client.get("/api/v1/portfolio/rule", headers=headers).json()["matching_now"] == [later]
    process_until_idle(settings)
    with session_scope(settings) as session:
        assert index_is_stale(session)  # mined: the index has not read it yet
    assert [plan["allocations"] for plan in plans()] == [plan["allocations"] for plan in queued]
    _send(world.w3, investor, queued[0]["transactions"])
    Indexer().catch_up(settings)
    held = {loan_id: world.book.functions.balanceOf(investor.address, loan_id).call() for loan_id in (wanted, later)}
    assert held == {wanted: RULE["per_loan"], later: RULE["per_loan"]}  # not twice the per-loan amount in `wanted`
    assert client.post("/api/v1/portfolio/rule/plan", headers=headers).status_code == 409  # every match held in full


def _borrower_person(settings, world, wallet, applicant) -> None:  # noqa: F811
    """`wallet` made a borrower: verified at the borrowers' level on chain, and with `applicant`'s
    national ID in the database (a second wallet of one person, held as DUPLICATE_IDENTITY, approved
    by two admins as that person's: `persons.borrower_wallets_of` counts approved records only)."""
    chain_borrower(world, wallet)
    verify(settings, wallet.address, applicant, SECOND_ADMIN.address, THIRD_ADMIN.address)


def test_a_mandate_puts_no_more_than_its_per_loan_amount_into_one_borrower_person(settings, world):  # noqa: F811
    """A bust-out from two wallets of one person: the keeper funds the person's loans together up to
    the per-loan amount, counting notes bought by hand and its own fundings in flight."""
    investor, twin, stranger = world.investors[0], world.investors[4], world.investors[5]
    client, headers = _investor(settings, investor, 940)
    person = make_applicant(941)
    verify(settings, world.borrower.address, person)
    _borrower_person(settings, world, twin, person)
    _borrower_person(settings, world, stranger, make_applicant(942))
    with session_scope(settings) as session:
        assert borrower_wallets_of(session, twin.address) == {twin.address, world.borrower.address}
    grade_a = _decision_hash(settings, SAMPLE)
    terms = dict(decision_hash=grade_a, apr_bps=1_500, installments=12)
    first = world.create(**terms)[0]
    second = world.create(borrower=twin.address, borrower_key=twin, **terms)[0]
    third = world.create(borrower=world.borrower.address, **terms)[0]
    elsewhere = world.create(borrower=stranger.address, borrower_key=stranger, **terms)[0]
    world.fund(second, investor, 100 * UNIT)  # bought by hand: the person's loans hold 100 of the investor's already
    assert client.put("/api/v1/portfolio/rule", json=RULE, headers=headers).status_code == 200
    draft = client.post("/api/v1/portfolio/rule/mandate/draft", json={"budget": 2_000 * UNIT}, headers=headers)
    assert client.put("/api/v1/portfolio/rule/mandate", json=_signed(draft.json(), investor), headers=headers).status_code == 200
    _send(world.w3, investor, draft.json()["transactions"])
    Indexer().catch_up(settings)

    # In flight: the first funding queued and not yet sent counts as held when the next plan is made.
    with session_scope(settings) as session:
        (queued,) = fund_by_mandates(session, settings.model_copy(update={"mandate_keeper_max_per_pass": 1}))
    assert (queued.loan_id, queued.amount) == (first, 200 * UNIT)  # 300 a person, less the 100 it holds of `second`
    with session_scope(settings) as session:
        planned = plan_fundings(session, settings, deadline_clock(settings))
    assert [(f.loan_id, f.amount) for f in planned] == [(elsewhere, 300 * UNIT)]  # not `first` again, nor `third`
    process_until_idle(settings)
    assert _keeper_pass(settings) == [(elsewhere, 300 * UNIT)]
    assert _keeper_pass(settings) == []  # the person's 300 are taken, whichever wallet borrows
    held = {loan: world.book.functions.balanceOf(investor.address, loan).call() for loan in (first, second, third, elsewhere)}
    assert held == {first: 200 * UNIT, second: 100 * UNIT, third: 0, elsewhere: 300 * UNIT}
