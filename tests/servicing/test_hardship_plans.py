"""Hardship plans (backend/servicing/plans.py): proposed by one staff member, confirmed by another
person; judged by the chain's repayments; while on track, reminders and the platform's own default
wait, beyond a promise's cap and up to the plan's; broken, the borrower is told and the default goes
ahead. Each request bad in its own way is a clear 4xx that writes nothing."""

from __future__ import annotations

import pytest
from eth_account import Account
from sqlalchemy import func, select

from backend.audit.models import AuditEntry
from backend.chain.outbox import get_intent
from backend.db.session import session_scope
from backend.identity.roles import grant_role
from backend.servicing.collections import actions_of
from backend.servicing.models import HardshipPlan, ServicingNotice
from backend.servicing.plans import judge
from backend.servicing.service import default_intent_key, servicing_pass
from tests.identity.conftest import ADMIN, client_for, identity_settings, minted_bearer
from tests.servicing.conftest import index
from tests.servicing.loan_rows import NOW, index_active_loan

DAY = 86_400
BORROWER = Account.from_key("0x" + "b8" * 32)
TERMS = {"installment_amount": 50 * 10**6, "period_days": 30, "periods": 3}


def _clock(monkeypatch, at: list[int]) -> None:
    for where in ("backend.servicing.collections", "backend.servicing.plans", "backend.servicing.service"):
        monkeypatch.setattr(f"{where}.deadline_clock", lambda settings: at[0])


def _colleague(settings) -> Account:
    colleague = Account.create()
    with session_scope(settings) as session:
        grant_role(session, "cli", colleague.address, "underwriter")
    return colleague


def _written(settings) -> tuple[int, int]:
    with session_scope(settings) as session:
        return (session.scalar(select(func.count()).select_from(HardshipPlan)),
                session.scalar(select(func.count()).select_from(AuditEntry)))  # fmt: skip


