"""Two market-keeper rounds at once (a worker whose lock connection dropped mid-round beside the
standby that took over, or `loanchain market match` by hand beside the worker): money that moves
between their two reads of the book makes their facts, and so their keys, differ; still one match
is queued for one crossed pair."""

from __future__ import annotations

import threading
from itertools import count

from sqlalchemy import func, select

import backend.market.keeper as keeper
from backend.audit.models import AuditEntry
from backend.chain.indexer import Indexer
from backend.chain.models import Intent
from backend.db.session import session_scope
from backend.workers.registry import WORKERS
from tests.contracts.conftest import chain, world  # noqa: F401
from tests.workers.overlap import Meeting, at_once

UNIT = 10**6


def test_two_rounds_at_once_queue_one_match_for_one_crossed_pair(settings, world, monkeypatch):  # noqa: F811
    seller, bidder, payer = world.investors[0], world.investors[1], world.investors[5]
    loan_id, _ = world.active_loan(investors=[seller, world.investors[3]])
    world.ready_for_market(bidder)
    world.ready_for_market(seller)
    world.place(bidder, "bid", loan_id, 2 * UNIT, 9_800)
    world.place(seller, "ask", loan_id, 2 * UNIT, 9_500)
    Indexer().catch_up(settings)

    calls, first_planned, meeting = count(), threading.Event(), Meeting()
    real_plan = keeper.plan_matches

    def plan(db, settings, now):
        if next(calls) == 0:
            planned = real_plan(db, settings, now)
            first_planned.set()
        else:  # the second round reads the book after the bidder was paid something: other facts, another key
            assert first_planned.wait(30)
            world.chain.tx(world.token.functions.transfer(bidder.address, UNIT), payer.address)
            planned = real_plan(db, settings, now)
        meeting()  # both have planned before either queues
        return planned

    monkeypatch.setattr(keeper, "plan_matches", plan)
    step = WORKERS["market-keeper"].step
    results = at_once(lambda: step(settings), lambda: step(settings))
    assert meeting.met and sorted(results) == [0, 1], results

    with session_scope(settings) as session:
        keys = list(session.scalars(select(Intent.key).where(Intent.function == "matchOrders")))
        audited = session.scalar(select(func.count()).where(AuditEntry.action == "market.match"))
    assert len(keys) == 1 and audited == 1
