"""Orders that can no longer fill: NoteMarket holds neither a bid's money nor a listing's notes, so an
order stays in the book after its maker revoked its allowance or its approval, moved the money or the
notes, or lost its KYC. The API steers a new order only towards one that taking would fill (the
keeper's own checks), so such an order (placed on purpose for 2 base units, or left behind) never bars
anyone from listing or bidding; and taking one gets a 409, never a transaction that reverts. A
purchase leaves the allowance the wallet's open bids rely on."""

from __future__ import annotations

from tests.contracts.conftest import chain, world  # noqa: F401
from tests.identity.conftest import client_for, minted_bearer
from tests.lending.test_wallet_txs import _send
from tests.market.conftest import index as _index

UNIT = 10**6


def test_an_unpayable_bid_bars_no_listing_and_taking_it_is_refused(settings, world):  # noqa: F811
    holder, bidder, other = world.investors[0], world.investors[1], world.investors[3]
    loan_id, _ = world.active_loan(investors=[holder, other])
    _index(settings)
    client = client_for(settings)
    as_holder, as_bidder = minted_bearer(settings, holder), minted_bearer(settings, bidder)
    bid = client.post("/api/v1/market/bids", json={"loan_id": loan_id, "notes": 1_000 * UNIT, "price_bps": 9_000},
                      headers=as_bidder).json()  # fmt: skip
    _send(world.w3, bidder, bid["transactions"])
    _index(settings)
    (open_bid,) = client.get("/api/v1/market/bids").json()
    offer = {"loan_id": loan_id, "notes": 500 * UNIT, "price_bps": 8_500}
    live = client.post("/api/v1/market/listings", json=offer, headers=as_holder)  # while it can pay: take it instead
    assert live.status_code == 409 and live.json()["context"]["bid_id"] == open_bid["bid_id"]

    world.chain.tx(world.token.functions.approve(world.market.address, 0), bidder.address)  # the bid can no longer fill
    listing = client.post("/api/v1/market/listings", json=offer, headers=as_holder)
    assert listing.status_code == 200, listing.text  # rests in the book; the keeper skips the dead bid too
    sale = client.post(f"/api/v1/market/bids/{open_bid['bid_id']}/sell", json={}, headers=as_holder)
    assert sale.status_code == 409 and "can no longer pay" in sale.json()["detail"]
    nothing = client.post("/api/v1/market/sell-now", json={"loan_id": loan_id}, headers=as_holder)
    assert nothing.status_code == 409 and "offer them for sale instead" in nothing.json()["detail"]  # which it now can
    _send(world.w3, holder, listing.json()["transactions"])
    _index(settings)
    assert [row["seller"] for row in client.get("/api/v1/market").json()] == [holder.address]

    # A bidder that can pay but is no longer verified: LoanBook would refuse it the notes.
    world.chain.tx(world.token.functions.approve(world.market.address, 2**256 - 1), bidder.address)
    world.chain.tx(world.kyc.functions.revoke(bidder.address), world.admin.address)
    unverified = client.post(f"/api/v1/market/bids/{open_bid['bid_id']}/sell", json={}, headers=as_holder)
    assert unverified.status_code == 409 and "no longer verified at KYC level" in unverified.json()["detail"]
    cheaper = client.post("/api/v1/market/listings", json=offer | {"price_bps": 8_000}, headers=as_holder)
    assert cheaper.status_code == 200, cheaper.text


def test_a_one_note_bid_at_the_top_price_does_not_freeze_listing(settings, world):  # noqa: F811
    holder, griefer, other = world.investors[0], world.investors[1], world.investors[3]
    loan_id, _ = world.active_loan(investors=[holder, other])
    node, market = world.chain, world.market
    node.tx(world.token.functions.approve(market.address, 2), griefer.address)
    bid_id = world.place(griefer, "bid", loan_id, 1, 20_000)  # 1 base unit of notes at 200%: 2 units of money
    node.tx(world.token.functions.approve(market.address, 0), griefer.address)
    _index(settings)
    client = client_for(settings)
    as_holder = minted_bearer(settings, holder)
    statuses = [client.post("/api/v1/market/listings", json={"loan_id": loan_id, "notes": 500 * UNIT, "price_bps": price},
                            headers=as_holder).status_code for price in (5_000, 10_000, 15_000, 20_000)]  # fmt: skip
    assert statuses == [200] * 4
    sale = client.post(f"/api/v1/market/bids/{bid_id}/sell", json={}, headers=as_holder)
    assert sale.status_code == 409 and "can no longer pay" in sale.json()["detail"]

    node.tx(world.token.functions.approve(market.address, 2), griefer.address)  # payable again: steered to it
    steered = client.post("/api/v1/market/listings", json={"loan_id": loan_id, "notes": 500 * UNIT, "price_bps": 20_000},
                          headers=as_holder)  # fmt: skip
    assert steered.status_code == 409 and steered.json()["context"]["bid_id"] == bid_id
    assert "sell into it instead" in steered.json()["detail"]


