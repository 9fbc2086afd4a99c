"""An investor's statement: every movement with LoanBook (funding, a claim, notes sent to another
wallet, a refund), each with its transaction; its net cash equals the wallet's real token balance
change, the years split it without loss, and the API, its CSV and the CLI agree. Notes bought and
given away in one transaction are a purchase and a gift."""

from __future__ import annotations

import csv
import io
import json
from datetime import UTC, datetime

import pytest
from typer.testing import CliRunner
from web3 import Web3

from backend.chain.indexer import Indexer
from backend.cli.main import app
from backend.config import get_settings
from backend.db.session import session_scope
from backend.lending.earnings import earnings_of, entitled_by_loan
from backend.lending.statement import gift_flows, statement_of
from tests.anchoring.helpers import point_get_settings_at
from tests.conftest import own_database
from tests.contracts.conftest import chain, world  # noqa: F401
from tests.contracts.helpers import KYC_EXPIRY, batch_wallet, in_one_transaction
from tests.identity.conftest import ADMIN, client_for, minted_bearer

UNIT = 10**6


@pytest.fixture
def settings(chain_settings, deployment, world, snapshot, tmp_path, database_url):  # noqa: F811
    return own_database(chain_settings, tmp_path, database_url, admin_wallets=[ADMIN.address])


def _year(ts: int) -> int:
    return datetime.fromtimestamp(ts, UTC).year


def _movements(world, investor, other) -> tuple[int, int, int]:  # noqa: F811
    """A repaid installment collected, notes given away, a refund; returns (loan, cancelled, notes sent)."""
    node, book = world.chain, world.book
    loan_id, start = world.active_loan()
    node.mine_at(start + 30 * 86_400)  # the first installment falls due
    world.repay(loan_id, book.functions.amountDue(loan_id).call()[0])
    node.tx(book.functions.claim(loan_id), investor.address)
    sent = book.functions.balanceOf(investor.address, loan_id).call() // 4
    node.tx(book.functions.safeTransferFrom(investor.address, other.address, loan_id, sent, b""), investor.address)
    cancelled, _ = world.create()
    world.fund(cancelled, investor, 100 * UNIT)
    node.mine_at(world.loan(cancelled)["fundingDeadline"] + 1)
    node.tx(book.functions.cancel(cancelled), world.admin.address)
    node.tx(book.functions.refund(cancelled), investor.address)
    return loan_id, cancelled, sent


def test_the_statement_adds_up_to_the_wallets_token_flow_and_splits_by_year(settings, world):  # noqa: F811
    investor, other = world.investors[0], world.investors[1]
    before = world.balance(investor)
    loan_id, cancelled, sent = _movements(world, investor, other)
    Indexer().catch_up(settings)

    with session_scope(settings) as session:
        report = statement_of(session, settings, investor.address)
        received = statement_of(session, settings, other.address)
    assert [(line.loan_id, line.kind) for line in report.lines] == [
        (loan_id, "fund"), (loan_id, "claim"), (loan_id, "notes_out"), (cancelled, "fund"), (cancelled, "refund"),
    ]  # fmt: skip
    assert report.net_cash == world.balance(investor) - before  # nothing missed, nothing counted twice
    assert report.net_cash == report.refunded + report.collected - report.funded
    by_loan = {loan.loan_id: loan for loan in report.loans}
    share = world.book.functions.balanceOf(investor.address, loan_id).call()
    assert by_loan[loan_id].notes_held == share and by_loan[loan_id].collected > 0 and by_loan[loan_id].claimable == 0
    assert (by_loan[cancelled].funded, by_loan[cancelled].refunded, by_loan[cancelled].net_cash) == (100 * UNIT, 100 * UNIT, 0)
    assert by_loan[cancelled].status == "cancelled" and by_loan[cancelled].notes_held == 0
    tx_hashes = {line.tx_hash for line in report.lines}
    assert all(world.w3.eth.get_transaction_receipt(h)["status"] == 1 for h in tx_hashes)  # each one provable
    assert [(line.kind, line.notes) for line in received.lines if line.kind == "notes_in"] == [("notes_in", sent)]

    years = sorted({_year(line.timestamp) for line in report.lines})
    with session_scope(settings) as session:
        parts = [statement_of(session, settings, investor.address, year) for year in years]
        empty = statement_of(session, settings, investor.address, years[0] - 1)
    assert [line for part in parts for line in part.lines] == report.lines
    assert sum(part.net_cash for part in parts) == report.net_cash
    assert all(_year(line.timestamp) == year for part, year in zip(parts, years, strict=True) for line in part.lines)
    assert (empty.lines, empty.net_cash, empty.funded) == ([], 0, 0)
    # The years a statement can be asked for are those with activity, not the calendar's last few.
    assert report.years == empty.years == sorted(set(years) | {_year(e.timestamp) for e in report.earning_lines}, reverse=True)
    with session_scope(settings) as session:
        assert statement_of(session, settings, "0x000000000000000000000000000000000000dEaD").years == []