def test_a_plan_is_proposed_by_one_person_and_confirmed_by_another(tmp_path, database_url, monkeypatch):
    at = [NOW]
    _clock(monkeypatch, at)
    settings = identity_settings(tmp_path, database_url)
    loan_id = index_active_loan(settings, BORROWER.address)
    client, staff = client_for(settings), minted_bearer(settings, ADMIN)
    colleague = minted_bearer(settings, _colleague(settings))
    url = f"/api/v1/servicing/collections/{loan_id}/plans"

    # A loan neither late nor asked about is no plan's: 409, nothing written.
    before = _written(settings)
    assert client.post(url, json=TERMS, headers=staff).status_code == 409
    assert _written(settings) == before
    asked = client.post(f"/api/v1/loans/{loan_id}/hardship", headers=minted_bearer(settings, BORROWER),
                        json={"note": "hours cut; can pay 50 a month for three months"})  # fmt: skip
    assert asked.status_code == 201

    proposed = client.post(url, json=TERMS, headers=staff)
    assert proposed.status_code == 201, proposed.text
    plan = proposed.json()
    assert (plan["status"], plan["proposed_by"], plan["decision"], plan["ends_at"]) == ("proposed", ADMIN.address, None, None)
    borrower = minted_bearer(settings, BORROWER)
    assert client.get(f"/api/v1/loans/{loan_id}/plans", headers=borrower).json() == []  # not agreed yet
    retried = client.post(url, json=TERMS, headers=staff)  # a client's retry: the same plan, nothing new
    assert retried.status_code == 200 and retried.json()["id"] == plan["id"]
    other = client.post(url, json={**TERMS, "periods": 6}, headers=colleague)
    assert other.status_code == 409 and other.json()["error"] == "plan_open", other.text
    queue = client.get("/api/v1/servicing/collections", headers=staff).json()
    assert len(queue) == 1, queue
    (item,) = queue
    assert item["plan"]["id"] == plan["id"] and item["awaiting_answer"]  # a proposal answers nothing yet

    confirm = f"{url}/{plan['id']}/confirm"
    own = client.post(confirm, headers=staff)
    assert own.status_code == 403 and "another person confirms it" in own.json()["detail"]
    at[0] = NOW + 3600
    confirmed = client.post(confirm, headers=colleague)
    assert confirmed.status_code == 200, confirmed.text
    done = confirmed.json()
    assert (done["status"], done["decision"], done["decided_at"]) == ("on_track", "confirmed", NOW + 3600)
    assert (done["next_end"], done["owed_by_now"], done["paid_since"]) == (NOW + 3600 + 30 * DAY, 50 * 10**6, 0)
    assert done["ends_at"] == NOW + 3600 + 90 * DAY
    assert client.post(confirm, headers=colleague).json() == done  # a retry of the confirmation
    rejected = client.post(f"{url}/{plan['id']}/reject", headers=staff)
    assert rejected.status_code == 409 and "only a proposed plan is decided" in rejected.json()["detail"]

    # The confirmation answers the borrower's request, in the case log, and both steps are audited.
    (item,) = client.get("/api/v1/servicing/collections", headers=staff).json() or [None]
    assert item is None  # answered, and not late: out of the queue
    (listed,) = client.get(url, headers=staff).json()
    assert listed == done
    # Its borrower reads the plan agreed on its loan, what it asks by when, without staff's names.
    mine = client.get(f"/api/v1/loans/{loan_id}/plans", headers=borrower)
    assert mine.status_code == 200, mine.text
    assert mine.json() == [{"id": plan["id"], "loan_id": loan_id, **TERMS, "agreed_at": NOW + 3600, "status": "on_track",
                            "paid_since": 0, "owed_by_now": 50 * 10**6, "next_end": NOW + 3600 + 30 * DAY,
                            "broken_at": None, "ends_at": NOW + 3600 + 90 * DAY}]  # fmt: skip
    assert client.get(f"/api/v1/loans/{loan_id}/plans", headers=colleague).json() == mine.json()  # staff too
    stranger = client.get(f"/api/v1/loans/{loan_id}/plans", headers=minted_bearer(settings, Account.create()))
    assert stranger.status_code == 403 and "for its borrower (and staff)" in stranger.json()["detail"]
    assert client.get("/api/v1/loans/999/plans", headers=borrower).status_code == 404
    with session_scope(settings) as session:
        actions = list(session.scalars(select(AuditEntry.action).where(AuditEntry.subject == f"loan:{loan_id}")
                                       .order_by(AuditEntry.seq)))  # fmt: skip
    assert actions == ["collections.action", "collections.plan.propose", "collections.plan.decide", "collections.action"]
    with session_scope(settings) as session:
        log = actions_of(session, settings, [loan_id], lambda: at[0])[loan_id]
    assert log[0].kind == "plan" and f"hardship plan {plan['id']} agreed: 3 payments of 50000000" in log[0].note


def test_a_proposal_is_rejected_or_lapses_and_another_may_follow(tmp_path, database_url, monkeypatch):
    at = [NOW]
    _clock(monkeypatch, at)
    settings = identity_settings(tmp_path, database_url)
    loan_id = index_active_loan(settings, BORROWER.address)
    client, staff = client_for(settings), minted_bearer(settings, ADMIN)
    client.post(f"/api/v1/loans/{loan_id}/hardship", headers=minted_bearer(settings, BORROWER), json={"note": "ill"})
    url = f"/api/v1/servicing/collections/{loan_id}/plans"
    first = client.post(url, json=TERMS, headers=staff).json()
    assert client.post(f"{url}/{first['id']}/reject", headers=staff).json()["status"] == "rejected"  # its proposer may
    second = client.post(url, json={**TERMS, "periods": 2}, headers=staff).json()
    at[0] = NOW + (settings.servicing_plan_confirm_days + 1) * DAY
    assert [p["status"] for p in client.get(url, headers=staff).json()] == ["lapsed", "rejected"]
    late = client.post(f"{url}/{second['id']}/confirm", headers=minted_bearer(settings, _colleague(settings)))
    assert late.status_code == 409 and "is lapsed" in late.json()["detail"]
    assert client.post(url, json=TERMS, headers=staff).status_code == 201  # nothing open: a new proposal