def test_a_one_note_listing_at_1bps_does_not_freeze_bidding_and_is_not_sold(settings, world):  # noqa: F811
    griefer, bidder, other = world.investors[0], world.investors[1], world.investors[3]
    loan_id, _ = world.active_loan(investors=[griefer, other])
    node, market, book = world.chain, world.market, world.book
    node.tx(book.functions.setApprovalForAll(market.address, True), griefer.address)
    listing_id = world.place(griefer, "ask", loan_id, 1, 1)  # 1 base unit of notes at 0.01% of face
    node.tx(book.functions.setApprovalForAll(market.address, False), griefer.address)
    _index(settings)
    client = client_for(settings)
    as_bidder = minted_bearer(settings, bidder)
    statuses = [client.post("/api/v1/market/bids", json={"loan_id": loan_id, "notes": 500 * UNIT, "price_bps": price},
                            headers=as_bidder).status_code for price in (1, 5_000, 10_000, 20_000)]  # fmt: skip
    assert statuses == [200] * 4
    buy = client.post(f"/api/v1/market/listings/{listing_id}/buy", json={}, headers=as_bidder)
    assert buy.status_code == 409 and "no longer lets NoteMarket move its notes" in buy.json()["detail"]

    # Approval back, but the notes gone: still no `buy` that would revert.
    node.tx(book.functions.setApprovalForAll(market.address, True), griefer.address)
    held = book.functions.balanceOf(griefer.address, loan_id).call()
    node.tx(book.functions.safeTransferFrom(griefer.address, other.address, loan_id, held, b""), griefer.address)
    moved = client.post(f"/api/v1/market/listings/{listing_id}/buy", json={}, headers=as_bidder)
    assert moved.status_code == 409 and moved.json()["context"] == {"listing_id": listing_id, "held": 0}
    assert "seller now holds 0.00 of notes" in moved.json()["detail"]
    assert client.post("/api/v1/market/bids", json={"loan_id": loan_id, "notes": UNIT, "price_bps": 5},
                       headers=as_bidder).status_code == 200  # fmt: skip

    # Deliverable again: a bid at or above its price is steered to buy it, and the buy goes through.
    node.tx(book.functions.safeTransferFrom(other.address, griefer.address, loan_id, 1, b""), other.address)
    steered = client.post("/api/v1/market/bids", json={"loan_id": loan_id, "notes": UNIT, "price_bps": 5}, headers=as_bidder)
    assert steered.status_code == 409 and steered.json()["context"]["listing_id"] == listing_id
    plan = client.post(f"/api/v1/market/listings/{listing_id}/buy", json={}, headers=as_bidder)
    assert plan.status_code == 200, plan.text
    _send(world.w3, bidder, plan.json()["transactions"])
    assert book.functions.balanceOf(bidder.address, loan_id).call() == 1


def test_a_purchase_leaves_the_allowance_the_open_bids_rely_on(settings, world):  # noqa: F811
    seller, bidder, other = world.investors[0], world.investors[1], world.investors[3]
    loan_a, _ = world.active_loan(investors=[seller, other])
    loan_b, _ = world.active_loan(investors=[other, world.investors[4]])
    _index(settings)
    client = client_for(settings)
    as_seller, as_bidder = minted_bearer(settings, seller), minted_bearer(settings, bidder)
    bid = client.post("/api/v1/market/bids", json={"loan_id": loan_b, "notes": 1_000 * UNIT, "price_bps": 9_000},
                      headers=as_bidder).json()  # fmt: skip
    _send(world.w3, bidder, bid["transactions"])  # approves 900 tokens, then bids
    listing = client.post("/api/v1/market/listings", json={"loan_id": loan_a, "notes": 2_000 * UNIT, "price_bps": 9_500},
                          headers=as_seller).json()  # fmt: skip
    _send(world.w3, seller, listing["transactions"])
    _index(settings)
    listing_id = client.get("/api/v1/market").json()[0]["listing_id"]
    assert client.get("/api/v1/portfolio", headers=as_bidder).json()["bid_commitment"] == 900 * UNIT

    purchase = client.post(f"/api/v1/market/listings/{listing_id}/buy", json={"notes": 2_000 * UNIT}, headers=as_bidder).json()
    assert [t["description"] for t in purchase["transactions"]] == [
        "allow NoteMarket to take up to 2,800.00 tokens from your wallet "
        "(this purchase and the 900.00 tokens your open bids would pay)",
        f"buy 2,000.00 of notes of loan {loan_a} for 1,900.00 tokens"]
    assert purchase["warnings"] == []  # the wallet holds enough for both
    _send(world.w3, bidder, purchase["transactions"])
    _index(settings)
    after = client.get("/api/v1/portfolio", headers=as_bidder).json()
    assert world.token.functions.allowance(bidder.address, world.market.address).call() == after["bid_commitment"] == 900 * UNIT
    assert not any("open bids" in w for w in after["warnings"])

    # Enough for the purchase but not for it and the bids as well: the buyer is told before sending.
    listing = client.post("/api/v1/market/listings", json={"loan_id": loan_a, "notes": 1_000 * UNIT, "price_bps": 9_500},
                          headers=as_seller).json()  # fmt: skip
    _send(world.w3, seller, listing["transactions"])
    _index(settings)
    keep = 1_000 * UNIT  # pays the 950 this costs, not the 900 the bid would pay as well
    world.chain.tx(world.token.functions.transfer(other.address, world.balance(bidder) - keep), bidder.address)
    second = client.get("/api/v1/market").json()[0]["listing_id"]
    short = client.post(f"/api/v1/market/listings/{second}/buy", json={}, headers=as_bidder).json()
    (warning,) = short["warnings"]
    assert warning == ("after this purchase the wallet holds 50.00 tokens, less than the 900.00 tokens your 1 open bid "
                       "would pay: a sale into it would fail; add money or cancel it")
    assert short["transactions"][0]["description"].startswith("allow NoteMarket to take up to 1,850.00 tokens")
