"""A maker on the secondary market is told, once per order, when its listing sold out or its bid was
filled, whoever filled it (a buyer, a seller, or the keeper matching the two): what moved and for how
much. A part-filled or withdrawn order is not told of; an order closed long before the pass is not
told either (a rebuilt index does not replay its history to the makers)."""

from __future__ import annotations

from backend.db.session import session_scope
from backend.servicing.models import ServicingNotice
from tests.servicing.conftest import index
from tests.servicing.test_servicing import DAY, _notices, _pass

UNIT = 10**6


def test_makers_hear_once_when_their_order_is_filled(servicing_settings, world):
    settings, chain, market = servicing_settings, world.chain, world.market
    seller, buyer, bidder, partial = world.investors[0], world.investors[1], world.investors[2], world.investors[4]
    loan_id, _ = world.active_loan(investors=[seller, world.investors[3]])
    world.ready_for_market(seller, buyer, bidder, partial)
    listing = world.place(seller, "ask", loan_id, 2 * UNIT, 9_500)
    chain.tx(world.buy(listing, UNIT), buyer.address)
    chain.tx(world.buy(listing, UNIT), bidder.address)  # sold out in two trades
    bid = world.place(bidder, "bid", loan_id, UNIT, 9_800)
    crossed = world.place(seller, "ask", loan_id, UNIT, 9_600)
    chain.tx(market.functions.matchOrders(crossed, bid, UNIT), world.admin.address)  # the keeper's match
    part = world.place(partial, "bid", loan_id, 3 * UNIT, 9_000)
    chain.tx(world.sell(part, UNIT), seller.address)  # part-filled: still open, not told
    index(settings)

    assert _pass(settings).investor_notices == 3
    assert _pass(settings).investor_notices == 0  # once per order, however many passes
    assert _notices(settings, seller.address) == [(listing, "listing_sold"), (crossed, "listing_sold")]
    assert _notices(settings, bidder.address) == [(bid, "bid_filled")]
    assert _notices(settings, partial.address) == []
    with session_scope(settings) as session:
        sold = session.query(ServicingNotice).filter_by(recipient=seller.address, installment=listing).one()
        assert sold.amount == 2 * (UNIT * 95 // 100)
        assert "sold out: 2.00 of notes for 1.90 in 2 trades" in sold.message
        filled = session.query(ServicingNotice).filter_by(recipient=bidder.address, kind="bid_filled").one()
        assert filled.amount == UNIT * (9_600 + 9_800) // 20_000 and "in 1 trade." in filled.message

    # An order closed long ago (say, before the platform told makers at all) is not told now.
    late = world.place(buyer, "bid", loan_id, UNIT, 9_000)
    chain.tx(world.sell(late, UNIT), seller.address)
    index(settings)
    chain.mine_at(chain.now() + 8 * DAY)
    assert _pass(settings).investor_notices == 0
    assert _notices(settings, buyer.address) == []
