"""NoteMarket: an investor sells notes of an active loan to another verified investor, in part or in
full, paid straight to the seller; repayments received before the sale stay with the seller and
later ones go to the buyer; LoanBook's transfer rules hold; nothing is ever held by the market."""

from __future__ import annotations

from backend.chain import loan_terms as lt
from tests.contracts.helpers import DAY, events, expect_revert

UNIT = 10**6
MAX_UINT = 2**256 - 1


def _at(notes: int, price_bps: int, loan: dict, up: bool = False) -> int:
    """`notes` at `price_bps` of the principal they still stand for, rounded as NoteMarket rounds a
    buy (`up`) or a sale."""
    num, den = notes * price_bps * loan["principalOutstanding"], loan["principal"] * 10_000
    return -(-num // den) if up else num // den


def test_a_listing_sells_in_parts_and_later_repayments_follow_the_notes(world, snapshot):
    book, market, chain = world.book, world.market, world.chain
    seller, buyer, other = world.investors[:3]
    loan_id, start = world.active_loan(investors=[seller, world.investors[3]])
    chain.mine_at(start + 30 * DAY)
    world.repay(loan_id, book.functions.amountDue(loan_id).call()[0])
    earned_before_sale = book.functions.claimableOf(loan_id, seller.address).call()
    world.ready_for_market(seller, buyer, other)
    held = book.functions.balanceOf(seller.address, loan_id).call()

    receipt = chain.tx(market.functions.list(loan_id, held, 9_500, 0), seller.address)
    (listed,) = events(receipt, market, "Listed")
    listing_id = listed["listingId"]
    assert listed == {"listingId": listing_id, "seller": seller.address, "loanId": loan_id, "notes": held, "priceBps": 9_500,
                      "expiresAt": 0}
    half = held // 2 + 1  # odd on purpose: the price rounds up, in the seller's favour
    cost = market.functions.costOf(listing_id, half).call()
    assert cost == _at(half, 9_500, world.loan(loan_id), up=True)  # of the principal the notes still stand for
    seller_cash, buyer_cash = world.balance(seller), world.balance(buyer)
    receipt = chain.tx(world.buy(listing_id, half), buyer.address)
    assert events(receipt, market, "Sold") == [
        {"listingId": listing_id, "loanId": loan_id, "buyer": buyer.address, "seller": seller.address, "notes": half,
         "cost": cost, "notesLeft": held - half}
    ]
    assert (world.balance(seller) - seller_cash, buyer_cash - world.balance(buyer)) == (cost, cost)
    assert book.functions.balanceOf(buyer.address, loan_id).call() == half
    assert market.functions.listing(listing_id).call()[3] == held - half
    chain.tx(world.buy(listing_id, held - half), other.address)
    assert market.functions.listing(listing_id).call()[0] == "0x" + "00" * 20  # sold out: closed
    assert book.functions.balanceOf(seller.address, loan_id).call() == 0

    # What the seller earned before the sale stays the seller's; the next payment goes to the buyers.
    assert book.functions.claimableOf(loan_id, seller.address).call() == earned_before_sale
    assert book.functions.claimableOf(loan_id, buyer.address).call() == 0
    chain.mine_at(start + 60 * DAY)
    world.repay(loan_id, book.functions.amountDue(loan_id).call()[0])
    assert book.functions.claimableOf(loan_id, seller.address).call() == earned_before_sale
    assert book.functions.claimableOf(loan_id, buyer.address).call() > 0
    # Escrowless: the market never holds money or notes.
    assert world.balance(market.address) == 0 and book.functions.balanceOf(market.address, loan_id).call() == 0


def test_listing_and_buying_refuse_what_they_should(world, snapshot):
    book, market, chain = world.book, world.market, world.chain
    seller, buyer = world.investors[:2]
    funding, _ = world.create()
    world.fund(funding, seller, 100 * UNIT)
    loan_id, _ = world.active_loan()
    held = book.functions.balanceOf(seller.address, loan_id).call()
    s = seller.address

    expect_revert(chain, market.functions.list(loan_id, held, 9_000, 0), s, "NoteMarketNotApproved", s)
    world.ready_for_market(seller, buyer)
    expect_revert(chain, market.functions.list(loan_id, 0, 9_000, 0), s, "NoteMarketZeroNotes", loan_id)
    expect_revert(chain, market.functions.list(loan_id, held, 0, 0), s, "NoteMarketPriceOutOfRange", 0, 20_000)
    expect_revert(chain, market.functions.list(loan_id, held, 20_001, 0), s, "NoteMarketPriceOutOfRange", 20_001, 20_000)
    expect_revert(chain, market.functions.list(funding, 100 * UNIT, 9_000, 0), s, "NoteMarketLoanNotActive", funding, 1)
    expect_revert(chain, market.functions.list(loan_id, held + 1, 9_000, 0), s, "NoteMarketInsufficientNotes",
                  loan_id, held, held + 1)  # fmt: skip

    listing_id = events(chain.tx(market.functions.list(loan_id, held, 9_000, 0), s), market, "Listed")[0]["listingId"]
    b = buyer.address
    expect_revert(chain, world.buy(listing_id, 0), b, "NoteMarketZeroNotes", loan_id)
    expect_revert(chain, world.buy(listing_id, held + 1), b, "NoteMarketNotEnoughListed", listing_id, held, held + 1)
    expect_revert(chain, world.buy(listing_id, held), s, "NoteMarketSelfTrade", listing_id)
    expect_revert(chain, world.buy(listing_id + 1, 1), b, "NoteMarketListingClosed", listing_id + 1)
    expect_revert(chain, market.functions.delist(listing_id), b, "NoteMarketNotSeller", listing_id, b)
    # LoanBook's own transfer rules: an unverified buyer, or the loan's own borrower.
    chain.tx(world.token.functions.approve(market.address, MAX_UINT), world.outsider.address)
    expect_revert(chain, world.buy(listing_id, UNIT), world.outsider.address,
                  "LoanBookRecipientNotVerified", world.outsider.address, world.investor_level)  # fmt: skip
    chain.tx(world.token.functions.approve(market.address, MAX_UINT), world.borrower.address)
    expect_revert(chain, world.buy(listing_id, UNIT), world.borrower.address,
                  "LoanBookBorrowerCannotInvest", loan_id, world.borrower.address)  # fmt: skip

    # A listing whose seller moved the notes away cannot be bought, and nothing changes.
    chain.tx(book.functions.safeTransferFrom(s, world.investors[2].address, loan_id, held, b""), s)
    expect_revert(chain, world.buy(listing_id, UNIT), b, "ERC1155InsufficientBalance", s, 0, UNIT, loan_id)

    chain.tx(market.functions.pause(), world.admin.address)
    expect_revert(chain, world.buy(listing_id, UNIT), b, "EnforcedPause")
    expect_revert(chain, market.functions.list(loan_id, 1, 9_000, 0), s, "EnforcedPause")
    receipt = chain.tx(market.functions.delist(listing_id), s)  # a seller can always withdraw
    assert events(receipt, market, "Delisted") == [{"listingId": listing_id, "notesLeft": held}]
    expect_revert(chain, market.functions.delist(listing_id), s, "NoteMarketListingClosed", listing_id)
    expect_revert(chain, market.functions.pause(), b, "AccessControlUnauthorizedAccount", b,
                  market.functions.PAUSER_ROLE().call())  # fmt: skip


def test_a_bid_fills_in_parts_paid_by_the_bidder(world, snapshot):
    book, market, chain = world.book, world.market, world.chain
    first, second, bidder = world.investors[:3]
    loan_id, start = world.active_loan(investors=[first, second])
    chain.mine_at(start + 30 * DAY)
    world.repay(loan_id, book.functions.amountDue(loan_id).call()[0])
    earned_before_sale = book.functions.claimableOf(loan_id, first.address).call()
    world.ready_for_market(first, second, bidder)
    a, b = (book.functions.balanceOf(w.address, loan_id).call() for w in (first, second))
    wanted = a + b // 2

    receipt = chain.tx(market.functions.bid(loan_id, wanted, 9_801, 0), bidder.address)
    (placed,) = events(receipt, market, "BidPlaced")
    bid_id = placed["bidId"]
    assert placed == {"bidId": bid_id, "bidder": bidder.address, "loanId": loan_id, "notes": wanted, "priceBps": 9_801,
                      "expiresAt": 0}
    assert tuple(market.functions.bidOf(bid_id).call()) == (bidder.address, 9_801, loan_id, wanted, 0)

    proceeds = market.functions.proceedsOf(bid_id, a).call()
    assert proceeds == _at(a, 9_801, world.loan(loan_id))  # rounded down: the seller is the taker
    seller_cash, bidder_cash = world.balance(first), world.balance(bidder)
    receipt = chain.tx(world.sell(bid_id, a), first.address)
    assert events(receipt, market, "BidFilled") == [
        {"bidId": bid_id, "loanId": loan_id, "buyer": bidder.address, "seller": first.address, "notes": a,
         "proceeds": proceeds, "notesLeft": wanted - a}
    ]
    assert (world.balance(first) - seller_cash, bidder_cash - world.balance(bidder)) == (proceeds, proceeds)
    assert book.functions.balanceOf(bidder.address, loan_id).call() == a
    assert market.functions.bidOf(bid_id).call()[3] == wanted - a
    chain.tx(world.sell(bid_id, wanted - a), second.address)
    assert market.functions.bidOf(bid_id).call()[0] == "0x" + "00" * 20  # filled: closed
    assert book.functions.balanceOf(bidder.address, loan_id).call() == wanted
    assert book.functions.balanceOf(second.address, loan_id).call() == b - b // 2

    # As with a listing, what the seller earned before the sale stays the seller's.
    assert book.functions.claimableOf(loan_id, first.address).call() == earned_before_sale
    assert book.functions.claimableOf(loan_id, bidder.address).call() == 0
    chain.mine_at(start + 60 * DAY)
    world.repay(loan_id, book.functions.amountDue(loan_id).call()[0])
    assert book.functions.claimableOf(loan_id, first.address).call() == earned_before_sale
    assert book.functions.claimableOf(loan_id, bidder.address).call() > 0
    assert world.balance(market.address) == 0 and book.functions.balanceOf(market.address, loan_id).call() == 0


def test_bidding_and_selling_refuse_what_they_should(world, snapshot):
    book, market, chain, token = world.book, world.market, world.chain, world.token
    seller, bidder = world.investors[:2]
    funding, _ = world.create()
    world.fund(funding, seller, 100 * UNIT)
    loan_id, _ = world.active_loan(investors=[seller])
    held = book.functions.balanceOf(seller.address, loan_id).call()
    s, b = seller.address, bidder.address
    full = held * 9_000 // 10_000

    chain.tx(token.functions.approve(market.address, full - 1), b)
    expect_revert(chain, market.functions.bid(loan_id, held, 9_000, 0), b, "NoteMarketAllowanceTooLow", b, full - 1, full)
    chain.tx(token.functions.approve(market.address, full), b)
    expect_revert(chain, market.functions.bid(loan_id, 0, 9_000, 0), b, "NoteMarketZeroNotes", loan_id)
    expect_revert(chain, market.functions.bid(loan_id, held, 0, 0), b, "NoteMarketPriceOutOfRange", 0, 20_000)
    expect_revert(chain, market.functions.bid(loan_id, held, 20_001, 0), b, "NoteMarketPriceOutOfRange", 20_001, 20_000)
    expect_revert(chain, market.functions.bid(funding, UNIT, 9_000, 0), b, "NoteMarketLoanNotActive", funding, 1)

    bid_id = events(chain.tx(market.functions.bid(loan_id, held, 9_000, 0), b), market, "BidPlaced")[0]["bidId"]
    expect_revert(chain, world.sell(bid_id, UNIT), s, "NoteMarketNotApproved", s)
    chain.tx(book.functions.setApprovalForAll(market.address, True), s)
    expect_revert(chain, world.sell(bid_id, 0), s, "NoteMarketZeroNotes", loan_id)
    expect_revert(chain, world.sell(bid_id, held + 1), s, "NoteMarketNotEnoughBid", bid_id, held, held + 1)
    expect_revert(chain, world.sell(bid_id, UNIT), b, "NoteMarketSelfTrade", bid_id)
    expect_revert(chain, world.sell(bid_id + 1, UNIT), s, "NoteMarketBidClosed", bid_id + 1)
    expect_revert(chain, market.functions.cancelBid(bid_id), s, "NoteMarketNotBidder", bid_id, s)
    # A seller cannot sell notes it does not hold.
    other = world.investors[2].address
    chain.tx(book.functions.setApprovalForAll(market.address, True), other)
    expect_revert(chain, world.sell(bid_id, UNIT), other, "ERC1155InsufficientBalance", other, 0, UNIT, loan_id)
    # A bidder who spent the money meanwhile: the bid fails when hit, and nothing changes.
    cash = world.balance(bidder)
    chain.tx(token.functions.transfer(other, cash), b)
    expect_revert(chain, world.sell(bid_id, UNIT), s, "ERC20InsufficientBalance", b, 0, UNIT * 9 // 10)
    # LoanBook's rules for receiving notes, at the bid: an unverified bidder, or the loan's own borrower,
    # cannot place a bid that could never fill.
    outsider, borrower, level = world.outsider.address, world.borrower.address, world.investor_level
    for wallet in (outsider, borrower):
        chain.tx(token.functions.approve(market.address, MAX_UINT), wallet)
    expect_revert(chain, market.functions.bid(loan_id, UNIT, 9_000, 0), outsider, "NoteMarketBidderNotVerified", outsider, level)
    expect_revert(chain, market.functions.bid(loan_id, UNIT, 9_000, 0), borrower, "NoteMarketBidderIsBorrower", loan_id, borrower)
    # And again at the fill, by LoanBook: a bidder whose KYC was revoked after bidding.
    revoked = world.investors[3]
    world.ready_for_market(revoked)
    lapsed = world.place(revoked, "bid", loan_id, UNIT, 9_000)
    chain.tx(world.kyc.functions.revoke(revoked.address), world.admin.address)
    expect_revert(chain, market.functions.bid(loan_id, UNIT, 9_000, 0), revoked.address, "NoteMarketBidderNotVerified",
                  revoked.address, level)  # fmt: skip
    expect_revert(chain, world.sell(lapsed, UNIT), s, "LoanBookRecipientNotVerified", revoked.address, level)

    chain.tx(market.functions.pause(), world.admin.address)
    expect_revert(chain, world.sell(bid_id, UNIT), s, "EnforcedPause")
    expect_revert(chain, market.functions.bid(loan_id, 1, 9_000, 0), b, "EnforcedPause")
    receipt = chain.tx(market.functions.cancelBid(bid_id), b)  # a bidder can always withdraw
    assert events(receipt, market, "BidCancelled") == [{"bidId": bid_id, "notesLeft": held}]
    expect_revert(chain, market.functions.cancelBid(bid_id), b, "NoteMarketBidClosed", bid_id)


def test_orders_expire_at_their_time_and_can_still_be_withdrawn(world, snapshot):
    market, chain = world.market, world.chain
    seller, buyer = world.investors[:2]
    loan_id, _ = world.active_loan(investors=[seller, world.investors[3]])
    world.ready_for_market(seller, buyer)
    s, b, now = seller.address, buyer.address, world.chain.now()
    expect_revert(chain, market.functions.list(loan_id, UNIT, 9_500, now + 5), s, "NoteMarketExpiryInPast", now + 5, now + 5,
                  at=now + 5)  # fmt: skip
    expect_revert(chain, market.functions.bid(loan_id, UNIT, 9_000, now + 4), b, "NoteMarketExpiryInPast", now + 4, now + 5,
                  at=now + 5)  # fmt: skip

    ends = now + 7 * DAY
    listed = events(chain.tx(market.functions.list(loan_id, 2 * UNIT, 9_500, ends), s), market, "Listed")[0]
    placed = events(chain.tx(market.functions.bid(loan_id, 2 * UNIT, 9_000, ends), b), market, "BidPlaced")[0]
    assert listed["expiresAt"] == placed["expiresAt"] == ends
    listing_id, bid_id = listed["listingId"], placed["bidId"]
    assert market.functions.listing(listing_id).call()[4] == market.functions.bidOf(bid_id).call()[4] == ends
    chain.tx(world.buy(listing_id, UNIT), b, at=ends - 2)  # the last seconds still trade
    chain.tx(world.sell(bid_id, UNIT), s, at=ends - 1)
    assert market.functions.listing(listing_id).call()[4] == ends  # a partial fill keeps the expiry

    expect_revert(chain, world.buy(listing_id, UNIT), b, "NoteMarketOrderExpired", listing_id, ends, at=ends)
    expect_revert(chain, world.sell(bid_id, UNIT), s, "NoteMarketOrderExpired", bid_id, ends, at=ends)
    chain.mine_at(ends + DAY)
    assert events(chain.tx(market.functions.delist(listing_id), s), market, "Delisted") == [{"listingId": listing_id, "notesLeft": UNIT}]
    assert events(chain.tx(market.functions.cancelBid(bid_id), b), market, "BidCancelled") == [{"bidId": bid_id, "notesLeft": UNIT}]


def test_makers_reprice_their_own_orders_in_place(world, snapshot):
    market, chain, token = world.market, world.chain, world.token
    seller, bidder = world.investors[:2]
    loan_id, _ = world.active_loan(investors=[seller, world.investors[3]])
    world.ready_for_market(seller)
    s, b = seller.address, bidder.address
    listing_id = events(chain.tx(market.functions.list(loan_id, 2 * UNIT, 9_500, 0), s), market, "Listed")[0]["listingId"]
    chain.tx(token.functions.approve(market.address, UNIT * 9 // 10), b)
    bid_id = events(chain.tx(market.functions.bid(loan_id, UNIT, 9_000, 0), b), market, "BidPlaced")[0]["bidId"]

    assert events(chain.tx(market.functions.reprice(listing_id, 9_200), s), market, "Repriced") == [
        {"listingId": listing_id, "priceBps": 9_200}]
    assert market.functions.listing(listing_id).call()[1] == 9_200 and market.functions.costOf(listing_id, UNIT).call() == UNIT * 92 // 100
    expect_revert(chain, market.functions.reprice(listing_id, 9_000), b, "NoteMarketNotSeller", listing_id, b)
    expect_revert(chain, market.functions.reprice(listing_id, 0), s, "NoteMarketPriceOutOfRange", 0, 20_000)
    expect_revert(chain, market.functions.reprice(listing_id + 1, 9_000), s, "NoteMarketListingClosed", listing_id + 1)

    # A bid repriced upwards needs the allowance to cover it at the new price.
    expect_revert(chain, market.functions.repriceBid(bid_id, 9_100), b, "NoteMarketAllowanceTooLow", b, UNIT * 9 // 10,
                  UNIT * 91 // 100)  # fmt: skip
    assert events(chain.tx(market.functions.repriceBid(bid_id, 8_800), b), market, "BidRepriced") == [
        {"bidId": bid_id, "priceBps": 8_800}]
    assert market.functions.bidOf(bid_id).call()[1] == 8_800
    expect_revert(chain, market.functions.repriceBid(bid_id, 9_000), s, "NoteMarketNotBidder", bid_id, s)
    chain.tx(market.functions.pause(), world.admin.address)
    expect_revert(chain, market.functions.reprice(listing_id, 9_000), s, "EnforcedPause")
    expect_revert(chain, market.functions.repriceBid(bid_id, 8_000), b, "EnforcedPause")


def test_a_maker_repricing_after_the_quote_makes_the_takers_fill_revert(world, snapshot):
    """The front-run: a seller raises its listing, or a bidder drops its bid to 1 bps, between the
    taker's quote and its transaction. The taker's limit (the quote) makes the fill revert with
    NoteMarketPriceMoved, and no money, notes or order changes; at or within the quote it fills."""
    book, market, chain = world.book, world.market, world.chain
    seller, buyer = world.investors[:2]
    loan_id, _ = world.active_loan(investors=[seller, world.investors[3]])
    world.ready_for_market(seller, buyer)
    s, b = seller.address, buyer.address
    listing_id = world.place(seller, "ask", loan_id, 2 * UNIT, 9_500)
    bid_id = world.place(buyer, "bid", loan_id, 2 * UNIT, 9_000)
    notes = UNIT + 1  # odd on purpose: the quotes are rounded, up for the buyer and down for the seller
    max_cost = market.functions.costOf(listing_id, notes).call()
    min_proceeds = market.functions.proceedsOf(bid_id, notes).call()
    assert (max_cost, min_proceeds) == (-(-notes * 9_500 // 10_000), notes * 9_000 // 10_000)

    def state():
        return (world.balance(seller), world.balance(buyer), book.functions.balanceOf(s, loan_id).call(),
                book.functions.balanceOf(b, loan_id).call(), tuple(market.functions.listing(listing_id).call()),
                tuple(market.functions.bidOf(bid_id).call()))  # fmt: skip

    chain.tx(market.functions.reprice(listing_id, 9_501), s)  # one bps above the quote
    chain.tx(market.functions.repriceBid(bid_id, 1), b)  # the bidder's front-run: notes for almost nothing
    before = state()
    expect_revert(chain, market.functions.buy(listing_id, notes, max_cost), b, "NoteMarketPriceMoved", listing_id,
                  -(-notes * 9_501 // 10_000), max_cost)  # fmt: skip
    expect_revert(chain, market.functions.sell(bid_id, notes, min_proceeds), s, "NoteMarketPriceMoved", bid_id,
                  notes // 10_000, min_proceeds)  # fmt: skip
    assert state() == before

    # Back at the quote, or better for the taker, each fills at the order's price now, never past the limit.
    chain.tx(market.functions.reprice(listing_id, 9_400), s)
    chain.tx(market.functions.repriceBid(bid_id, 9_000), b)
    cheaper = -(-notes * 9_400 // 10_000)
    receipt = chain.tx(market.functions.buy(listing_id, notes, max_cost), b)
    assert events(receipt, market, "Sold")[0]["cost"] == cheaper < max_cost
    receipt = chain.tx(market.functions.sell(bid_id, notes, min_proceeds), s)
    assert events(receipt, market, "BidFilled")[0]["proceeds"] == min_proceeds
    assert world.balance(seller) - before[0] == before[1] - world.balance(buyer) == cheaper + min_proceeds


def test_anyone_matches_a_crossed_listing_and_bid_at_their_midpoint(world, snapshot):
    book, market, chain = world.book, world.market, world.chain
    seller, bidder, keeper = world.investors[0], world.investors[1], world.outsider
    loan_id, _ = world.active_loan(investors=[seller, world.investors[3]])
    world.ready_for_market(seller, bidder)
    held = book.functions.balanceOf(seller.address, loan_id).call()
    listing_id = world.place(seller, "ask", loan_id, held, 9_500)
    bid_id = world.place(bidder, "bid", loan_id, 3 * UNIT + 1, 9_701)  # the book is crossed: 97.01 >= 95

    notes = 2 * UNIT + 1  # odd on purpose: the midpoint rounds down, never above the bid's own price
    cost = notes * (9_500 + 9_701) // 20_000
    assert cost <= market.functions.proceedsOf(bid_id, notes).call()
    seller_cash, bidder_cash, keeper_cash = world.balance(seller), world.balance(bidder), world.balance(keeper)
    receipt = chain.tx(market.functions.matchOrders(listing_id, bid_id, notes), keeper.address)
    assert events(receipt, market, "Matched") == [
        {"listingId": listing_id, "bidId": bid_id, "loanId": loan_id, "buyer": bidder.address, "seller": seller.address,
         "notes": notes, "cost": cost, "listingNotesLeft": held - notes, "bidNotesLeft": UNIT}
    ]
    assert (world.balance(seller) - seller_cash, bidder_cash - world.balance(bidder)) == (cost, cost)
    assert book.functions.balanceOf(bidder.address, loan_id).call() == notes
    assert market.functions.listing(listing_id).call()[3] == held - notes
    assert market.functions.bidOf(bid_id).call()[3] == UNIT

    chain.tx(market.functions.matchOrders(listing_id, bid_id, UNIT), keeper.address)
    assert market.functions.bidOf(bid_id).call()[0] == "0x" + "00" * 20  # filled: closed
    assert market.functions.listing(listing_id).call()[3] == held - notes - UNIT  # the rest stays listed
    assert world.balance(market.address) == 0 and book.functions.balanceOf(market.address, loan_id).call() == 0
    assert world.balance(keeper) == keeper_cash  # the keeper pays gas, nothing else, and gets nothing


def test_a_match_never_pays_the_seller_less_than_a_buy_nor_costs_the_bidder_more_than_a_sale(world, snapshot):
    """One-note fills, where rounding the midpoint down used to hand the seller nothing for a note a
    buyer would have paid 1 for: the seller gets at least the ask's cost (rounded up), the bidder
    pays at most what its bid pays a seller (rounded down), and a fill with no such amount reverts."""
    book, market, chain = world.book, world.market, world.chain
    seller, bidder, keeper = world.investors[0], world.investors[1], world.outsider.address
    loan_id, _ = world.active_loan(investors=[seller, world.investors[3]])
    world.ready_for_market(seller, bidder)
    ask = world.place(seller, "ask", loan_id, 10 * UNIT, 9_500)
    bid = world.place(bidder, "bid", loan_id, 10 * UNIT, 10_000)

    def matched(listing_id, bid_id, notes):
        return events(chain.tx(market.functions.matchOrders(listing_id, bid_id, notes), keeper), market, "Matched")[0]["cost"]

    # The midpoint of 95% and 100% for one note rounds down to 0; a buy of it pays 1, a sale into the bid gets 1.
    assert 1 * (9_500 + 10_000) // 20_000 == 0
    assert market.functions.costOf(ask, 1).call() == market.functions.proceedsOf(bid, 1).call() == 1
    seller_cash = world.balance(seller)
    assert [matched(ask, bid, 1) for _ in range(3)] == [1, 1, 1]  # splitting never costs the seller
    assert world.balance(seller) - seller_cash == 3
    assert book.functions.balanceOf(bidder.address, loan_id).call() == 3
    # Where the midpoint covers the ask's cost it stands: 2 * (95% + 100%) / 2 = 1.95, rounded down to 1, is
    # under the 2 a buy of two notes pays; 100 notes at the midpoint, 97.5, is above the buy's 95.
    assert matched(ask, bid, 2) == 2 and matched(ask, bid, 100) == 100 * 19_500 // 20_000 == 97
    # One note between 95% and 97%: a buy of it pays 1, a sale into the bid gets 0; no amount serves both.
    chain.tx(market.functions.repriceBid(bid, 9_700), bidder.address)
    expect_revert(chain, market.functions.matchOrders(ask, bid, 1), keeper, "NoteMarketSpreadTooThin", ask, bid, 1, 0)
    # Equal prices match only amounts whose cost is whole at that price.
    chain.tx(market.functions.repriceBid(bid, 9_500), bidder.address)
    expect_revert(chain, market.functions.matchOrders(ask, bid, UNIT + 1), keeper, "NoteMarketSpreadTooThin", ask, bid,
                  UNIT * 95 // 100 + 1, UNIT * 95 // 100)  # fmt: skip
    assert matched(ask, bid, UNIT) == UNIT * 95 // 100
    assert world.balance(market.address) == 0


def test_matching_refuses_what_it_should(world, snapshot):
    market, chain = world.market, world.chain
    seller, bidder, keeper = world.investors[0], world.investors[1], world.outsider.address
    loan_id, _ = world.active_loan(investors=[seller, bidder])
    other_loan, _ = world.active_loan(investors=[seller, bidder])
    world.ready_for_market(seller, bidder)
    ends = chain.now() + 7 * DAY
    ask = world.place(seller, "ask", loan_id, 2 * UNIT, 9_500, ends)
    low_bid = world.place(bidder, "bid", loan_id, 2 * UNIT, 9_400)
    bid = world.place(bidder, "bid", loan_id, UNIT, 9_600, ends - DAY)
    elsewhere = world.place(bidder, "bid", other_loan, UNIT, 9_900)
    own_bid = world.place(seller, "bid", loan_id, UNIT, 9_900)

    def refused(listing_id, bid_id, notes, error, *args, at=None):
        expect_revert(chain, market.functions.matchOrders(listing_id, bid_id, notes), keeper, error, *args, at=at)

    refused(ask, bid, 0, "NoteMarketZeroNotes", loan_id)
    refused(ask, low_bid, 2 * UNIT + 1, "NoteMarketNotEnoughListed", ask, 2 * UNIT, 2 * UNIT + 1)
    refused(ask, bid, UNIT + 1, "NoteMarketNotEnoughBid", bid, UNIT, UNIT + 1)
    refused(ask, low_bid, UNIT, "NoteMarketNotCrossed", ask, low_bid, 9_500, 9_400)
    chain.tx(market.functions.repriceBid(low_bid, 9_500), bidder.address)  # at the ask: crossed, and it matches
    chain.tx(market.functions.matchOrders(ask, low_bid, UNIT), keeper)
    chain.tx(market.functions.repriceBid(low_bid, 9_400), bidder.address)
    refused(ask, elsewhere, UNIT, "NoteMarketLoanMismatch", ask, elsewhere, loan_id, other_loan)
    refused(ask, own_bid, UNIT, "NoteMarketSelfMatch", ask, own_bid, seller.address)
    refused(ask + 1, bid, UNIT, "NoteMarketListingClosed", ask + 1)
    refused(ask, own_bid + 1, UNIT, "NoteMarketBidClosed", own_bid + 1)
    # A maker who took its approval back cannot be matched, and nothing changes.
    chain.tx(world.token.functions.approve(market.address, 0), bidder.address)
    refused(ask, bid, UNIT, "ERC20InsufficientAllowance", market.address, 0, UNIT * 9_550 // 10_000)
    chain.tx(world.token.functions.approve(market.address, MAX_UINT), bidder.address)
    chain.tx(world.book.functions.setApprovalForAll(market.address, False), seller.address)
    refused(ask, bid, UNIT, "ERC1155MissingApprovalForAll", market.address, seller.address)
    chain.tx(world.book.functions.setApprovalForAll(market.address, True), seller.address)
    chain.tx(market.functions.pause(), world.admin.address)
    refused(ask, bid, UNIT, "EnforcedPause")
    chain.tx(market.functions.unpause(), world.admin.address)
    refused(ask, bid, UNIT, "NoteMarketOrderExpired", bid, ends - DAY, at=ends - DAY)
    refused(ask, low_bid, UNIT, "NoteMarketOrderExpired", ask, ends, at=ends)


# ---- prices per unit of principal outstanding (audit M-1): an order keeps its meaning as the loan amortizes


def _a_standing_bid_for_all_of_a_sellers_notes(world):
    """The audit's setup: a 97% bid, left standing, for every note one of a loan's two funders holds."""
    seller, bidder, other = world.investors[:3]
    loan_id, start = world.active_loan(investors=[seller, other])
    world.ready_for_market(seller, bidder)
    notes = world.book.functions.balanceOf(seller.address, loan_id).call()
    return seller, bidder, loan_id, start, notes, world.place(bidder, "bid", loan_id, notes, 9_700)


def test_a_standing_bid_pays_nothing_for_principal_a_prepayment_returned(world, snapshot):
    """The audit's PoC A: a 97% bid left standing while the borrower prepays all but one unit. The
    seller keeps the prepayment (it claims it) and the sale then pays only for the unit still
    outstanding: 97% of it rounds to nothing, so the bidder loses nothing."""
    book, chain = world.book, world.chain
    seller, bidder, loan_id, start, notes, bid_id = _a_standing_bid_for_all_of_a_sellers_notes(world)
    assert world.market.functions.proceedsOf(bid_id, notes).call() == notes * 9_700 // 10_000  # nothing repaid yet

    # In the last day of the first period (its whole interest earned), one unit short of the payoff.
    loan = world.loan(loan_id)
    chain.mine_at(start + loan["installmentPeriod"] - 3_600)
    interest = lt.period_interest(loan["principal"], loan["aprBps"], loan["installmentPeriod"])
    world.repay(loan_id, interest + loan["principal"] - 1)
    loan = world.loan(loan_id)
    assert (loan["status"], loan["principalOutstanding"]) == (2, 1)
    assert world.market.functions.proceedsOf(bid_id, notes).call() == _at(notes, 9_700, loan) == 0
    chain.tx(book.functions.claim(loan_id), seller.address)
    bidder_cash = world.balance(bidder)
    receipt = chain.tx(world.sell(bid_id, notes), seller.address)
    assert events(receipt, world.market, "BidFilled")[0]["proceeds"] == 0
    assert world.balance(bidder) == bidder_cash


def test_a_standing_bid_pays_its_price_of_what_installments_left_outstanding(world, snapshot):
    """The audit's PoC B: the same 97% bid after 6 of 12 installments pays 97% of the ~51.5% of
    principal still outstanding, and the rest of the schedule returns the bidder more than it paid."""
    book, chain = world.book, world.chain
    seller, bidder, loan_id, start, notes, bid_id = _a_standing_bid_for_all_of_a_sellers_notes(world)
    for k in range(1, 7):
        chain.mine_at(start + k * 30 * DAY)
        world.repay(loan_id, book.functions.amountDue(loan_id).call()[0])
    loan = world.loan(loan_id)
    assert 0.5 < loan["principalOutstanding"] / loan["principal"] < 0.52
    bidder_cash = world.balance(bidder)
    chain.tx(world.sell(bid_id, notes), seller.address)
    paid = bidder_cash - world.balance(bidder)
    assert paid == _at(notes, 9_700, loan)
    for k in range(7, 13):
        chain.mine_at(start + k * 30 * DAY)
        world.repay(loan_id, book.functions.amountDue(loan_id).call()[0])
    assert world.loan(loan_id)["status"] == 3  # Repaid
    assert book.functions.claimableOf(loan_id, bidder.address).call() > paid


def test_listings_and_matches_price_the_principal_outstanding_even_for_notes_moved_out_and_back(world, snapshot):
    """A listing whose seller moves the notes away, collects a repayment meanwhile (the notes' new
    holder does) and gets them back still fills, but at its price of what the notes stand for now,
    never of their original face; a match after a repayment likewise."""
    book, market, chain = world.book, world.market, world.chain
    seller, buyer, parking = world.investors[:3]
    loan_id, start = world.active_loan(investors=[seller, world.investors[3]])
    world.ready_for_market(seller, buyer)
    held = book.functions.balanceOf(seller.address, loan_id).call()
    listing_id = world.place(seller, "ask", loan_id, held, 9_900)
    bid_id = world.place(buyer, "bid", loan_id, held, 10_100)
    chain.tx(book.functions.safeTransferFrom(seller.address, parking.address, loan_id, held, b""), seller.address)
    chain.mine_at(start + 30 * DAY)
    world.repay(loan_id, book.functions.amountDue(loan_id).call()[0])
    chain.tx(book.functions.safeTransferFrom(parking.address, seller.address, loan_id, held, b""), parking.address)
    loan = world.loan(loan_id)
    assert loan["principalOutstanding"] < loan["principal"]

    notes = UNIT + 1
    cost = _at(notes, 9_900, loan, up=True)
    assert market.functions.costOf(listing_id, notes).call() == cost < -(-notes * 9_900 // 10_000)
    receipt = chain.tx(world.buy(listing_id, notes), buyer.address)
    assert events(receipt, market, "Sold")[0]["cost"] == cost
    # Matched: the midpoint of what the notes stand for, never below the ask's cost nor above the bid's proceeds.
    midpoint = notes * (9_900 + 10_100) * loan["principalOutstanding"] // (2 * loan["principal"] * 10_000)
    receipt = chain.tx(market.functions.matchOrders(listing_id, bid_id, notes), world.outsider.address)
    assert events(receipt, market, "Matched")[0]["cost"] == midpoint
    assert cost <= midpoint <= _at(notes, 10_100, loan)
    # A closed order costs and pays nothing.
    chain.tx(market.functions.delist(listing_id), seller.address)
    chain.tx(market.functions.cancelBid(bid_id), buyer.address)
    assert market.functions.costOf(listing_id, notes).call() == market.functions.proceedsOf(bid_id, notes).call() == 0


def test_a_bid_needs_the_allowance_for_what_it_pays_now(world, snapshot):
    """`bid` and `repriceBid` ask the allowance to cover the bid at the principal outstanding now,
    which only falls while the loan is active."""
    book, market, chain, token = world.book, world.market, world.chain, world.token
    bidder = world.investors[1]
    loan_id, start = world.active_loan(investors=[world.investors[0], world.investors[3]])
    chain.mine_at(start + 30 * DAY)
    world.repay(loan_id, book.functions.amountDue(loan_id).call()[0])
    loan, b = world.loan(loan_id), bidder.address
    needed = _at(10 * UNIT, 9_000, loan)
    chain.tx(token.functions.approve(market.address, needed - 1), b)
    expect_revert(chain, market.functions.bid(loan_id, 10 * UNIT, 9_000, 0), b, "NoteMarketAllowanceTooLow", b,
                  needed - 1, needed)  # fmt: skip
    chain.tx(token.functions.approve(market.address, needed), b)
    bid_id = world.place(bidder, "bid", loan_id, 10 * UNIT, 9_000)
    expect_revert(chain, market.functions.repriceBid(bid_id, 9_100), b, "NoteMarketAllowanceTooLow", b, needed,
                  _at(10 * UNIT, 9_100, loan))  # fmt: skip


def test_notes_of_a_loan_owing_only_late_fees_do_not_trade(world, snapshot):
    """All its principal repaid, a late fee still owed: LoanBook keeps the loan Active until the fee
    is paid, and its notes still earn that fee, but every price is a share of the principal
    outstanding, now zero. Taking or matching an order, or placing one, is refused instead of moving
    notes for nothing."""
    book, market, chain = world.book, world.market, world.chain
    seller, bidder = world.investors[:2]
    loan_id, start = world.active_loan(investors=[seller, world.investors[2]])
    world.ready_for_market(seller, bidder)
    ask = world.place(seller, "ask", loan_id, UNIT, 9_500)
    bid = world.place(bidder, "bid", loan_id, UNIT, 9_600)
    loan = world.loan(loan_id)
    period = loan["installmentPeriod"]
    rows = lt.schedule(loan["principal"], loan["aprBps"], period, loan["installments"])
    world.repay(loan_id, rows[0].amount, at=start + period + 20 * DAY)  # late: a fee, left owing
    for row in rows[1:]:
        world.repay(loan_id, row.amount, at=start + row.number * period)
    loan = world.loan(loan_id)
    assert (loan["status"], loan["principalOutstanding"]) == (2, 0) and loan["feesDue"] > 0
    fees = loan["feesDue"]
    keeper = world.outsider.address
    expect_revert(chain, market.functions.matchOrders(ask, bid, UNIT), keeper, "NoteMarketNothingOutstanding", loan_id, fees)
    expect_revert(chain, market.functions.buy(ask, UNIT, MAX_UINT), bidder.address, "NoteMarketNothingOutstanding",
                  loan_id, fees)  # fmt: skip
    expect_revert(chain, world.sell(bid, UNIT), seller.address, "NoteMarketNothingOutstanding", loan_id, fees)
    assert book.functions.balanceOf(seller.address, loan_id).call() > 0  # still the seller's, earning the fee


def test_notes_of_a_loan_past_defaultable_at_do_not_trade_until_it_is_cured(world, snapshot):
    """The review's M-1: a loan that stopped paying stays Active until someone calls `markDefault`,
    but past `defaultableAt` anyone may, and the reserve covers only part of its principal. Standing
    bids must not fill there (nor listings, matches or new orders) at the stale principal
    outstanding: at `defaultableAt` itself an order still fills, a second later every fill and new
    order reverts `NoteMarketLoanDefaultable`. A payment that moves `defaultableAt` reopens trading."""
    book, market, chain = world.book, world.market, world.chain
    seller, bidder = world.investors[:2]
    loan_id, start = world.active_loan(investors=[seller, world.investors[2]])
    world.ready_for_market(seller, bidder)
    ask = world.place(seller, "ask", loan_id, 3 * UNIT, 9_900)
    bid = world.place(bidder, "bid", loan_id, 3 * UNIT, 10_000)  # no expiry, the API's default
    defaultable = book.functions.defaultableAt(loan_id).call()
    assert defaultable == start + 30 * DAY + 120 * DAY  # the first due date unpaid, then defaultAfter

    chain.tx(world.sell(bid, UNIT), seller.address, at=defaultable)  # at defaultableAt: still trades
    keeper, b, s = world.outsider.address, bidder.address, seller.address
    after = defaultable + 1
    for fn, sender in [(market.functions.sell(bid, UNIT, 0), s), (market.functions.buy(ask, UNIT, MAX_UINT), b),
                       (market.functions.matchOrders(ask, bid, UNIT), keeper),
                       (market.functions.list(loan_id, UNIT, 9_000, 0), s),
                       (market.functions.bid(loan_id, UNIT, 9_000, 0), b)]:  # fmt: skip
        expect_revert(chain, fn, sender, "NoteMarketLoanDefaultable", loan_id, defaultable, at=after)
    chain.mine_at(after)
    assert world.loan(loan_id)["status"] == 2  # still Active: nobody marked it defaulted

    # The borrower catches up: defaultableAt moves past the next unpaid due date, and trading reopens.
    world.repay(loan_id, book.functions.amountDue(loan_id).call()[0])
    assert book.functions.defaultableAt(loan_id).call() > chain.now()
    receipt = chain.tx(market.functions.matchOrders(ask, bid, UNIT), keeper)
    assert events(receipt, market, "Matched")[0]["bidNotesLeft"] == UNIT