def test_the_api_serves_it_as_json_and_csv_and_the_cli_agrees(settings, world, monkeypatch):  # noqa: F811
    investor, other = world.investors[0], world.investors[1]
    _movements(world, investor, other)
    Indexer().catch_up(settings)
    client, headers = client_for(settings), minted_bearer(settings, investor)

    assert client.get("/api/v1/portfolio/statement").status_code == 401
    bad_year = client.get("/api/v1/portfolio/statement", params={"year": 1999}, headers=headers)
    assert bad_year.status_code == 422 and "year" in json.dumps(bad_year.json())
    served = client.get("/api/v1/portfolio/statement", headers=headers).json()
    assert served["wallet"] == investor.address and len(served["lines"]) == 5

    audited = client.get(f"/api/v1/audit/statement/{investor.address.lower()}", headers=minted_bearer(settings, ADMIN))
    assert audited.status_code == 200 and audited.json() == served  # an auditor sees what the investor sees
    assert client.get(f"/api/v1/audit/statement/{other.address}", headers=headers).status_code == 403

    as_csv = client.get("/api/v1/portfolio/statement.csv", headers=headers)
    assert as_csv.status_code == 200 and as_csv.headers["content-type"].startswith("text/csv")
    assert f"loanchain-statement-{investor.address}-all.csv" in as_csv.headers["content-disposition"]
    rows = list(csv.DictReader(io.StringIO(as_csv.text)))
    assert [r["kind"] for r in rows] == [line["kind"] for line in served["lines"]]
    refund = rows[-1]
    assert (refund["cash"], refund["cash_tokens"], refund["notes"]) == (str(100 * UNIT), "100.000000", str(-100 * UNIT))
    assert rows[0]["cash_tokens"].startswith("-") and rows[0]["date"].endswith("+00:00")

    runner = CliRunner()
    try:
        point_get_settings_at(monkeypatch, settings)
        ran = runner.invoke(app, ["portfolio", "statement", investor.address.lower(), "--json"])
        bad = runner.invoke(app, ["portfolio", "statement", "0x123"])
    finally:
        monkeypatch.undo()
        get_settings.cache_clear()
    assert ran.exit_code == 0, ran.output
    assert json.loads(ran.stdout) == served  # the same service, whichever door
    assert bad.exit_code == 2 and "not an Ethereum address" in bad.output


def test_notes_bought_and_given_away_in_one_transaction_are_a_purchase_and_a_gift(settings, world, artifacts):  # noqa: F811
    """A contract wallet (a Safe) may buy notes and give some away in one transaction: the trade's
    own note transfer is its purchase line, the other is a gift: a `notes_out` line, and it carries
    its share of the discount bought away from the buyer's earnings."""
    node, book, token = world.chain, world.book, world.token
    seller, owner, friend = world.investors[:3]
    loan_id, start = world.active_loan(investors=[seller, owner])
    safe = batch_wallet(world, artifacts, owner)
    node.tx(world.kyc.functions.attest(safe.address, world.investor_level, KYC_EXPIRY, Web3.keccak(text="kyc-safe")),
            world.admin.address)  # fmt: skip
    world.ready_for_market(seller)
    notes = book.functions.balanceOf(seller.address, loan_id).call() // 2
    listing = world.place(seller, "ask", loan_id, notes, 9_000)  # a discount of 10%
    cost, gift = world.market.functions.costOf(listing, notes).call(), notes // 4
    node.tx(token.functions.transfer(safe.address, cost), owner.address)
    node.tx(in_one_transaction(safe, token.functions.approve(world.market.address, cost), world.buy(listing, notes),
                               book.functions.safeTransferFrom(safe.address, friend.address, loan_id, gift, b"")),
            owner.address)  # fmt: skip
    node.mine_at(start + 10 * 86_400)
    # Paid off in that second (every discount earned): a block mined later, on a loaded machine, may
    # fall in the next day, whose payoff is a day's interest more, and leave the loan open.
    world.repay(loan_id, book.functions.amountDue(loan_id).call()[1], at=start + 10 * 86_400)
    Indexer().catch_up(settings)
    with session_scope(settings) as session:
        bought = statement_of(session, settings, safe.address)
        given = statement_of(session, settings, friend.address)
    assert [(line.kind, line.cash, line.notes) for line in bought.lines] == [("purchase", -cost, notes), ("notes_out", 0, -gift)]
    assert [(line.kind, line.notes) for line in given.lines] == [("notes_in", gift)]
    discount = notes - cost  # nothing was repaid before the trade: the notes stood for their face
    assert bought.earnings.market_result == discount - discount * gift // notes  # the gift took its share away
    with session_scope(settings) as session:
        for wallet in (safe.address, friend.address):  # nothing claimed yet: all of it is claimable
            assert entitled_by_loan(earnings_of(session, wallet))[loan_id] == book.functions.claimableOf(loan_id, wallet).call()


def test_notes_given_or_received_are_valued_at_what_they_stood_for_then(settings, world):  # noqa: F811
    """The net annual return counts a gift as a flow of the principal outstanding its notes stood
    for: their face while the loan funds, less once principal came back, nothing once the loan
    defaulted (worth nothing until recovered, as the portfolio counts such notes)."""
    node, book = world.chain, world.book
    giver, other, receiver = world.investors[:3]
    funding, _ = world.create()
    world.fund(funding, giver, 1_000 * UNIT)
    node.tx(book.functions.safeTransferFrom(giver.address, receiver.address, funding, 400 * UNIT, b""), giver.address)
    active, start = world.active_loan(investors=[giver, other])
    world.repay(active, world.loan(active)["installmentAmount"], at=start + 30 * 86_400)
    outstanding, principal = world.loan(active)["principalOutstanding"], world.loan(active)["principal"]
    node.tx(book.functions.safeTransferFrom(giver.address, receiver.address, active, 600 * UNIT, b""), giver.address)
    node.tx(book.functions.markDefault(active), world.admin.address, at=book.functions.defaultableAt(active).call() + 1)
    node.tx(book.functions.safeTransferFrom(giver.address, receiver.address, active, 100 * UNIT, b""), giver.address)
    Indexer().catch_up(settings)
    worth = 600 * UNIT * outstanding // principal
    assert outstanding < principal
    with session_scope(settings) as session:
        assert [amount for _, amount in gift_flows(session, giver.address)] == [400 * UNIT, worth, 0]
        assert [amount for _, amount in gift_flows(session, receiver.address)] == [-400 * UNIT, -worth, 0]
        assert gift_flows(session, other.address) == []
