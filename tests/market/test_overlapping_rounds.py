"""Two market-keeper rounds at once (a worker whose lock connection dropped mid-round beside the
standby that took over, or `loanchain market match` by hand beside the worker): money that moves
between their two reads of the book makes their facts, and so their keys, differ; still one match
is queued for one crossed pair."""

from __future__ import annotations

from sqlalchemy import func, select

import backend.market.keeper as keeper
from backend.audit.models import AuditEntry
from backend.chain.indexer import Indexer
from backend.chain.models import Intent
from backend.db.session import session_scope
from backend.workers.registry import WORKERS
from tests.contracts.conftest import chain, world  # noqa: F401
from tests.workers.overlap import Meeting, at_once, planned_apart

UNIT = 10**6


def test_two_rounds_at_once_queue_one_match_for_one_crossed_pair(settings, world, monkeypatch):  # noqa: F811
    seller, bidder, payer = world.investors[0], world.investors[1], world.investors[5]
    loan_id, _ = world.active_loan(investors=[seller, world.investors[3]])
    world.ready_for_market(bidder)
    world.ready_for_market(seller)
    world.place(bidder, "bid", loan_id, 2 * UNIT, 9_800)
    world.place(seller, "ask", loan_id, 2 * UNIT, 9_500)
    Indexer().catch_up(settings)

    def paid() -> None:  # the bidder's money moves between the two rounds' reads: other facts, another key
        world.chain.tx(world.token.functions.transfer(bidder.address, UNIT), payer.address)

    meeting = Meeting()
    monkeypatch.setattr(keeper, "plan_matches", planned_apart(keeper.plan_matches, paid, meeting))
    step = WORKERS["market-keeper"].step
    results = at_once(lambda: step(settings), lambda: step(settings))
    assert meeting.met and sorted(results) == [0, 1], results

    with session_scope(settings) as session:
        keys = list(session.scalars(select(Intent.key).where(Intent.function == "matchOrders")))
        audited = session.scalar(select(func.count()).where(AuditEntry.action == "market.match"))
    assert len(keys) == 1 and audited == 1
