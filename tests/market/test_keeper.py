"""The keeper uncrosses the book: a listing placed straight on NoteMarket below two bids (around the
API, which refuses crossing offers) is matched against them through the outbox, best bid first, at
the midpoint of the prices; the trades reach the index, the statements and the loan's market; a
bid its bidder can no longer pay is left alone; a match that fails anyway is retried a bounded number
of times; nothing is queued twice while the book is stale, nor while the market is paused."""

from __future__ import annotations

import json

import pytest
from typer.testing import CliRunner

from backend.chain.indexer import Indexer
from backend.chain.models import Intent
from backend.chain.outbox import process_until_idle
from backend.cli.main import app
from backend.config import get_settings
from backend.db.session import session_scope
from backend.lending.statement import statement_of
from backend.market.keeper import book_is_stale, keeper_step, match_crossed
from tests.anchoring.helpers import point_get_settings_at
from tests.contracts.conftest import chain, world  # noqa: F401
from tests.identity.conftest import PNG, client_for, make_applicant, minted_bearer, verify
from tests.identity.test_role_grants import SECOND_ADMIN, THIRD_ADMIN

UNIT = 10**6
MAX_UINT = 2**256 - 1


def _maker(world, wallet, *order) -> int:  # noqa: F811
    """An order sent straight to NoteMarket by the wallet, as any wallet can."""
    world.ready_for_market(wallet)
    return world.place(wallet, *order)


def _pass(settings) -> list:
    with session_scope(settings) as session:
        return match_crossed(session, settings)


