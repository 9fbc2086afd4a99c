"""Two mandate-keeper rounds at once (a worker whose lock connection dropped mid-round beside the
standby that took over, or `loanchain portfolio fund-mandates` by hand beside the worker): money
that moves between their two reads makes their facts, and so their keys, differ; still one funding
is queued for one planned funding of a mandate, and one payment for one installment due."""

from __future__ import annotations

from sqlalchemy import func, select

import backend.lending.autopay_keeper as autopay_keeper
import backend.lending.mandate_keeper as mandate_keeper
from backend.audit.models import AuditEntry
from backend.chain.models import Intent
from backend.db.session import session_scope
from backend.workers.registry import WORKERS
from tests.contracts.conftest import chain, world  # noqa: F401
from tests.lending.test_autopay import autopay_due_soon
from tests.lending.test_mandates import UNIT, _under_mandate
from tests.lending.test_mandates import settings as settings  # noqa: F401  (the fixture)
from tests.workers.overlap import Meeting, at_once, planned_apart

DAY = 86_400


def _queued(settings, function: str, action: str) -> tuple[list[str], int]:
    with session_scope(settings) as session:
        keys = list(session.scalars(select(Intent.key).where(Intent.function == function)))
        return keys, session.scalar(select(func.count()).where(AuditEntry.action == action))


def test_two_rounds_at_once_fund_a_mandates_loan_once(settings, world, monkeypatch):  # noqa: F811
    investor, payer = world.investors[4], world.investors[5]
    _, _, loan_id = _under_mandate(settings, world, investor, 931)
    # The wallet's balance is what bounds its fundings (below its allowance), so money paid in moves the facts.
    world.chain.tx(world.token.functions.transfer(payer.address, world.balance(investor) - 500 * UNIT), investor.address)

    def paid() -> None:
        world.chain.tx(world.token.functions.transfer(investor.address, UNIT), payer.address)

    meeting = Meeting()
    monkeypatch.setattr(mandate_keeper, "plan_fundings", planned_apart(mandate_keeper.plan_fundings, paid, meeting))
    step = WORKERS["mandate-keeper"].step
    results = at_once(lambda: step(settings), lambda: step(settings))
    assert meeting.met and sorted(results) == [0, 1], results
    keys, audited = _queued(settings, "fundWithMandate", "mandate.fund")
    assert len(keys) == 1 and f":{loan_id}:" in keys[0] and audited == 1


def test_two_rounds_at_once_pay_an_installment_once(settings, world, monkeypatch):  # noqa: F811
    borrower, node = world.borrower, world.chain
    autopay_due_soon(settings, world)

    def approved_more() -> None:  # the agent's allowance bounds what it takes: the facts move
        allowance = world.token.functions.allowance(borrower.address, world.agent.address).call()
        node.tx(world.token.functions.approve(world.agent.address, allowance + 1), borrower.address)

    meeting = Meeting()
    monkeypatch.setattr(autopay_keeper, "plan_payments", planned_apart(autopay_keeper.plan_payments, approved_more, meeting))
    step = WORKERS["mandate-keeper"].step
    results = at_once(lambda: step(settings), lambda: step(settings))
    assert meeting.met and sorted(results) == [0, 1], results
    keys, audited = _queued(settings, "payWithMandate", "autopay.pay")
    assert len(keys) == 1 and audited == 1
