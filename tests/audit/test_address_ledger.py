"""An address's trace is its ledger of the loan asset: a borrower's payout (net, with the fee
withheld) and repayments, autopay ones credited to it rather than to the agent; an investor's
fundings, claims and note trades; and, for the contracts the money passes through, a
reconciliation with `balanceOf` that is exact until someone sends them tokens without an event."""

from __future__ import annotations

import json

import pytest
from typer.testing import CliRunner

from backend.audit.trace import trace_address
from backend.chain import repayment_mandates as rm
from backend.chain.indexer import Indexer
from backend.cli.main import app
from backend.config import get_settings
from backend.db.session import session_scope
from tests.anchoring.helpers import point_get_settings_at
from tests.conftest import own_database
from tests.contracts.conftest import chain, world  # noqa: F401
from tests.contracts.helpers import events

UNIT, DAY, MAX_UINT = 10**6, 86_400, 2**256 - 1


@pytest.fixture
def settings(chain_settings, deployment, world, snapshot, tmp_path, database_url):  # noqa: F811
    return own_database(chain_settings, tmp_path, database_url)


def _trace(settings, who):
    with session_scope(settings) as session:
        return trace_address(session, settings, who if isinstance(who, str) else who.address)


def _kinds(trace) -> list[tuple[str, str, int]]:
    return [(e.kind, e.direction, e.amount) for e in trace.ledger]


def _autopay(world, loan_id: int, at: int):  # noqa: F811
    """The borrower's signed mandate, carried out by its executor through the RepaymentAgent."""
    agent, borrower = world.agent, world.borrower
    world.chain.tx(world.token.functions.approve(agent.address, MAX_UINT), borrower.address)
    mandate = rm.RepaymentMandate(payer=borrower.address, executor=world.admin.address, loan_id=loan_id,
                                  max_per_payment=2 * world.loan(loan_id)["installmentAmount"],
                                  expiry=world.chain.now() + 400 * DAY, salt=1)  # fmt: skip
    signature = rm.sign(mandate, borrower, world.chain_id, agent.address)
    world.chain.tx(agent.functions.payWithMandate(mandate.as_tuple(), signature), world.admin.address, at=at)


def test_the_ledger_of_a_borrower_an_investor_and_the_platform_contracts(settings, world, monkeypatch):  # noqa: F811
    book, market = world.book, world.market
    loan_id, start = world.active_loan()
    loan = world.loan(loan_id)
    fee = loan["principal"] * loan["originationFeeBps"] // 10_000
    _autopay(world, loan_id, at=start + 28 * DAY)
    world.repay(loan_id, 500 * UNIT)  # nothing billed yet: a prepayment, from the borrower's own wallet
    seller, buyer = world.investors[0], world.investors[1]
    world.chain.tx(book.functions.claim(loan_id), seller.address)
    world.ready_for_market(seller, buyer)
    listing = world.place(seller, "ask", loan_id, 100 * UNIT, 9_000)
    cost = world.market.functions.costOf(listing, 100 * UNIT).call()  # 90% of the principal outstanding
    world.chain.tx(world.buy(listing, 100 * UNIT), buyer.address)
    Indexer().catch_up(settings)

    borrower = _trace(settings, world.borrower)
    installment = loan["installmentAmount"]
    assert _kinds(borrower) == [("disbursed", "in", loan["principal"] - fee), ("origination_fee", "withheld", fee),
                                ("repaid", "out", installment), ("repaid", "out", 500 * UNIT)]  # fmt: skip
    assert [e.via for e in borrower.ledger] == [None, None, world.agent.address, None]
    assert borrower.repaid == installment + 500 * UNIT and borrower.totals["repaid"] == borrower.repaid
    assert (borrower.total_in, borrower.total_out) == (loan["principal"] - fee, installment + 500 * UNIT)
    assert borrower.reconciliation is None  # a wallet moves its tokens freely: nothing to reconcile
    agent = _trace(settings, world.agent.address)
    assert agent.ledger == [] and agent.repaid == 0 and agent.reconciliation.ok  # it pays nothing of its own

    sold = _trace(settings, seller)
    kinds = {e.kind: (e.direction, e.amount) for e in sold.ledger}
    assert kinds["funded"] == ("out", loan["principal"] // 6) and kinds["claimed"][0] == "in"
    assert kinds["note_sale"] == ("in", cost) and sold.funded == loan["principal"] // 6
    assert _kinds(_trace(settings, buyer))[-1] == ("note_purchase", "out", cost)

    held = _trace(settings, book.address)
    assert held.reconciliation.ok and held.reconciliation.balance == held.reconciliation.expected > 0
    assert {"funded", "disbursed", "origination_fee", "repaid", "claimed"} <= set(held.totals)
    reserve = _trace(settings, world.reserve.address)
    assert reserve.reconciliation.ok and reserve.totals["origination_fee"] >= fee
    assert _trace(settings, market.address).reconciliation.ok

    # A default: the reserve's cover goes to LoanBook for the investors, and a recovery follows.
    threshold = book.functions.defaultableAt(loan_id).call()
    defaulted = world.chain.tx(book.functions.markDefault(loan_id), world.outsider.address, at=threshold + 5)
    cover = events(defaulted, book, "LoanDefaulted")[0]["cover"]
    world.repay(loan_id, 100 * UNIT)
    Indexer().catch_up(settings)
    assert _kinds(_trace(settings, world.borrower))[-1] == ("recovered", "out", 100 * UNIT)
    held, reserve = _trace(settings, book.address), _trace(settings, world.reserve.address)
    assert cover > 0 and held.totals["reserve_cover"] == reserve.totals["reserve_cover"] == cover
    assert held.totals["recovered"] == 100 * UNIT and held.reconciliation.ok and reserve.reconciliation.ok

    # A plain transfer to LoanBook has no event of the platform: the reconciliation shows it.
    world.chain.tx(world.token.functions.transfer(book.address, 7), world.investors[2].address)
    Indexer().catch_up(settings)
    gift = _trace(settings, book.address).reconciliation
    assert not gift.ok and gift.difference == 7 and "+7 moved without an event" in gift.detail

    try:
        point_get_settings_at(monkeypatch, settings)
        shown = CliRunner().invoke(app, ["audit", "trace", "address", world.borrower.address, "--json"])
        printed = CliRunner().invoke(app, ["audit", "trace", "address", book.address])
    finally:
        monkeypatch.undo()
        get_settings.cache_clear()
    assert shown.exit_code == 0 and json.loads(shown.stdout)["repaid"] == installment + 600 * UNIT  # with the recovery
    assert printed.exit_code == 0 and "FAIL reconciliation" in printed.output