@pytest.mark.parametrize("change, field", [
    ({"periods": 0}, "periods"), ({"periods": 13}, "periods"), ({"period_days": 6}, "period_days"),
    ({"period_days": 32}, "period_days"), ({"installment_amount": 0}, "installment_amount"),
    ({"installment_amount": "50"}, "installment_amount"), ({"start": 1}, "start"),
])  # fmt: skip
def test_bad_plan_terms_are_a_422_naming_the_field_and_write_nothing(tmp_path, monkeypatch, change, field):
    _clock(monkeypatch, [NOW])
    settings = identity_settings(tmp_path, f"sqlite:///{tmp_path / 'plans.db'}")
    loan_id = index_active_loan(settings, BORROWER.address)
    client = client_for(settings)
    client.post(f"/api/v1/loans/{loan_id}/hardship", headers=minted_bearer(settings, BORROWER), json={"note": "ill"})
    before = _written(settings)
    reply = client.post(f"/api/v1/servicing/collections/{loan_id}/plans", json={**TERMS, **change},
                        headers=minted_bearer(settings, ADMIN))  # fmt: skip
    assert reply.status_code == 422 and field in reply.text, reply.text
    assert _written(settings) == before


def test_who_may_not_propose_or_decide(tmp_path, monkeypatch):
    """The borrower's own person cannot propose or confirm a plan holding its loan's default (403);
    an auditor reads plans but makes none; an unknown plan or loan is a 404."""
    _clock(monkeypatch, [NOW])
    settings = identity_settings(tmp_path, f"sqlite:///{tmp_path / 'plans.db'}")
    loan_id = index_active_loan(settings, BORROWER.address)
    client, staff = client_for(settings), minted_bearer(settings, ADMIN)
    client.post(f"/api/v1/loans/{loan_id}/hardship", headers=minted_bearer(settings, BORROWER), json={"note": "ill"})
    url = f"/api/v1/servicing/collections/{loan_id}/plans"
    plan = client.post(url, json=TERMS, headers=staff).json()
    auditor = Account.create()
    with session_scope(settings) as session:
        grant_role(session, "cli", BORROWER.address, "underwriter")
        grant_role(session, "cli", auditor.address, "auditor")
    own = client.post(f"{url}/{plan['id']}/confirm", headers=minted_bearer(settings, BORROWER))
    assert own.status_code == 403 and "borrowed by your own person" in own.json()["detail"]
    assert client.post(url, json=TERMS, headers=minted_bearer(settings, auditor)).status_code == 403
    assert client.get(url, headers=minted_bearer(settings, auditor)).status_code == 200
    assert client.post(f"{url}/999/confirm", headers=staff).status_code == 404
    assert client.get("/api/v1/servicing/collections/999/plans", headers=staff).status_code == 404
    assert client.get(url, headers=staff).json()[0]["status"] == "proposed"  # nothing decided


def test_a_plan_is_judged_by_each_period_s_payments():
    """On track while every period ended so far was paid for; broken at the first end short; completed
    once its last period ended or everything was paid, early too."""
    from backend.config import Settings

    settings = Settings(_env_file=None)
    plan = HardshipPlan(loan_id=1, installment_amount=100, period_days=30, periods=3, proposed_by="a", proposed_at=0,
                        decision="confirmed", decided_by="b", decided_at=1_000)  # fmt: skip
    end = [1_000 + k * 30 * DAY for k in (1, 2, 3)]
    assert judge(settings, plan, [], end[0]).status == "on_track"  # the first period's last second
    assert (judge(settings, plan, [], end[0] + 1).status, judge(settings, plan, [], end[0] + 1).broken_at) == ("broken", end[0])
    paid = [(end[0] - 5, 100), (500, 999)]  # a payment before the plan started does not count
    assert judge(settings, plan, paid, end[1]).status == "on_track"
    assert judge(settings, plan, paid, end[1] + 1).broken_at == end[1]
    assert judge(settings, plan, [(2_000, 150), (end[1], 50), (end[2], 100)], end[2] + 1).status == "completed"
    assert judge(settings, plan, [(2_000, 300)], 2_001).status == "completed"  # all of it paid at once
    assert judge(settings, plan, [(2_000, 200)], end[2] + 1).broken_at == end[2]


