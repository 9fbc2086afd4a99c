"""The notes' secondary market through the API: an investor lists notes of an active loan, another
buys part of them from its own wallet, the seller withdraws the rest; every step is a real
transaction, the listing and the trade reach the chain index, the statements show the sale and
the purchase, and every bad request gets a clear 4xx before any gas is spent."""

from __future__ import annotations

import json

import pytest
from typer.testing import CliRunner

from backend.audit.trace import trace_loan
from backend.chain.indexer import Indexer
from backend.cli.main import app
from backend.config import get_settings
from backend.db.session import session_scope
from backend.lending.statement import statement_of
from tests.anchoring.helpers import point_get_settings_at
from tests.conftest import own_database
from tests.contracts.conftest import chain, world  # noqa: F401
from tests.identity.conftest import client_for, minted_bearer
from tests.lending.test_wallet_txs import _send

UNIT = 10**6


@pytest.fixture
def settings(chain_settings, deployment, world, snapshot, tmp_path, database_url):  # noqa: F811
    return own_database(chain_settings, tmp_path, database_url)


def _index(settings) -> None:
    Indexer().catch_up(settings)


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
    seller_before, buyer_before = world.balance(seller), world.balance(buyer)
    _send(world.w3, seller, listing["transactions"])
    _index(settings)
    assert client.get("/api/v1/portfolio", headers=as_seller).json()["positions"][0]["listed"] == held
    (offered,) = client.get("/api/v1/market").json()  # public
    assert (offered["loan_id"], offered["seller"], offered["notes_left"], offered["price_bps"]) == (loan_id, seller.address, held, 9_500)
    assert offered["cost"] == -(-held * 9_500 // 10_000) and offered["outstanding"] == held  # nothing repaid yet
    assert offered["price_to_outstanding"] == pytest.approx(0.95) and offered["installments_left"] == 12

    half = held // 2
    purchase = client.post(f"/api/v1/market/listings/{offered['listing_id']}/buy", json={"notes": half},
                           headers=as_buyer).json()  # fmt: skip
    assert purchase["cost"] == -(-half * 9_500 // 10_000) and len(purchase["transactions"]) == 2  # approve, buy
    _send(world.w3, buyer, purchase["transactions"])
    _index(settings)
    assert world.book.functions.balanceOf(buyer.address, loan_id).call() == half
    assert (world.balance(seller) - seller_before, buyer_before - world.balance(buyer)) == (purchase["cost"],) * 2
    assert client.get("/api/v1/market").json()[0]["notes_left"] == held - half
    assert client.get("/api/v1/market", params={"limit": 0}).status_code == 422
    runner = CliRunner()  # the operator's view, from the same service
    try:
        point_get_settings_at(monkeypatch, settings)
        cli = runner.invoke(app, ["market", "offers", "--loan", str(loan_id), "--json"])
        table = runner.invoke(app, ["market", "offers"])
    finally:
        monkeypatch.undo()
        get_settings.cache_clear()
    assert cli.exit_code == 0 and json.loads(cli.stdout) == client.get("/api/v1/market").json()
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
