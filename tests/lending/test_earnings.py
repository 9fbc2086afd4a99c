"""What each note holder earned, event by event: through installments (one late, with its fee), a
prepayment, notes given away and sold at a discount, a default covered by the reserve and a
recovery, every holder's earnings add up to exactly what LoanBook lets them claim, the loan's
payments are shared out to the last unit of rounding, and a trade's gain is its counterparty's loss."""

from __future__ import annotations

import csv
import io
from datetime import UTC, datetime
from types import SimpleNamespace

import pytest
from typer.testing import CliRunner

from backend.chain.indexer import Indexer
from backend.chain.projection_models import LoanRow
from backend.cli.main import app
from backend.config import get_settings
from backend.db.session import session_scope
from backend.lending.earnings import PARTS, _Event, _replay, earnings_of, entitled_by_loan
from backend.lending.portfolio import portfolio_of
from backend.lending.statement import statement_of
from tests.anchoring.helpers import point_get_settings_at
from tests.conftest import own_database
from tests.contracts.conftest import chain, world  # noqa: F401
from tests.contracts.helpers import batch_wallet, events, in_one_transaction
from tests.identity.conftest import ADMIN, client_for, minted_bearer

UNIT, DAY, MAX_UINT = 10**6, 86_400, 2**256 - 1
CASH_BACK = ("interest", "late_fees", "principal", "cover", "recovered")  # what the notes were paid


@pytest.fixture
def settings(chain_settings, deployment, world, snapshot, tmp_path, database_url):  # noqa: F811
    return own_database(chain_settings, tmp_path, database_url, admin_wallets=[ADMIN.address])