def _pass(settings) -> None:
    with session_scope(settings) as session:
        servicing_pass(session, settings)


def _notices(settings, loan_id: int) -> list[tuple[str, int]]:
    with session_scope(settings) as session:
        return [(n.kind, n.installment) for n in session.scalars(select(ServicingNotice).where(
            ServicingNotice.loan_id == loan_id).order_by(ServicingNotice.id))]  # fmt: skip


def _agree(settings, loan_id: int, terms: dict) -> dict:
    client = client_for(settings)
    url = f"/api/v1/servicing/collections/{loan_id}/plans"
    plan = client.post(url, json=terms, headers=minted_bearer(settings, ADMIN)).json()
    confirmed = client.post(f"{url}/{plan['id']}/confirm", headers=minted_bearer(settings, _colleague(settings)))
    assert confirmed.status_code == 200, confirmed.text
    return confirmed.json()


def test_a_kept_plan_holds_the_default_past_a_promise_s_cap_and_a_broken_one_lets_it_go(servicing_settings, world):
    settings, book, chain = servicing_settings, world.book, world.chain
    loan_id, _ = world.active_loan()
    threshold = book.functions.defaultableAt(loan_id).call()
    chain.mine_at(threshold - 10 * DAY)  # 80 days late: in collections
    index(settings)
    _pass(settings)
    plan = _agree(settings, loan_id, TERMS)
    assert plan["status"] == "on_track"
    for k in (1, 2):  # the first two periods kept, a day before each ends
        world.repay(loan_id, TERMS["installment_amount"], at=plan["decided_at"] + k * 30 * DAY - DAY)
    past_promise_cap = threshold + settings.servicing_promise_hold_max_days * DAY + DAY
    assert past_promise_cap < plan["ends_at"]
    chain.mine_at(past_promise_cap)
    index(settings)
    _pass(settings)
    with session_scope(settings) as session:
        assert get_intent(session, default_intent_key(loan_id)) is None  # a promise would no longer hold it
    kinds = _notices(settings, loan_id)
    assert kinds.count(("hardship_plan", plan["id"])) == 1 and ("plan_broken", plan["id"]) not in kinds
    (plan_now,) = client_for(settings).get(f"/api/v1/servicing/collections/{loan_id}/plans",
                                           headers=minted_bearer(settings, ADMIN)).json()  # fmt: skip
    assert (plan_now["status"], plan_now["paid_since"]) == ("on_track", 2 * TERMS["installment_amount"])

    chain.mine_at(plan["ends_at"] + 60)  # the third period ends unpaid
    index(settings)
    _pass(settings)
    assert ("plan_broken", plan["id"]) in _notices(settings, loan_id)
    with session_scope(settings) as session:
        assert get_intent(session, default_intent_key(loan_id)) is not None  # nothing holds it now
        told = session.scalar(select(ServicingNotice.message).where(ServicingNotice.kind == "plan_broken"))
    assert "has ended" in told and "Reminders start again" in told
    queue = client_for(settings).get("/api/v1/servicing/collections", headers=minted_bearer(settings, ADMIN)).json()
    (shown,) = [item["plan"] for item in queue if item["loan_id"] == loan_id]  # staff see it broke, and when
    assert (shown["id"], shown["status"], shown["broken_at"]) == (plan["id"], "broken", plan["ends_at"])


