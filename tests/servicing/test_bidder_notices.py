"""A bidder on the secondary market is told, once per late installment, when a loan it still has an
open bid for falls past its grace period: bids are escrowless and fixed-price, so holders can sell
into a bid placed while the loan was current. Expired and cancelled bids are not told of."""

from __future__ import annotations

from backend.db.session import session_scope
from backend.servicing.models import ServicingNotice
from backend.servicing.notices import day
from tests.contracts.helpers import events
from tests.servicing.conftest import index
from tests.servicing.test_servicing import DAY, _notices, _pass

UNIT = 10**6
MAX_UINT = 2**256 - 1


def _bid(world, bidder, loan_id: int, price_bps: int, expires_at: int = 0) -> int:
    world.chain.tx(world.token.functions.approve(world.market.address, MAX_UINT), bidder.address)
    receipt = world.chain.tx(world.market.functions.bid(loan_id, UNIT, price_bps, expires_at), bidder.address)
    return events(receipt, world.market, "BidPlaced")[0]["bidId"]


def test_bidders_hear_once_when_the_loan_falls_past_grace(servicing_settings, world):
    settings, chain, market = servicing_settings, world.chain, world.market
    standing, expired, cancelled = world.investors[3:6]
    loan_id, start = world.active_loan(investors=world.investors[:3])
    first_due = start + 30 * DAY
    first = _bid(world, standing, loan_id, 9_000)
    second = _bid(world, standing, loan_id, 8_000)
    _bid(world, expired, loan_id, 9_000, expires_at=first_due)
    chain.tx(market.functions.cancelBid(_bid(world, cancelled, loan_id, 9_000)), cancelled.address)
    index(settings)

    chain.mine_at(first_due + 5 * DAY)  # within grace: no one is told yet
    _pass(settings)
    assert _notices(settings, standing.address) == []
    chain.mine_at(first_due + 20 * DAY)
    assert _pass(settings).investor_notices == 1
    assert _pass(settings).investor_notices == 0  # once per late installment, however many passes
    assert _notices(settings, standing.address) == [(1, "bid_at_risk")]  # one notice for both its bids
    assert _notices(settings, expired.address) == _notices(settings, cancelled.address) == []
    with session_scope(settings) as session:
        notice = session.query(ServicingNotice).filter_by(recipient=standing.address).one()
        assert f"bid {first} for 1.00 at 90.00%" in notice.message and f"bid {second} " in notice.message
        assert "20 days past due" in notice.message and notice.amount == UNIT * 9 // 10 + UNIT * 8 // 10
        defaultable = world.book.functions.defaultableAt(loan_id).call()  # trading stops then (NoteMarket)
        assert f"until {day(defaultable)}, when the loan may be declared in default" in notice.message