def _life_of_a_loan(world, holders) -> dict:  # noqa: F811
    """Every way a note earns or loses; returns the facts the test checks against."""
    node, book, market = world.chain, world.book, world.market
    first, second, third, buyer = holders
    loan_id, start = world.active_loan(investors=[first, second, third])
    due = world.loan(loan_id)["installmentAmount"]
    world.repay(loan_id, due, at=start + 30 * DAY)  # on time
    node.tx(book.functions.claim(loan_id), first.address)  # one holder claims early, the others later
    node.mine_at(start + 80 * DAY)
    world.repay(loan_id, book.functions.amountDue(loan_id).call()[0])  # the second installment, late: a fee
    held = book.functions.balanceOf(first.address, loan_id).call()
    node.tx(book.functions.safeTransferFrom(first.address, buyer.address, loan_id, held // 4, b""), first.address)
    for wallet in (second, buyer):
        node.tx(book.functions.setApprovalForAll(market.address, True), wallet.address)
        node.tx(world.token.functions.approve(market.address, MAX_UINT), wallet.address)
    listing = events(node.tx(market.functions.list(loan_id, held // 2, 7_000, 0), second.address), market, "Listed")[0]
    sold = events(node.tx(world.buy(listing["listingId"], held // 2), buyer.address), market, "Sold")[0]
    outstanding_at_sale = world.loan(loan_id)["principalOutstanding"]
    node.mine_at(start + 90 * DAY)
    # The third, and principal ahead: more than the fourth installment (about 1,066), which is billed
    # as soon as a second of its period has passed (a loaded machine mines this a second or more after
    # the due date), so that something is left to prepay either way.
    world.repay(loan_id, book.functions.amountDue(loan_id).call()[0] + 2_000 * UNIT)
    threshold = book.functions.defaultableAt(loan_id).call()
    (defaulted,) = events(node.tx(book.functions.markDefault(loan_id), world.admin.address, at=threshold + 1), book,
                          "LoanDefaulted")  # fmt: skip
    # Recovered from the borrower after the default: the investors' `debt - cover`, then 500 tokens
    # of the reserve's cover back to the reserve (not the notes').
    world.repay(loan_id, defaulted["debt"] - defaulted["cover"] + 500 * UNIT)
    node.tx(book.functions.claim(loan_id), third.address)
    return {"loan_id": loan_id, "sold": sold, "outstanding_at_sale": outstanding_at_sale, "defaulted": defaulted}


def test_earnings_add_up_to_what_the_contract_pays_each_holder(settings, world):  # noqa: F811
    holders = world.investors[:4]
    facts = _life_of_a_loan(world, holders)
    loan_id, book = facts["loan_id"], world.book
    Indexer().catch_up(settings)
    with session_scope(settings) as session:
        reports = {h.address: statement_of(session, settings, h.address) for h in holders}

    for holder in holders:
        report = reports[holder.address]
        lines = [line for line in report.earning_lines if line.loan_id == loan_id]
        paid_to_notes = sum(getattr(line, part) for line in lines for part in CASH_BACK)
        entitled = book.functions.claimedOf(loan_id, holder.address).call() + book.functions.claimableOf(loan_id, holder.address).call()
        assert paid_to_notes == entitled, holder.address  # exact: the contract's own accumulator, replayed
        assert all(getattr(report.earnings, p) == sum(getattr(line, p) for line in report.earning_lines) for p in PARTS)
        e = report.earnings
        assert e.net_return == e.interest + e.late_fees + e.recovered + e.market_result - e.written_off
        (by_loan,) = [loan for loan in report.loans if loan.loan_id == loan_id]
        assert by_loan.earnings == report.earnings  # one loan here

    loan = world.loan(loan_id)
    kinds = {line.kind for r in reports.values() for line in r.earning_lines}
    assert kinds == {"payment", "prepayment", "sale", "default", "recovery"}  # a purchase earns nothing yet
    total = {p: sum(getattr(r.earnings, p) for r in reports.values()) for p in PARTS}
    (interest_paid, fees_paid) = _paid(world, loan_id)
    events_shared = sum(len(r.earning_lines) for r in reports.values())
    assert 0 <= interest_paid - total["interest"] <= events_shared and total["interest"] > 0
    assert 0 <= fees_paid - total["late_fees"] <= events_shared and total["late_fees"] > 0
    cover, at_default = facts["defaulted"]["cover"], facts["defaulted"]["principalOutstanding"]
    assert 0 < total["cover"] <= cover and cover - total["cover"] <= len(holders)
    assert abs(total["written_off"] - (at_default - cover)) <= 2 * len(holders)
    owed_to_notes = facts["defaulted"]["debt"] - cover
    # Not the 500 that repaid the reserve. A recovery has no other part to take the accumulator's
    # rounding, which may give a holder a unit more of one event than its exact share (made up in others).
    assert -len(holders) <= owed_to_notes - total["recovered"] <= events_shared

    # The trade: 70% of face is below the principal still outstanding (about 76%): the
    # seller gave a discount, the buyer gained it.
    sold = facts["sold"]
    value = sold["notes"] * facts["outstanding_at_sale"] // loan["principal"]
    seller, buyer = reports[holders[1].address].earnings, reports[holders[3].address].earnings
    assert seller.market_result == sold["cost"] - value < 0 and buyer.market_result == value - sold["cost"] > 0
    # The seller's is earned at the sale; the buyer's as the principal it bought comes back, the rest
    # when the loan is written off (the discount offsets the loss on the notes bought below par).
    assert [(line.kind, line.market_result) for line in reports[holders[1].address].earning_lines
            if line.market_result] == [("sale", sold["cost"] - value)]  # fmt: skip
    earned = [(line.kind, line.market_result) for line in reports[holders[3].address].earning_lines if line.market_result]
    assert {kind for kind, _ in earned} <= {"payment", "prepayment", "default"} and earned[-1][0] == "default"
    assert len(earned) >= 2 and all(amount > 0 for _, amount in earned)


def _paid(world, loan_id) -> tuple[int, int]:  # noqa: F811
    """Interest and late fees the borrower paid, from LoanBook's own events."""
    logs = world.book.events.LoanPayment().get_logs(from_block=0, argument_filters={"loanId": loan_id})
    prepaid = world.book.events.LoanPrepayment().get_logs(from_block=0, argument_filters={"loanId": loan_id})
    return (sum(e["args"]["interestPaid"] for e in logs),
            sum(e["args"]["feePaid"] for e in logs) + sum(e["args"]["feePaid"] for e in prepaid))  # fmt: skip


def test_years_split_the_earnings_and_the_api_csv_and_cli_serve_them(settings, world, tmp_path, monkeypatch):  # noqa: F811
    holders = world.investors[:4]
    _life_of_a_loan(world, holders)
    Indexer().catch_up(settings)
    client, headers = client_for(settings), minted_bearer(settings, holders[0])
    served = client.get("/api/v1/portfolio/statement", headers=headers).json()
    assert served["earnings"]["interest"] > 0 and served["earning_lines"]

    calendar = sorted({datetime.fromtimestamp(line["timestamp"], UTC).year for line in served["earning_lines"]})
    parts = [client.get("/api/v1/portfolio/statement", params={"year": y}, headers=headers).json() for y in calendar]
    assert [line for part in parts for line in part["earning_lines"]] == served["earning_lines"]
    for p in PARTS:
        assert sum(part["earnings"][p] for part in parts) == served["earnings"][p]

    as_csv = client.get("/api/v1/portfolio/earnings.csv", headers=headers)
    assert as_csv.status_code == 200 and as_csv.headers["content-type"].startswith("text/csv")
    assert f"loanchain-earnings-{holders[0].address}-all.csv" in as_csv.headers["content-disposition"]
    rows = list(csv.DictReader(io.StringIO(as_csv.text)))
    assert [(int(r["loan_id"]), r["kind"], int(r["interest"])) for r in rows] == [
        (line["loan_id"], line["kind"], line["interest"]) for line in served["earning_lines"]]  # fmt: skip
    assert client.get("/api/v1/portfolio/earnings.csv").status_code == 401

    out = tmp_path / "earnings.csv"
    try:
        point_get_settings_at(monkeypatch, settings)
        ran = CliRunner().invoke(app, ["portfolio", "statement", holders[0].address, "--earnings-csv", str(out)])
    finally:
        monkeypatch.undo()
        get_settings.cache_clear()
    assert ran.exit_code == 0, ran.output
    assert "net return" in ran.stdout and out.read_text() == as_csv.text  # the same service, whichever door


def test_a_premium_is_amortized_as_the_principal_comes_back_and_a_gift_takes_its_share():
    """Replayed on made-up events: notes bought above their principal outstanding earn a negative
    result as the principal comes back; half given away take half the premium with them; the rest
    is earned by the time the loan is repaid, to the unit."""
    loan = LoanRow(loan_id=7, principal=1_000, funded=1_000)
    ref = iter(range(1, 100))

    def ev(kind, **fields):
        n = next(ref)
        return _Event(SimpleNamespace(block_number=n, log_index=0, tx_hash=f"0x{n:x}"), n, kind, **fields)

    bought = ev("purchase", traded=400, cost=460)  # 400 notes, 400 outstanding, paid 460: a premium of 60
    events = [bought, ev("transfer", notes=400, by_trade=True), ev("transfer", notes=-200),  # half given away
              ev("payment", amount=300, split={"interest": 0, "principal": 300}, outstanding=700),
              ev("payment", amount=700, split={"interest": 0, "principal": 700}, outstanding=0)]  # fmt: skip
    lines = _replay(loan, events)
    assert [(line.kind, line.market_result) for line in lines] == [("payment", -9), ("payment", -21)]


def test_notes_sent_to_oneself_earn_nothing_twice_and_are_no_movement(settings, world):  # noqa: F811
    """ERC-1155 lets a wallet send notes to itself; nothing changes on chain, so nothing may change
    in the earnings (they still add up to what the contract lets the wallet claim) or the statement."""
    book, (a, b) = world.book, world.investors[:2]
    loan_id, start = world.active_loan(investors=[a, b])
    held = book.functions.balanceOf(a.address, loan_id).call()
    world.chain.tx(book.functions.safeTransferFrom(a.address, a.address, loan_id, held, b""), a.address)
    world.repay(loan_id, world.loan(loan_id)["installmentAmount"], at=start + 30 * 86_400)
    Indexer().catch_up(settings)
    on_chain = book.functions.claimedOf(loan_id, a.address).call() + book.functions.claimableOf(loan_id, a.address).call()
    with session_scope(settings) as session:
        assert entitled_by_loan(earnings_of(session, a.address))[loan_id] == on_chain
        kinds = [line.kind for line in statement_of(session, settings, a.address).lines]
    assert "notes_in" not in kinds and "notes_out" not in kinds


def test_two_recoveries_in_one_transaction_each_give_the_reserve_only_its_own_recoup(settings, world, artifacts):  # noqa: F811
    """Anyone may repay a defaulted loan, a collector's contract or a Safe several times in one
    transaction: each CoverRecouped belongs to the LoanRecovery just before it, so every holder's
    recoveries stay positive and its earnings still add up to what LoanBook lets it claim."""
    node, book, token = world.chain, world.book, world.token
    a, b = world.investors[:2]
    loan_id, start = world.active_loan(investors=[a, b])
    world.repay(loan_id, world.loan(loan_id)["installmentAmount"], at=start + 30 * DAY)
    threshold = book.functions.defaultableAt(loan_id).call()
    (defaulted,) = events(node.tx(book.functions.markDefault(loan_id), world.admin.address, at=threshold + 1), book,
                          "LoanDefaulted")  # fmt: skip
    investors_part = defaulted["debt"] - defaulted["cover"]
    first = investors_part // 3  # the investors' alone
    second = investors_part - first + 2_000 * UNIT  # the rest of theirs, then 2,000 of the reserve's cover
    collector = batch_wallet(world, artifacts, world.admin)
    node.tx(token.functions.transfer(collector.address, first + second), world.admin.address)
    receipt = node.tx(in_one_transaction(collector, token.functions.approve(book.address, first + second),
                                         book.functions.repay(loan_id, first), book.functions.repay(loan_id, second)),
                      world.admin.address)  # fmt: skip
    assert [e["amount"] for e in events(receipt, book, "LoanRecovery")] == [first, second]
    assert [e["amount"] for e in events(receipt, book, "CoverRecouped")] == [2_000 * UNIT]
    Indexer().catch_up(settings)
    with session_scope(settings) as session:
        for holder in (a, b):
            lines = earnings_of(session, holder.address)
            entitled = book.functions.claimedOf(loan_id, holder.address).call() + book.functions.claimableOf(loan_id, holder.address).call()
            assert entitled_by_loan(lines)[loan_id] == entitled, holder.address
            recovered = [line.recovered for line in lines if line.kind == "recovery"]
            assert len(recovered) == 2 and all(amount > 0 for amount in recovered), recovered
            assert portfolio_of(session, settings, holder.address).claimable == book.functions.claimableOf(loan_id, holder.address).call()