def test_a_crossed_book_is_matched_best_bid_first_at_the_midpoint(settings, world):  # noqa: F811
    seller, high, low, cheap = world.investors[0], world.investors[1], world.investors[2], world.investors[4]
    loan_id, _ = world.active_loan(investors=[seller, world.investors[3]])
    low_bid = _maker(world, low, "bid", loan_id, 2 * UNIT, 9_600)
    high_bid = _maker(world, high, "bid", loan_id, 3 * UNIT, 9_800)
    cheap_bid = _maker(world, cheap, "bid", loan_id, UNIT, 9_000)  # below the ask: stays
    ask = _maker(world, seller, "ask", loan_id, 4 * UNIT, 9_500)  # crosses both bids above 95%
    Indexer().catch_up(settings)
    seller_cash, high_cash, low_cash = world.balance(seller), world.balance(high), world.balance(low)

    with session_scope(settings) as session:  # a bounded number of matches a pass, best first
        (first,) = match_crossed(session, settings.model_copy(update={"market_keeper_max_per_pass": 1}))
        session.rollback()
    queued = _pass(settings)
    assert queued[0] == first
    assert [(m.listing_id, m.bid_id, m.notes, m.cost) for m in queued] == [
        (ask, high_bid, 3 * UNIT, 3 * UNIT * (9_500 + 9_800) // 20_000),
        (ask, low_bid, UNIT, UNIT * (9_500 + 9_600) // 20_000),
    ]
    assert _pass(settings) == []  # in flight: the keeper waits
    process_until_idle(settings)
    with session_scope(settings) as session:
        assert book_is_stale(session)  # mined, but the index has not read it yet
    assert _pass(settings) == []
    Indexer().catch_up(settings)
    assert _pass(settings) == []  # uncrossed: the rest of the low bid (96%) has no listing left

    assert world.book.functions.balanceOf(high.address, loan_id).call() == 3 * UNIT
    assert world.book.functions.balanceOf(low.address, loan_id).call() == UNIT
    paid = [m.cost for m in queued]
    assert world.balance(seller) - seller_cash == sum(paid)
    assert (high_cash - world.balance(high), low_cash - world.balance(low)) == tuple(paid)
    client = client_for(settings)
    market = client.get(f"/api/v1/loans/{loan_id}").json()["market"]
    assert (market["trades"], market["notes_traded"], market["open_listings"], market["best_bid_bps"]) == (2, 4 * UNIT, 0, 9_600)
    disclosed = client.get("/api/v1/disclosure").json()["market"]  # public figures count the keeper's matches
    assert (disclosed["trades"], disclosed["matched"], disclosed["volume"]) == (2, 2, sum(paid))
    (best,) = client.get("/api/v1/market/bids", params={"limit": 1}).json()  # a page: the best paying first
    assert (best["bid_id"], best["yield_to_maturity"] is not None) == (low_bid, True)
    tape = client.get("/api/v1/market/trades", params={"loan_id": loan_id}).json()  # public, newest first
    assert [(t["how"], t["listing_id"], t["bid_id"], t["notes"], t["cost"]) for t in tape] == [
        ("matched", ask, low_bid, UNIT, paid[1]), ("matched", ask, high_bid, 3 * UNIT, paid[0])]
    assert tape[0]["price_bps"] == pytest.approx(9_550, abs=0.01) and "seller" not in tape[0]
    assert [(b["bid_id"], b["notes_left"]) for b in client.get("/api/v1/market/bids").json()] == [(low_bid, UNIT),
                                                                                                  (cheap_bid, UNIT)]
    with session_scope(settings) as session:
        statement = statement_of(session, settings, seller.address)
        assert sorted(line.cash for line in statement.lines if line.kind == "sale") == sorted(paid)
        assert statement.sold == sum(paid)
        assert session.query(Intent).filter(Intent.function == "matchOrders").count() == 2


def test_an_unpayable_bid_is_left_alone_and_a_failed_match_waits_for_a_change(settings, world, monkeypatch):  # noqa: F811
    seller, bidder = world.investors[0], world.investors[1]
    loan_id, _ = world.active_loan(investors=[seller, world.investors[3]])
    bid = _maker(world, bidder, "bid", loan_id, 2 * UNIT, 9_800)
    ask = _maker(world, seller, "ask", loan_id, 2 * UNIT, 9_500)
    cash = world.balance(bidder)
    world.chain.tx(world.token.functions.transfer(world.investors[5].address, cash), bidder.address)
    Indexer().catch_up(settings)
    assert _pass(settings) == []  # the bidder cannot pay: nothing queued, no gas spent

    world.chain.tx(world.token.functions.transfer(bidder.address, cash), world.investors[5].address)
    keys = []
    for _ in range(3):  # each time the bidder pulls its allowance between the keeper's check and the block
        (match,) = _pass(settings)
        keys.append(match.key)
        world.chain.tx(world.token.functions.approve(world.market.address, 0), bidder.address)
        process_until_idle(settings)
        assert _pass(settings) == []  # not payable now: nothing queued
        world.chain.tx(world.token.functions.approve(world.market.address, MAX_UINT), bidder.address)
    with session_scope(settings) as session:
        tried = session.query(Intent).filter(Intent.key.in_(keys)).all()
        assert {(i.status, i.error_name) for i in tried} == {("failed", "ERC20InsufficientAllowance")}
    assert len(set(keys)) == 3 and keys[0].endswith(":1") and keys[2].endswith(":3")
    assert _pass(settings) == []  # three failures against the same facts: the keeper stops trying

    world.chain.tx(world.market.functions.repriceBid(bid, 9_700), bidder.address)  # the facts change
    Indexer().catch_up(settings)
    world.chain.tx(world.market.functions.pause(), world.admin.address)
    assert _pass(settings) == []  # paused: the keeper waits
    world.chain.tx(world.market.functions.unpause(), world.admin.address)
    try:  # the worker's step, as the market-keeper worker runs it
        point_get_settings_at(monkeypatch, settings)
        assert keeper_step(settings) == 1
        process_until_idle(settings)
        Indexer().catch_up(settings)
        assert json.loads(CliRunner().invoke(app, ["market", "match", "--json"]).stdout) == []
    finally:
        monkeypatch.undo()
        get_settings.cache_clear()
    assert world.market.functions.listing(ask).call()[0] == world.market.functions.bidOf(bid).call()[0] == "0x" + "00" * 20
    assert world.book.functions.balanceOf(bidder.address, loan_id).call() == 2 * UNIT
    assert keeper_step(settings.model_copy(update={"market_keeper": False})) == 0


def test_a_crossed_pair_of_a_loan_past_its_default_date_is_not_matched(settings, world):  # noqa: F811
    """The review's M-1: NoteMarket refuses `matchOrders` on a loan past `defaultableAt`, which stays
    active until someone marks it defaulted, so the keeper queues none: it would only revert, at the
    platform's gas, or have filled a bid at the stale principal outstanding before the fix."""
    seller, bidder = world.investors[0], world.investors[1]
    loan_id, _ = world.active_loan(investors=[seller, world.investors[3]])
    _maker(world, bidder, "bid", loan_id, UNIT, 9_800)
    _maker(world, seller, "ask", loan_id, UNIT, 9_500)
    defaultable = world.book.functions.defaultableAt(loan_id).call()
    world.chain.mine_at(defaultable + 1)
    Indexer().catch_up(settings)
    assert _pass(settings) == []
    with session_scope(settings) as session:
        assert session.query(Intent).count() == 0


def test_a_bid_of_the_borrowers_person_is_neither_matched_nor_sold_into(settings, world):  # noqa: F811
    """A bid placed while its wallet was no known wallet of the borrower's person (verified with the
    borrower's national ID only later) stays in the book, but it does not fill: the keeper, a sale
    into it and a sale at the best bids pass it over, as placing it would now be refused (review H5:
    the reserve's cover of a default would be paid to the borrower's own other wallet)."""
    seller, twin = world.investors[0], world.investors[1]
    loan_id, _ = world.active_loan(investors=[seller, world.investors[3]])
    twin_bid = _maker(world, twin, "bid", loan_id, UNIT, 9_800)
    _maker(world, seller, "ask", loan_id, UNIT, 9_500)  # crosses it
    Indexer().catch_up(settings)
    person = make_applicant(402)
    verify(settings, world.borrower.address, person, SECOND_ADMIN.address, documents=(PNG,))
    verify(settings, twin.address, person, SECOND_ADMIN.address, THIRD_ADMIN.address, documents=(PNG,))

    assert _pass(settings) == []
    client, as_seller = client_for(settings), minted_bearer(settings, seller)
    sale = client.post(f"/api/v1/market/bids/{twin_bid}/sell", json={"notes": UNIT}, headers=as_seller)
    assert sale.status_code == 409 and "borrower's person" in sale.json()["detail"], sale.json()
    exit_ = client.post("/api/v1/market/sell-now", json={"loan_id": loan_id, "notes": UNIT}, headers=as_seller)
    assert exit_.status_code == 409 and exit_.json()["context"] == {"loan_id": loan_id}, exit_.json()
    assert world.book.functions.balanceOf(twin.address, loan_id).call() == 0
    (position,) = [p for p in client.get("/api/v1/portfolio", headers=as_seller).json()["positions"]
                   if p["loan_id"] == loan_id]  # fmt: skip
    assert (position["bid_now"], position["sell_now"]) == (0, 0)  # nor is it shown as a way out
