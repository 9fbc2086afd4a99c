"""A maker on the secondary market is told, once per order, when its listing sold out or its bid was
filled, whoever filled it (a buyer, a seller, or the keeper matching the two): what moved and for how
much. A part-filled or withdrawn order is not told of; an order closed long before the pass is not
told either (a rebuilt index does not replay its history to the makers)."""

from __future__ import annotations

from backend.db.session import session_scope
from backend.servicing.models import ServicingNotice
from tests.contracts.helpers import events
from tests.servicing.conftest import index
from tests.servicing.test_servicing import DAY, _notices, _pass

UNIT = 10**6
MAX_UINT = 2**256 - 1


def _ready(world, *wallets) -> None:
    for wallet in wallets:
        world.chain.tx(world.book.functions.setApprovalForAll(world.market.address, True), wallet.address)
        world.chain.tx(world.token.functions.approve(world.market.address, MAX_UINT), wallet.address)


def _order(world, wallet, side: str, loan_id: int, notes: int, price_bps: int) -> int:
    market = world.market
    fn, event, key = ("list", "Listed", "listingId") if side == "ask" else ("bid", "BidPlaced", "bidId")
    receipt = world.chain.tx(getattr(market.functions, fn)(loan_id, notes, price_bps, 0), wallet.address)
    return events(receipt, market, event)[0][key]


def test_makers_hear_once_when_their_order_is_filled(servicing_settings, world):
    settings, chain, market = servicing_settings, world.chain, world.market
    seller, buyer, bidder, partial = world.investors[0], world.investors[1], world.investors[2], world.investors[4]
    loan_id, _ = world.active_loan(investors=[seller, world.investors[3]])
    _ready(world, seller, buyer, bidder, partial)
    listing = _order(world, seller, "ask", loan_id, 2 * UNIT, 9_500)
    chain.tx(market.functions.buy(listing, UNIT), buyer.address)
    chain.tx(market.functions.buy(listing, UNIT), bidder.address)  # sold out in two trades
    bid = _order(world, bidder, "bid", loan_id, UNIT, 9_800)
    crossed = _order(world, seller, "ask", loan_id, UNIT, 9_600)
    chain.tx(market.functions.matchOrders(crossed, bid, UNIT), world.admin.address)  # the keeper's match
    part = _order(world, partial, "bid", loan_id, 3 * UNIT, 9_000)
    chain.tx(market.functions.sell(part, UNIT), seller.address)  # part-filled: still open, not told
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
    late = _order(world, buyer, "bid", loan_id, UNIT, 9_000)
    chain.tx(market.functions.sell(late, UNIT), seller.address)
    index(settings)
    chain.mine_at(chain.now() + 8 * DAY)
    assert _pass(settings).investor_notices == 0
    assert _notices(settings, buyer.address) == []
