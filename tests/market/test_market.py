"""The notes' secondary market through the API: an investor lists notes of an active loan, another
buys part of them from its own wallet, the seller withdraws the rest; every step is a real
transaction, the listing and the trade reach the chain index, the statements show the sale and
the purchase, and every bad request gets a clear 4xx before any gas is spent."""

from __future__ import annotations

import json

import pytest
from sqlalchemy import select
from typer.testing import CliRunner

from backend.audit.trace import trace_loan
from backend.cli.main import app
from backend.config import get_settings
from backend.db.session import session_scope
from backend.lending.statement import statement_of
from backend.scoring.grade_pd import priced_pd
from backend.scoring.models import CreditDecision
from tests.anchoring.helpers import point_get_settings_at
from tests.contracts.conftest import chain, world  # noqa: F401
from tests.contracts.helpers import DAY, expect_revert
from tests.identity.conftest import PNG, client_for, make_applicant, minted_bearer, verify
from tests.identity.test_role_grants import SECOND_ADMIN, THIRD_ADMIN
from tests.lending.test_portfolio import _decision_hash
from tests.lending.test_wallet_txs import _send
from tests.market.conftest import index as _index
from tests.scoring.conftest import SAMPLE

UNIT = 10**6


def test_list_buy_part_and_withdraw_the_rest(settings, world, monkeypatch):  # noqa: F811
    seller, buyer = world.investors[0], world.investors[1]
    loan_id, _ = world.active_loan(investors=[seller, world.investors[3]])
    _index(settings)
    client = client_for(settings)
    as_seller, as_buyer = minted_bearer(settings, seller), minted_bearer(settings, buyer)
    held = world.book.functions.balanceOf(seller.address, loan_id).call()
    assert client.get("/api/v1/market").json() == []

    listing = client.post("/api/v1/market/listings", json={"loan_id": loan_id, "notes": held, "price_bps": 9_500},
                          headers=as_seller).json()  # fmt: skip
    assert [t["description"].split(" ")[0] for t in listing["transactions"]] == ["let", "offer"]  # approval first
    # The wallet's prompt speaks tokens, as the page does: notes by the principal they stand for.
    assert listing["transactions"][1]["description"] == f"offer {held / UNIT:,.2f} of notes of loan {loan_id} at 95.00% of the principal outstanding"
    seller_before, buyer_before = world.balance(seller), world.balance(buyer)
    _send(world.w3, seller, listing["transactions"])
    _index(settings)
    assert client.get("/api/v1/portfolio", headers=as_seller).json()["positions"][0]["listed"] == held
    (offered,) = client.get("/api/v1/market").json()  # public
    assert (offered["loan_id"], offered["seller"], offered["notes_left"], offered["price_bps"]) == (loan_id, seller.address, held, 9_500)
    assert offered["cost"] == -(-held * 9_500 // 10_000) and offered["outstanding"] == held  # nothing repaid yet
    assert offered["price_to_outstanding"] == pytest.approx(0.95) and offered["installments_left"] == 12
    par = (1 + 0.12 * 30 / 365) ** (365 / 30) - 1  # the loan's own 12% APR, compounded every 30 days
    assert par < offered["yield_to_maturity"] < par + 0.12  # bought at a discount it earns more

    half = held // 2
    purchase = client.post(f"/api/v1/market/listings/{offered['listing_id']}/buy", json={"notes": half},
                           headers=as_buyer).json()  # fmt: skip
    assert purchase["cost"] == -(-half * 9_500 // 10_000) and len(purchase["transactions"]) == 2  # approve, buy
    assert purchase["transactions"][1]["description"] == (
        f"buy {half / UNIT:,.2f} of notes of loan {loan_id} for {purchase['cost'] / UNIT:,.2f} tokens")
    _send(world.w3, buyer, purchase["transactions"])
    _index(settings)
    assert world.book.functions.balanceOf(buyer.address, loan_id).call() == half
    assert (world.balance(seller) - seller_before, buyer_before - world.balance(buyer)) == (purchase["cost"],) * 2
    assert client.get("/api/v1/market").json()[0]["notes_left"] == held - half
    market = client.get(f"/api/v1/loans/{loan_id}").json()["market"]  # the loan's own book and trades
    assert (market["open_listings"], market["notes_offered"], market["best_ask_bps"]) == (1, held - half, 9_500)
    (trade,) = client.get("/api/v1/market/trades").json()  # the public tape
    assert (trade["how"], trade["loan_id"], trade["notes"], trade["cost"]) == ("listing taken", loan_id, half, purchase["cost"])
    assert (market["open_bids"], market["best_bid_bps"], market["trades"], market["notes_traded"]) == (0, None, 1, half)
    assert market["last_price_bps"] == pytest.approx(10_000 * purchase["cost"] / half) and market["last_trade_at"] > 0
    assert client.get("/api/v1/market", params={"limit": 0}).status_code == 422
    runner = CliRunner()  # the operator's view, from the same service
    try:
        point_get_settings_at(monkeypatch, settings)
        cli = runner.invoke(app, ["market", "offers", "--loan", str(loan_id), "--json"])
        table = runner.invoke(app, ["market", "offers"])
        tape = runner.invoke(app, ["market", "trades", "--json"])
        tape_table = runner.invoke(app, ["market", "trades"])
    finally:
        monkeypatch.undo()
        get_settings.cache_clear()
    assert cli.exit_code == 0 and json.loads(cli.stdout) == client.get("/api/v1/market").json()
    assert json.loads(tape.stdout) == client.get("/api/v1/market/trades").json()
    assert tape_table.exit_code == 0 and "latest trades (1)" in tape_table.stdout
    assert table.exit_code == 0 and "open offers (1)" in table.stdout
    assert client.get("/api/v1/portfolio", headers=as_buyer).json()["positions"][0]["notes"] == half

    with session_scope(settings) as session:
        sold, bought = statement_of(session, settings, seller.address), statement_of(session, settings, buyer.address)
    assert [(line.kind, line.cash, line.notes) for line in sold.lines][-1] == ("sale", purchase["cost"], -half)
    assert [(line.kind, line.cash, line.notes) for line in bought.lines] == [("purchase", -purchase["cost"], half)]
    assert (sold.sold, bought.bought) == (purchase["cost"], purchase["cost"])

    disclosed = client.get("/api/v1/disclosure").json()  # public figures
    assert disclosed["investors"] == 3  # the two who funded, and the buyer
    market = disclosed["market"]
    assert (market["open_listings"], market["notes_offered"], market["trades"]) == (1, held - half, 1)
    assert (market["notes_traded"], market["volume"]) == (half, purchase["cost"])
    assert market["average_price_bps"] == pytest.approx(9_500, abs=0.01)

    with session_scope(settings) as session:  # an auditor's trace of the loan shows its trades
        traced = [e.event for e in trace_loan(session, settings, loan_id).events]
    assert traced.count("Listed") == 1 and traced.count("Sold") == 1

    withdraw = client.post(f"/api/v1/market/listings/{offered['listing_id']}/delist", headers=as_seller).json()
    _send(world.w3, seller, withdraw["transactions"])
    _index(settings)
    assert client.get("/api/v1/market").json() == []


def test_bad_requests_get_a_clear_4xx_before_any_gas_is_spent(settings, world):  # noqa: F811
    seller, buyer = world.investors[0], world.investors[1]
    funding, _ = world.create()
    world.fund(funding, seller, 100 * UNIT)
    loan_id, _ = world.active_loan(investors=[seller, world.investors[3]])
    _index(settings)
    client = client_for(settings)
    as_seller, as_buyer = minted_bearer(settings, seller), minted_bearer(settings, buyer)
    held = world.book.functions.balanceOf(seller.address, loan_id).call()

    def offer(**body):
        return client.post("/api/v1/market/listings", json={"loan_id": loan_id, "notes": held, "price_bps": 9_000} | body,
                           headers=as_seller)  # fmt: skip

    assert offer(price_bps=0).status_code == 422 and offer(price_bps=20_001).status_code == 422
    too_many = offer(notes=held + 1)
    assert too_many.status_code == 422 and too_many.json()["context"]["held"] == held
    assert offer(loan_id=funding, notes=100 * UNIT).status_code == 409  # still funding: refund, not sell
    assert client.get(f"/api/v1/loans/{funding}").json()["market"] is None  # no notes trade before disbursal
    assert offer(loan_id=999).status_code == 404
    assert client.post("/api/v1/market/listings", json={"loan_id": loan_id, "notes": 1, "price_bps": 9_000}).status_code == 401
    _send(world.w3, seller, offer().json()["transactions"])
    _index(settings)
    (listing,) = client.get("/api/v1/market").json()
    lid = listing["listing_id"]

    def buy(who, **body):
        return client.post(f"/api/v1/market/listings/{lid}/buy", json=body, headers=minted_bearer(settings, who))

    assert buy(seller).status_code == 409  # one's own listing
    assert buy(world.borrower).status_code == 403  # the loan's borrower
    unverified = buy(world.outsider)
    assert unverified.status_code == 403 and "KYC" in unverified.json()["detail"]
    assert buy(buyer, notes=held + 1).status_code == 422
    assert client.post(f"/api/v1/market/listings/{lid + 1}/buy", json={}, headers=as_buyer).status_code == 404
    assert client.post(f"/api/v1/market/listings/{lid}/delist", headers=as_buyer).status_code == 403
    assert world.book.functions.balanceOf(buyer.address, loan_id).call() == 0  # nothing moved


def test_a_taker_is_held_to_the_price_it_was_quoted(settings, world):  # noqa: F811
    """The page sends the price its table showed (`quoted_price_bps`); the plan's buy or sell carries
    what the notes cost or fetch at that price as its limit, so a maker repricing before the
    transaction lands makes it revert on chain, and one that repriced before the plan gets a 409."""
    seller, buyer = world.investors[0], world.investors[1]
    loan_id, _ = world.active_loan(investors=[seller, world.investors[3]])
    world.ready_for_market(seller, buyer)
    lid = world.place(seller, "ask", loan_id, 10 * UNIT, 9_500)
    bid_id = world.place(buyer, "bid", loan_id, 10 * UNIT, 9_000)
    _index(settings)
    client = client_for(settings)
    as_seller, as_buyer = minted_bearer(settings, seller), minted_bearer(settings, buyer)
    notes = 3 * UNIT + 1

    def take(path, headers, price):
        return client.post(path, json={"notes": notes, "quoted_price_bps": price}, headers=headers)

    def calldata(plan):
        fn, args = world.market.decode_function_input(plan["transactions"][-1]["data"])
        return fn.fn_name, list(args.values())

    buying = take(f"/api/v1/market/listings/{lid}/buy", as_buyer, 9_500).json()
    max_cost = -(-notes * 9_500 // 10_000)
    assert calldata(buying) == ("buy", [lid, notes, max_cost]) and buying["cost"] == max_cost
    selling = take(f"/api/v1/market/bids/{bid_id}/sell", as_seller, 9_000).json()
    min_proceeds = notes * 9_000 // 10_000
    assert calldata(selling) == ("sell", [bid_id, notes, min_proceeds]) and selling["cost"] == min_proceeds

    # Each maker reprices against its taker before the planned transaction lands: both revert.
    world.chain.tx(world.market.functions.reprice(lid, 9_600), seller.address)
    world.chain.tx(world.market.functions.repriceBid(bid_id, 1), buyer.address)
    expect_revert(world.chain, world.market.functions.buy(lid, notes, max_cost), buyer.address, "NoteMarketPriceMoved",
                  lid, -(-notes * 9_600 // 10_000), max_cost)  # fmt: skip
    expect_revert(world.chain, world.market.functions.sell(bid_id, notes, min_proceeds), seller.address,
                  "NoteMarketPriceMoved", bid_id, notes // 10_000, min_proceeds)  # fmt: skip
    # Planned again at the old quote: refused before any gas, naming the order.
    stale = take(f"/api/v1/market/listings/{lid}/buy", as_buyer, 9_500)
    assert stale.status_code == 409 and stale.json()["context"]["listing_id"] == lid
    stale = take(f"/api/v1/market/bids/{bid_id}/sell", as_seller, 9_000)
    assert stale.status_code == 409 and stale.json()["context"]["bid_id"] == bid_id
    # A maker moving in the taker's favour is fine: the limit stays the quote, the fill is at the better price.
    world.chain.tx(world.market.functions.reprice(lid, 9_400), seller.address)
    cheaper = take(f"/api/v1/market/listings/{lid}/buy", as_buyer, 9_500).json()
    assert calldata(cheaper) == ("buy", [lid, notes, max_cost]) and cheaper["cost"] == -(-notes * 9_400 // 10_000)
    before = world.balance(buyer)
    _send(world.w3, buyer, cheaper["transactions"])
    assert before - world.balance(buyer) == cheaper["cost"]
    assert take(f"/api/v1/market/listings/{lid}/buy", as_buyer, 0).status_code == 422


def test_a_quote_prices_notes_before_anyone_offers_them(settings, world):  # noqa: F811
    decision = _decision_hash(settings, SAMPLE)
    loan_id, _ = world.active_loan(investors=[world.investors[0], world.investors[3]], decision_hash=decision)
    funding, _ = world.create()
    _index(settings)
    client = client_for(settings)  # public: no sign-in

    def quote(**params):
        return client.get("/api/v1/market/quote", params={"loan_id": loan_id, "notes": 1_001 * UNIT + 1,
                                                          "price_bps": 9_500} | params)  # fmt: skip

    q = quote().json()
    notes = 1_001 * UNIT + 1
    assert (q["cost"], q["proceeds"]) == (-(-notes * 9_500 // 10_000), notes * 9_500 // 10_000)
    assert q["outstanding"] == notes and q["installments_left"] == 12  # nothing repaid yet
    par = quote(price_bps=10_000).json()["yield_to_maturity"]
    assert par == pytest.approx((1 + 0.12 * 30 / 365) ** (365 / 30) - 1, abs=1e-3)  # the loan's own rate
    assert q["yield_to_maturity"] > par > quote(price_bps=10_500).json()["yield_to_maturity"]
    # The loan's PD (its grade's, which priced it) brings the expected yield below the yield to maturity.
    with session_scope(settings) as session:
        made = session.scalar(select(CreditDecision).where(CreditDecision.decision_hash == decision))
        assert q["pd"] == priced_pd(made.model_version, made.grade) != made.pd
    assert 0 < q["pd"] < 0.2 and 0 < q["expected_yield"] < q["yield_to_maturity"]
    assert q["yield_to_maturity"] - q["expected_yield"] < 2 * q["pd"]  # the loss is spread over the loan's life
    for params, status, field in (({"price_bps": 0}, 422, "price_bps"), ({"price_bps": 20_001}, 422, "price_bps"),
                                  ({"notes": 0}, 422, "notes"), ({"notes": 12_000 * UNIT + 1}, 422, "notes"),
                                  ({"loan_id": funding}, 409, None), ({"loan_id": 999}, 404, None)):  # fmt: skip
        bad = quote(**params)
        assert bad.status_code == status, params
        assert field is None or field in json.dumps(bad.json())


def test_bid_sell_into_part_and_cancel_the_rest(settings, world, monkeypatch):  # noqa: F811
    seller, bidder = world.investors[0], world.investors[1]
    loan_id, _ = world.active_loan(investors=[seller, world.investors[3]])
    _index(settings)
    client = client_for(settings)
    as_seller, as_bidder = minted_bearer(settings, seller), minted_bearer(settings, bidder)
    held = world.book.functions.balanceOf(seller.address, loan_id).call()
    assert client.get("/api/v1/market/bids").json() == []

    wanted = held + 1  # more than this seller holds: the rest can come from anyone
    plan = client.post("/api/v1/market/bids", json={"loan_id": loan_id, "notes": wanted, "price_bps": 9_801},
                       headers=as_bidder).json()  # fmt: skip
    assert plan["action"] == "bid" and [t["description"].split(" ")[0] for t in plan["transactions"]] == ["allow", "bid"]
    _send(world.w3, bidder, plan["transactions"])
    _index(settings)
    (bid,) = client.get("/api/v1/market/bids").json()  # public
    assert (bid["loan_id"], bid["bidder"], bid["notes_left"], bid["price_bps"]) == (loan_id, bidder.address, wanted, 9_801)
    assert bid["proceeds"] == wanted * 9_801 // 10_000 and bid["outstanding"] == wanted  # nothing repaid yet
    assert bid["price_to_outstanding"] == pytest.approx(0.9801, abs=1e-6)
    committed = client.get("/api/v1/portfolio", headers=as_bidder).json()
    assert (committed["open_bids"], committed["bid_commitment"], committed["warnings"]) == (1, bid["proceeds"], [])
    (position,) = client.get("/api/v1/portfolio", headers=as_seller).json()["positions"]
    assert (position["bid_now"], position["sell_now"]) == (held, held * 9_801 // 10_000)  # the bid would take it all

    seller_before, bidder_before = world.balance(seller), world.balance(bidder)
    sale = client.post(f"/api/v1/market/bids/{bid['bid_id']}/sell", json={}, headers=as_seller).json()
    half = held  # all the seller holds, as no amount was asked for
    assert (sale["action"], sale["bid_id"], sale["notes"]) == ("sell", bid["bid_id"], half)
    assert sale["cost"] == half * 9_801 // 10_000 and len(sale["transactions"]) == 2  # let the market move notes, sell
    _send(world.w3, seller, sale["transactions"])
    _index(settings)
    assert world.book.functions.balanceOf(bidder.address, loan_id).call() == half
    assert (world.balance(seller) - seller_before, bidder_before - world.balance(bidder)) == (sale["cost"],) * 2
    assert client.get("/api/v1/market/bids").json()[0]["notes_left"] == 1
    market = client.get(f"/api/v1/loans/{loan_id}").json()["market"]
    assert (market["open_bids"], market["notes_wanted"], market["best_bid_bps"], market["trades"]) == (1, 1, 9_801, 1)
    assert [t["how"] for t in client.get("/api/v1/market/trades", params={"loan_id": loan_id}).json()] == ["bid hit"]
    runner = CliRunner()
    try:
        point_get_settings_at(monkeypatch, settings)
        cli = runner.invoke(app, ["market", "bids", "--loan", str(loan_id), "--json"])
        table = runner.invoke(app, ["market", "bids"])
    finally:
        monkeypatch.undo()
        get_settings.cache_clear()
    assert cli.exit_code == 0 and json.loads(cli.stdout) == client.get("/api/v1/market/bids").json()
    assert table.exit_code == 0 and "open bids (1)" in table.stdout

    with session_scope(settings) as session:  # a trade is a trade, whichever side took it
        sold, bought = statement_of(session, settings, seller.address), statement_of(session, settings, bidder.address)
        traced = [e.event for e in trace_loan(session, settings, loan_id).events]
    assert [(line.kind, line.cash, line.notes) for line in sold.lines][-1] == ("sale", sale["cost"], -half)
    assert [(line.kind, line.cash, line.notes) for line in bought.lines] == [("purchase", -sale["cost"], half)]
    assert traced.count("BidPlaced") == 1 and traced.count("BidFilled") == 1
    market = client.get("/api/v1/disclosure").json()["market"]
    assert (market["open_bids"], market["notes_wanted"], market["trades"], market["volume"]) == (1, 1, 1, sale["cost"])
    portfolio = client.get("/api/v1/portfolio", headers=as_bidder).json()
    assert portfolio["positions"][0]["notes"] == half
    assert portfolio["positions"][0]["bid_now"] == 0  # its own open bid is no way out of the loan
    assert (portfolio["open_bids"], portfolio["bid_commitment"]) == (1, 9_801 // 10_000)  # 1 note left at 98.01%

    cancel = client.post(f"/api/v1/market/bids/{bid['bid_id']}/cancel", headers=as_bidder).json()
    _send(world.w3, bidder, cancel["transactions"])
    _index(settings)
    assert client.get("/api/v1/market/bids").json() == []


def test_a_second_wallet_of_the_borrowers_person_cannot_fund_or_buy_its_notes(settings, world):  # noqa: F811
    """LoanBook compares wallets only; the platform knows a person (review H5): a wallet sharing the
    borrower's national ID may not fund the loan, buy its notes nor bid for them, or a default
    would pay the borrower's own other wallet the reserve's cover. A 403 naming the rule, no gas."""
    seller, twin, stranger = world.investors[0], world.investors[1], world.investors[2]
    funding, _ = world.create()
    loan_id, _ = world.active_loan(investors=[seller, world.investors[3]])
    _index(settings)
    person = make_applicant(402)  # the borrower's wallet and investor 1's, verified with one national ID
    verify(settings, world.borrower.address, person, SECOND_ADMIN.address, documents=(PNG,))
    verify(settings, twin.address, person, SECOND_ADMIN.address, THIRD_ADMIN.address, documents=(PNG,))
    client = client_for(settings)
    as_twin, as_stranger = minted_bearer(settings, twin), minted_bearer(settings, stranger)

    fund = client.post(f"/api/v1/loans/{funding}/transactions", json={"action": "fund", "amount": 100 * UNIT},
                       headers=as_twin)  # fmt: skip
    assert fund.status_code == 403 and "your own person's" in fund.json()["detail"], fund.json()
    assert fund.json()["context"] == {"loan_id": funding, "rule": "same_person"}
    held = world.book.functions.balanceOf(seller.address, loan_id).call()
    listing = client.post("/api/v1/market/listings", json={"loan_id": loan_id, "notes": held, "price_bps": 9_500},
                          headers=minted_bearer(settings, seller)).json()  # fmt: skip
    _send(world.w3, seller, listing["transactions"])
    _index(settings)
    (offered,) = client.get("/api/v1/market").json()
    buy = client.post(f"/api/v1/market/listings/{offered['listing_id']}/buy", json={"notes": UNIT}, headers=as_twin)
    bid = client.post("/api/v1/market/bids", json={"loan_id": loan_id, "notes": UNIT, "price_bps": 9_000}, headers=as_twin)
    for refused in (buy, bid):
        assert refused.status_code == 403 and "your own person's" in refused.json()["detail"], refused.json()
        assert refused.json()["context"] == {"loan_id": loan_id, "rule": "same_person"}
    assert world.book.functions.balanceOf(twin.address, loan_id).call() == 0  # nothing moved
    # Another person's wallet trades as before.
    assert client.post(f"/api/v1/market/listings/{offered['listing_id']}/buy", json={"notes": UNIT},
                       headers=as_stranger).status_code == 200  # fmt: skip
    assert client.post(f"/api/v1/loans/{funding}/transactions", json={"action": "fund", "amount": 100 * UNIT},
                       headers=as_stranger).status_code == 200  # fmt: skip


def test_bad_bids_and_sales_get_a_clear_4xx_before_any_gas_is_spent(settings, world):  # noqa: F811
    seller, bidder, other = world.investors[0], world.investors[1], world.investors[2]
    funding, _ = world.create()
    world.fund(funding, seller, 100 * UNIT)
    loan_id, _ = world.active_loan(investors=[seller, world.investors[3]])
    _index(settings)
    client = client_for(settings)
    held = world.book.functions.balanceOf(seller.address, loan_id).call()

    def bid(who=bidder, **body):
        return client.post("/api/v1/market/bids", json={"loan_id": loan_id, "notes": UNIT, "price_bps": 9_000} | body,
                           headers=minted_bearer(settings, who))  # fmt: skip

    assert bid(price_bps=0).status_code == 422 and bid(price_bps=20_001).status_code == 422 and bid(notes=0).status_code == 422
    assert bid(loan_id=funding).status_code == 409 and bid(loan_id=999).status_code == 404
    assert bid(world.borrower).status_code == 403  # the loan's own borrower
    unverified = bid(world.outsider)
    assert unverified.status_code == 403 and "KYC" in unverified.json()["detail"]
    broke = bid(notes=10 * world.balance(bidder))
    assert broke.status_code == 409 and broke.json()["context"]["balance"] == world.balance(bidder)
    assert client.post("/api/v1/market/bids", json={"loan_id": loan_id, "notes": 1, "price_bps": 9_000}).status_code == 401
    _send(world.w3, bidder, bid().json()["transactions"])
    _index(settings)
    # A second bid must leave the first payable: the allowance asked for covers both.
    second = bid(notes=2 * UNIT).json()
    assert second["transactions"][0]["description"] == "allow NoteMarket to take up to 2.70 tokens from your wallet"
    (open_bid,) = client.get("/api/v1/market/bids").json()
    bid_id = open_bid["bid_id"]

    def sell(who, **body):
        return client.post(f"/api/v1/market/bids/{bid_id}/sell", json=body, headers=minted_bearer(settings, who))

    assert sell(bidder).status_code == 409  # one's own bid
    too_many = sell(seller, notes=UNIT + 1)
    assert too_many.status_code == 422 and too_many.json()["context"]["notes_left"] == UNIT
    nothing = sell(other)  # holds none of this loan's notes
    assert nothing.status_code == 422 and nothing.json()["context"]["held"] == 0
    assert client.post(f"/api/v1/market/bids/{bid_id + 1}/sell", json={}, headers=minted_bearer(settings, seller)).status_code == 404
    assert client.post(f"/api/v1/market/bids/{bid_id}/cancel", headers=minted_bearer(settings, seller)).status_code == 403
    # Crossed offers: a listing at or below what a bid pays, or a bid at or above what a listing
    # asks, is refused with the order to take instead.
    crossing = client.post("/api/v1/market/listings", json={"loan_id": loan_id, "notes": UNIT, "price_bps": 9_000},
                           headers=minted_bearer(settings, seller))  # fmt: skip
    assert crossing.status_code == 409 and crossing.json()["context"]["bid_id"] == bid_id
    assert "sell into it instead" in crossing.json()["detail"]
    world.chain.tx(world.book.functions.setApprovalForAll(world.market.address, True), seller.address)
    world.chain.tx(world.market.functions.list(loan_id, UNIT, 9_500, 0), seller.address)  # above the bid: rests
    _index(settings)
    listing_id = client.get("/api/v1/market").json()[0]["listing_id"]
    crossed = bid(other, price_bps=9_500)
    assert crossed.status_code == 409 and crossed.json()["context"]["listing_id"] == listing_id
    assert bid(other, price_bps=9_499).status_code == 200 and bid(seller, price_bps=9_500).status_code == 200  # own: fine
    # The bidder moved the money away: the sale would fail on chain, so it is refused here.
    world.chain.tx(world.token.functions.transfer(other.address, world.balance(bidder)), bidder.address)
    unpaid = sell(seller)
    assert unpaid.status_code == 409 and "can no longer pay" in unpaid.json()["detail"]
    portfolio = client.get("/api/v1/portfolio", headers=minted_bearer(settings, bidder)).json()
    assert (portfolio["open_bids"], portfolio["bid_commitment"]) == (1, UNIT * 9 // 10)
    assert any("open bids would pay" in w for w in portfolio["warnings"])  # the bidder is told
    assert world.book.functions.balanceOf(bidder.address, loan_id).call() == 0 and held  # nothing moved


def test_offers_good_for_some_days_leave_the_book_when_they_expire(settings, world):  # noqa: F811
    seller, bidder = world.investors[0], world.investors[1]
    loan_id, _ = world.active_loan(investors=[seller, world.investors[3]])
    _index(settings)
    client = client_for(settings)
    as_seller, as_bidder = minted_bearer(settings, seller), minted_bearer(settings, bidder)
    offer = {"loan_id": loan_id, "notes": UNIT, "price_bps": 9_500}
    for days in (0, 366):
        assert client.post("/api/v1/market/listings", json=offer | {"good_for_days": days}, headers=as_seller).status_code == 422
    listing = client.post("/api/v1/market/listings", json=offer | {"good_for_days": 1}, headers=as_seller).json()
    assert " until " in listing["transactions"][-1]["description"]
    _send(world.w3, seller, listing["transactions"])
    bid = client.post("/api/v1/market/bids", json=offer | {"price_bps": 9_000, "good_for_days": 2}, headers=as_bidder).json()
    _send(world.w3, bidder, bid["transactions"])
    _index(settings)
    (listed,), (wanted,) = client.get("/api/v1/market").json(), client.get("/api/v1/market/bids").json()
    # One day apart, as asked, plus the seconds between the two plans (each counts from its own clock).
    assert 0 <= wanted["expires_at"] - listed["expires_at"] - 86_400 <= 30

    world.chain.mine_at(listed["expires_at"])  # the listing's time is up; the bid's is not
    assert client.get("/api/v1/market").json() == []
    late = client.post(f"/api/v1/market/listings/{listed['listing_id']}/buy", json={}, headers=as_bidder)
    assert late.status_code == 409 and "expired" in late.json()["detail"]
    assert [b["bid_id"] for b in client.get("/api/v1/market/bids").json()] == [wanted["bid_id"]]
    assert client.get("/api/v1/portfolio", headers=as_bidder).json()["open_bids"] == 1

    world.chain.mine_at(wanted["expires_at"])
    assert client.get("/api/v1/market/bids").json() == []
    late = client.post(f"/api/v1/market/bids/{wanted['bid_id']}/sell", json={}, headers=as_seller)
    assert late.status_code == 409 and "expired" in late.json()["detail"]
    assert client.get("/api/v1/portfolio", headers=as_bidder).json()["open_bids"] == 0
    # Expired is not closed: each side can still withdraw its own, to tidy the index.
    assert client.post(f"/api/v1/market/listings/{listed['listing_id']}/delist", headers=as_seller).status_code == 200
    assert client.post(f"/api/v1/market/bids/{wanted['bid_id']}/cancel", headers=as_bidder).status_code == 200


def test_makers_reprice_their_orders_in_place(settings, world):  # noqa: F811
    seller, bidder = world.investors[0], world.investors[1]
    loan_id, _ = world.active_loan(investors=[seller, world.investors[3]])
    _index(settings)
    client = client_for(settings)
    as_seller, as_bidder = minted_bearer(settings, seller), minted_bearer(settings, bidder)
    offer = {"loan_id": loan_id, "notes": UNIT}
    _send(world.w3, seller, client.post("/api/v1/market/listings", json=offer | {"price_bps": 9_500}, headers=as_seller).json()["transactions"])
    _send(world.w3, bidder, client.post("/api/v1/market/bids", json=offer | {"price_bps": 9_000}, headers=as_bidder).json()["transactions"])
    _index(settings)
    (listing,), (bid,) = client.get("/api/v1/market").json(), client.get("/api/v1/market/bids").json()
    lid, bid_id = listing["listing_id"], bid["bid_id"]

    def reprice(side: str, order_id: int, price: int, headers):
        return client.post(f"/api/v1/market/{side}/{order_id}/reprice", json={"price_bps": price}, headers=headers)

    crossing = reprice("listings", lid, 9_000, as_seller)  # down onto the bid: sell into it instead
    assert crossing.status_code == 409 and crossing.json()["context"]["bid_id"] == bid_id
    plan = reprice("listings", lid, 9_200, as_seller).json()
    assert (plan["action"], plan["listing_id"], len(plan["transactions"])) == ("reprice", lid, 1)
    _send(world.w3, seller, plan["transactions"])
    _index(settings)
    assert reprice("bids", bid_id, 9_300, as_bidder).json()["context"]["listing_id"] == lid  # up past the ask
    plan = reprice("bids", bid_id, 9_100, as_bidder).json()  # more money: the allowance grows first
    assert [t["description"] for t in plan["transactions"]] == [
        "allow NoteMarket to take up to 0.91 tokens from your wallet", f"reprice bid {bid_id} to 91.00% of the principal outstanding"]
    _send(world.w3, bidder, plan["transactions"])
    _index(settings)
    assert client.get("/api/v1/market").json()[0]["price_bps"] == 9_200
    assert client.get("/api/v1/market/bids").json()[0]["price_bps"] == 9_100
    assert reprice("listings", lid, 9_600, as_bidder).status_code == 403  # not the seller's
    assert reprice("bids", bid_id + 1, 9_000, as_bidder).status_code == 404
    assert reprice("bids", bid_id, 0, as_bidder).status_code == 422


def test_an_investor_leaves_a_loan_now_by_selling_into_the_best_bids(settings, world):  # noqa: F811
    seller, low, high, broke = world.investors[0], world.investors[1], world.investors[2], world.investors[4]
    loan_id, _ = world.active_loan(investors=[seller, world.investors[3]])
    other_loan, _ = world.active_loan(investors=[seller, world.investors[3]])
    world.ready_for_market(low, high, broke, seller)
    low_bid = world.place(low, "bid", loan_id, 1_000 * UNIT, 9_700)
    high_bid = world.place(high, "bid", loan_id, 2_000 * UNIT, 9_800)
    world.place(broke, "bid", loan_id, 500 * UNIT, 9_900)  # the best price, but its bidder cannot pay
    world.chain.tx(world.token.functions.transfer(world.investors[5].address, world.balance(broke)), broke.address)
    world.place(seller, "bid", loan_id, 100 * UNIT, 9_950)  # one's own bid is no way out
    revoked = world.investors[5]
    world.ready_for_market(revoked)
    world.place(revoked, "bid", loan_id, 300 * UNIT, 9_990)  # the best of all, but LoanBook would refuse its bidder now
    world.chain.tx(world.kyc.functions.revoke(revoked.address), world.admin.address)
    world.chain.tx(world.book.functions.setApprovalForAll(world.market.address, False), seller.address)
    _index(settings)
    client = client_for(settings)
    as_seller = minted_bearer(settings, seller)
    position = next(p for p in client.get("/api/v1/portfolio", headers=as_seller).json()["positions"] if p["loan_id"] == loan_id)
    # From the index, with no chain read per bidder: not the revoked wallet's bid, not one's own
    # (the broke bidder's shows: whether a bidder can still pay is for the sale to find out).
    assert position["notes"] > 3_500 * UNIT and position["bid_now"] == 3_500 * UNIT
    assert position["sell_now"] == 500 * UNIT * 9_900 // 10_000 + 2_000 * UNIT * 9_800 // 10_000 + 1_000 * UNIT * 9_700 // 10_000

    def exit_now(**body):
        return client.post("/api/v1/market/sell-now", json={"loan_id": loan_id} | body, headers=as_seller)

    plan = exit_now(notes=2_500 * UNIT).json()
    paid = 2_000 * UNIT * 9_800 // 10_000 + 500 * UNIT * 9_700 // 10_000
    assert (plan["action"], plan["notes"], plan["cost"], plan["bid_ids"]) == ("sell_now", 2_500 * UNIT, paid, [high_bid, low_bid])
    assert [t["description"].split(" ")[0] for t in plan["transactions"]] == ["let", "sell", "sell"]  # approval first
    before = world.balance(seller)
    _send(world.w3, seller, plan["transactions"])
    _index(settings)
    assert world.balance(seller) - before == paid
    assert world.book.functions.balanceOf(high.address, loan_id).call() == 2_000 * UNIT
    assert world.book.functions.balanceOf(low.address, loan_id).call() == 500 * UNIT

    assert exit_now(notes=999_999 * UNIT).status_code == 422  # more than held
    assert exit_now(loan_id=other_loan).status_code == 409  # nobody bids for that one
    assert exit_now(loan_id=999).status_code == 404
    assert client.post("/api/v1/market/sell-now", json={"loan_id": loan_id}).status_code == 401


def test_prices_apply_to_the_principal_the_notes_still_stand_for(settings, world):  # noqa: F811
    """NoteMarket prices orders per unit of principal outstanding (audit M-1), so after a repayment
    every figure the API gives for an order agrees with what the chain would move: the orders'
    cost and proceeds, a quote, a taker's limit, what a bidder's open bids commit, and the trade's
    price on the tape, the loan's page and the disclosure (the price asked, not a share of face)."""
    seller, buyer = world.investors[0], world.investors[1]
    loan_id, start = world.active_loan(investors=[seller, world.investors[3]])
    world.chain.mine_at(start + 30 * DAY)
    world.repay(loan_id, world.book.functions.amountDue(loan_id).call()[0])
    world.ready_for_market(seller, buyer)
    held = world.book.functions.balanceOf(seller.address, loan_id).call()
    lid = world.place(seller, "ask", loan_id, held, 9_500)
    bid_id = world.place(buyer, "bid", loan_id, 10 * UNIT, 9_000)
    _index(settings)
    client = client_for(settings)
    as_seller, as_buyer = minted_bearer(settings, seller), minted_bearer(settings, buyer)
    loan = world.loan(loan_id)
    assert 0.9 < loan["principalOutstanding"] / loan["principal"] < 0.95

    def at(notes, bps, standing, up=False):
        value, scale = notes * bps * standing["principalOutstanding"], standing["principal"] * 10_000
        return -(-value // scale) if up else value // scale

    (listing,) = client.get("/api/v1/market").json()
    assert listing["cost"] == at(held, 9_500, loan, up=True) == world.market.functions.costOf(lid, held).call()
    assert listing["price_to_outstanding"] == pytest.approx(0.95, abs=1e-6)
    (bid,) = client.get("/api/v1/market/bids").json()
    assert bid["proceeds"] == at(10 * UNIT, 9_000, loan) == world.market.functions.proceedsOf(bid_id, 10 * UNIT).call()
    notes = 3 * UNIT + 1
    quote = client.get("/api/v1/market/quote", params={"loan_id": loan_id, "notes": notes, "price_bps": 9_500}).json()
    assert (quote["cost"], quote["proceeds"]) == (at(notes, 9_500, loan, up=True), at(notes, 9_500, loan))
    assert client.get("/api/v1/portfolio", headers=as_buyer).json()["bid_commitment"] == bid["proceeds"]

    def calldata(plan):
        fn, args = world.market.decode_function_input(plan["transactions"][-1]["data"])
        return fn.fn_name, list(args.values())

    buying = client.post(f"/api/v1/market/listings/{lid}/buy", json={"notes": notes, "quoted_price_bps": 9_500},
                         headers=as_buyer).json()  # fmt: skip
    assert calldata(buying) == ("buy", [lid, notes, at(notes, 9_500, loan, up=True)])
    _send(world.w3, buyer, buying["transactions"])
    _index(settings)
    (trade,) = client.get("/api/v1/market/trades").json()
    assert trade["cost"] == at(notes, 9_500, loan, up=True) and trade["price_bps"] == pytest.approx(9_500, abs=0.01)
    assert client.get(f"/api/v1/loans/{loan_id}").json()["market"]["last_price_bps"] == pytest.approx(9_500, abs=0.01)
    assert client.get("/api/v1/disclosure").json()["market"]["average_price_bps"] == pytest.approx(9_500, abs=0.01)

    # A repayment the index has not read yet: the sale's floor is the chain's, not a stale 409.
    world.chain.mine_at(start + 60 * DAY)
    world.repay(loan_id, world.book.functions.amountDue(loan_id).call()[0])
    now = world.loan(loan_id)
    selling = client.post(f"/api/v1/market/bids/{bid_id}/sell", json={"notes": notes, "quoted_price_bps": 9_000},
                          headers=as_seller)  # fmt: skip
    assert selling.status_code == 200, selling.text
    assert calldata(selling.json()) == ("sell", [bid_id, notes, at(notes, 9_000, now)]) and at(notes, 9_000, now) < at(
        notes, 9_000, loan)


def test_notes_of_a_loan_past_its_default_date_leave_the_market(settings, world):  # noqa: F811
    """The review's M-1, off chain: past LoanBook's `defaultableAt` a loan stays active until someone
    marks it defaulted, but NoteMarket no longer trades its notes (`NoteMarketLoanDefaultable`). The
    listings and bids pages leave its orders out, a quote, a new order or taking one gets a 409
    instead of a transaction that would revert, and the portfolio counts neither its bids nor a sale
    into them."""
    seller, bidder = world.investors[0], world.investors[1]
    loan_id, _ = world.active_loan(investors=[seller, world.investors[3]])
    world.ready_for_market(seller, bidder)
    ask = world.place(seller, "ask", loan_id, UNIT, 9_500)
    bid = world.place(bidder, "bid", loan_id, UNIT, 9_000)
    _index(settings)
    client = client_for(settings)
    as_seller, as_bidder = minted_bearer(settings, seller), minted_bearer(settings, bidder)
    assert [o["listing_id"] for o in client.get("/api/v1/market").json()] == [ask]
    assert client.get("/api/v1/portfolio", headers=as_seller).json()["positions"][0]["bid_now"] == UNIT

    defaultable = world.book.functions.defaultableAt(loan_id).call()
    world.chain.mine_at(defaultable + 1)
    assert world.loan(loan_id)["status"] == 2  # still Active: nobody marked it defaulted
    assert client.get("/api/v1/market").json() == client.get("/api/v1/market/bids").json() == []
    quote = client.get("/api/v1/market/quote", params={"loan_id": loan_id, "notes": UNIT, "price_bps": 9_500})
    offer = {"loan_id": loan_id, "notes": UNIT, "price_bps": 9_000}
    refused = [quote] + [client.post(path, json=body, headers=who) for path, body, who in [
        (f"/api/v1/market/listings/{ask}/buy", {}, as_bidder), (f"/api/v1/market/bids/{bid}/sell", {}, as_seller),
        ("/api/v1/market/listings", offer, as_seller), ("/api/v1/market/bids", offer, as_bidder),
        ("/api/v1/market/sell-now", {"loan_id": loan_id}, as_seller)]]  # fmt: skip
    for reply in refused:
        assert reply.status_code == 409 and "can be declared in default" in reply.json()["detail"], reply.json()
    assert client.get("/api/v1/portfolio", headers=as_bidder).json()["open_bids"] == 0
    assert client.get("/api/v1/portfolio", headers=as_seller).json()["positions"][0]["bid_now"] == 0
    expect_revert(world.chain, world.sell(bid, UNIT), seller.address, "NoteMarketLoanDefaultable", loan_id, defaultable)


def test_plans_and_standing_instructions_of_the_borrowers_person_leave_its_loans_out(settings, world):  # noqa: F811
    """A plan and a standing instruction (which the mandate keeper funds through `fundWithMandate`,
    no request of the investor's in between) pick loans to fund: never the loans of the wallet's own
    person, which its other wallet may not fund by hand either (review H5)."""
    twin, stranger = world.investors[1], world.investors[2]
    funding, _ = world.create()
    _index(settings)
    person = make_applicant(402)  # the borrower's wallet and investor 1's, verified with one national ID
    verify(settings, world.borrower.address, person, SECOND_ADMIN.address, documents=(PNG,))
    verify(settings, twin.address, person, SECOND_ADMIN.address, THIRD_ADMIN.address, documents=(PNG,))
    verify(settings, stranger.address, make_applicant(403), SECOND_ADMIN.address, documents=(PNG,))  # an investor
    client = client_for(settings)
    as_twin, as_stranger = minted_bearer(settings, twin), minted_bearer(settings, stranger)

    plan = client.post("/api/v1/portfolio/plan", json={"amount": 100 * UNIT}, headers=as_twin)
    assert plan.status_code == 409 and plan.json()["context"] == {"open_loans": 0}, plan.json()
    rule = client.put("/api/v1/portfolio/rule", json={"per_loan": 100 * UNIT}, headers=as_twin)
    assert rule.status_code == 200 and rule.json()["matching_now"] == [], rule.json()
    # Another person's wallet is offered the loan as before.
    theirs = client.post("/api/v1/portfolio/plan", json={"amount": 100 * UNIT}, headers=as_stranger)
    assert [a["loan_id"] for a in theirs.json()["allocations"]] == [funding], theirs.json()
    assert client.put("/api/v1/portfolio/rule", json={"per_loan": 100 * UNIT},
                      headers=as_stranger).json()["matching_now"] == [funding]  # fmt: skip


def test_a_wallet_that_only_submitted_the_borrowers_national_id_is_not_told_which_loans_are_theirs(settings, world):  # noqa: F811
    """Anyone may type someone's ID number into a KYC form: a record no admin approved makes its
    wallet nobody's other wallet, or a verified investor would learn, from the `same_person` refusal
    of a fund, a purchase or a bid, which loans the holder of that ID borrowed."""
    snoop = world.investors[2]
    funding, _ = world.create()
    _index(settings)
    person = make_applicant(402)
    verify(settings, world.borrower.address, person, SECOND_ADMIN.address, documents=(PNG,))
    verify(settings, snoop.address, make_applicant(403), SECOND_ADMIN.address, documents=(PNG,))  # its own identity
    typed = make_applicant(402)
    with session_scope(settings) as session:  # then the borrower's ID number, held for review as a duplicate
        from backend.identity.kyc.submission import submit
        from backend.identity.schemas import KycCreate

        assert submit(session, settings, snoop.address, KycCreate(**typed.form()), [PNG]).status == "needs_review"
    client = client_for(settings)
    fund = client.post(f"/api/v1/loans/{funding}/transactions", json={"action": "fund", "amount": 100 * UNIT},
                       headers=minted_bearer(settings, snoop))  # fmt: skip
    assert fund.status_code == 200, fund.json()