def test_a_kept_plan_holds_the_default_no_longer_than_its_cap(servicing_settings, world):
    settings = servicing_settings.model_copy(update={"servicing_plan_hold_max_days": 20})
    book, chain = world.book, world.chain
    loan_id, _ = world.active_loan()
    threshold = book.functions.defaultableAt(loan_id).call()
    chain.mine_at(threshold - 10 * DAY)
    index(settings)
    _pass(settings)
    plan = _agree(settings, loan_id, TERMS)
    world.repay(loan_id, TERMS["installment_amount"], at=plan["decided_at"] + DAY)
    chain.mine_at(threshold + 19 * DAY)
    index(settings)
    _pass(settings)
    with session_scope(settings) as session:
        assert get_intent(session, default_intent_key(loan_id)) is None  # kept, within the cap
    chain.mine_at(threshold + 21 * DAY)  # past the cap, the plan still on track (its first period paid)
    index(settings)
    _pass(settings)
    with session_scope(settings) as session:
        assert get_intent(session, default_intent_key(loan_id)) is not None


def test_no_reminders_while_a_plan_is_kept(servicing_settings, world):
    """A borrower not yet late who asked for help: once the plan is agreed (which answers the request,
    and so ends its own pause) the installments falling due bring no due-soon or overdue reminder."""
    settings, chain = servicing_settings, world.chain
    loan_id, start = world.active_loan()
    index(settings)
    asked = client_for(settings).post(f"/api/v1/loans/{loan_id}/hardship", headers=minted_bearer(settings, world.borrower),
                                      json={"note": "on half pay until spring"})  # fmt: skip
    assert asked.status_code == 201
    plan = _agree(settings, loan_id, {**TERMS, "period_days": 31})
    world.repay(loan_id, TERMS["installment_amount"], at=plan["decided_at"] + 10 * DAY)  # its first period kept
    first_due = start + 30 * DAY  # the loan's own schedule, unchanged: ~1,066 tokens due
    for at in (first_due - 2 * DAY, first_due + 5 * DAY):  # due soon, then in its grace period
        chain.mine_at(at)
        index(settings)
        _pass(settings)
    assert _notices(settings, loan_id) == [("hardship_plan", plan["id"])]


def test_an_auditor_traces_a_loan_s_plans_and_a_plan_altered_since_fails_the_check(servicing_settings, world):
    """The loan trace lists its plans and holds each against the audit entries of its proposal and
    its decision, with who made them: a plan confirmed in the database alone (the second person
    skipped), or its terms changed since, fails `plans_match_audit_log`."""
    settings, book, chain = servicing_settings, world.book, world.chain
    loan_id, _ = world.active_loan()
    chain.mine_at(book.functions.defaultableAt(loan_id).call() - 10 * DAY)
    index(settings)
    _pass(settings)
    plan = _agree(settings, loan_id, TERMS)
    client, auditor = client_for(settings), minted_bearer(settings, ADMIN)

    def check(trace: dict) -> dict:
        return next(c for c in trace["checks"] if c["name"] == "plans_match_audit_log")

    trace = client.get(f"/api/v1/audit/trace/loan/{loan_id}", headers=auditor).json()
    assert check(trace)["ok"] and check(trace)["detail"] == "1 hardship plans, each as proposed and decided in the audit log"
    assert [p["id"] for p in trace["plans"]] == [plan["id"]] and trace["plans"][0]["status"] == "on_track"
    with session_scope(settings) as session:  # someone lowers the plan's payments in the database
        session.get(HardshipPlan, plan["id"]).installment_amount = 1
    trace = client.get(f"/api/v1/audit/trace/loan/{loan_id}", headers=auditor).json()
    assert not check(trace)["ok"] and f"[{plan['id']}]" in check(trace)["detail"] and not trace["consistent"]
    with session_scope(settings) as session:
        session.get(HardshipPlan, plan["id"]).installment_amount = TERMS["installment_amount"]
        session.get(HardshipPlan, plan["id"]).decided_by = ADMIN.address  # its proposer, as if it had confirmed it
    assert not check(client.get(f"/api/v1/audit/trace/loan/{loan_id}", headers=auditor).json())["ok"]
