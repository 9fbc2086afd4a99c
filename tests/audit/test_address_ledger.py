"""An address's trace is its ledger of the loan asset: a borrower's payout (net, with the fee
withheld) and repayments, autopay ones credited to it rather than to the agent; an investor's
fundings, claims and note trades; and, for the contracts the money passes through, a
reconciliation with `balanceOf` that is exact until someone sends them tokens without an event."""

from __future__ import annotations

import copy
import json

import pytest
from sqlalchemy import delete, select, update
from typer.testing import CliRunner

from backend.audit.trace import trace_address
from backend.chain import repayment_mandates as rm
from backend.chain.indexer import Indexer
from backend.chain.models import ChainEvent
from backend.chain.projection_models import AttestationRow, EventSubjectRow, FundingRow, NoteBalanceRow
from backend.cli.main import app
from backend.config import get_settings
from backend.db.session import session_scope
from tests.anchoring.helpers import point_get_settings_at
from tests.conftest import own_database
from tests.contracts.conftest import chain, world  # noqa: F401
from tests.contracts.helpers import events

UNIT, DAY, MAX_UINT = 10**6, 86_400, 2**256 - 1
CHECKS = ["index_current", "events_match_chain", "projections_match_chain", "notes_match_chain",
          "attestation_matches_chain"]  # fmt: skip


@pytest.fixture
def settings(chain_settings, deployment, world, snapshot, tmp_path, database_url):  # noqa: F811
    return own_database(chain_settings, tmp_path, database_url)


def _trace(settings, who, consistent: bool | None = True):
    """The address's trace. `consistent`: that is its verdict, while every check against the chain
    passes (False: only the reconciliation fails)."""
    with session_scope(settings) as session:
        trace = trace_address(session, settings, who if isinstance(who, str) else who.address)
    if consistent is not None:
        assert trace.consistent is consistent and not _failing(trace), _failing(trace)
        assert [c.name for c in trace.checks] == CHECKS
    return trace


def _failing(trace) -> dict[str, str]:
    return {c.name: c.detail for c in trace.checks if not c.ok}


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
    gift = _trace(settings, book.address, consistent=False).reconciliation  # its index rows are the chain's still
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


def test_an_edited_or_dropped_index_row_fails_the_address_trace_naming_the_difference(settings, world, monkeypatch):  # noqa: F811
    """The auditor's finding H1: the address trace (and the investor statement it stands behind)
    took the index on trust. Someone with the database multiplies an investor's funding by 10 (the
    event and its statement row), drops one of its claims, and edits its notes and attestation:
    each check against the chain names what changed, and the untouched trace stays consistent."""
    loan_id, _ = world.active_loan()
    world.repay(loan_id, 500 * UNIT)  # a prepayment: something to claim
    investor = world.investors[0]
    world.chain.tx(world.book.functions.claim(loan_id), investor.address)
    Indexer().catch_up(settings)
    before = _trace(settings, investor)
    assert before.funded == world.loan(loan_id)["principal"] // 6 and "claimed" in before.totals

    with session_scope(settings) as session:
        mine = ChainEvent.args["investor"].as_string() == investor.address
        funded = session.scalar(select(ChainEvent).where(ChainEvent.event == "LoanFunded", mine))
        args = copy.deepcopy(funded.args)
        amount = int(args["amount"])
        args["amount"] = amount * 10
        funded.args = args
        session.execute(update(FundingRow).where(FundingRow.event_id == funded.id).values(amount=amount * 10))
        claimed = session.scalar(select(ChainEvent).where(ChainEvent.event == "Claimed", mine))
        for model in (EventSubjectRow, FundingRow):
            session.execute(delete(model).where(model.event_id == claimed.id))
        session.delete(claimed)
        session.execute(update(NoteBalanceRow).where(NoteBalanceRow.holder == investor.address)
                        .values(balance=amount + 1))  # fmt: skip (a note per base unit funded)
        session.execute(update(AttestationRow).where(AttestationRow.wallet == investor.address).values(level=9))
        places = {name: (ev.block_number, ev.log_index) for name, ev in (("funded", funded), ("claimed", claimed))}

    after = _trace(settings, investor, consistent=None)
    failing = _failing(after)
    assert not after.consistent and after.funded == before.funded * 10  # the index's figure, flagged
    assert set(failing) == {"events_match_chain", "projections_match_chain", "notes_match_chain",
                            "attestation_matches_chain"}  # fmt: skip
    (fb, fl), (cb, cl) = places["funded"], places["claimed"]
    assert f"altered LoanFunded at block {fb} log {fl}" in failing["events_match_chain"]
    assert f"amount: index {amount * 10}, chain {amount}" in failing["events_match_chain"]
    assert f"missing Claimed at block {cb} log {cl}" in failing["events_match_chain"]
    assert f"chain_fundings at block {fb} log {fl} loan {loan_id}: amount index {amount * 10}, chain {amount}" in (
        failing["projections_match_chain"])
    assert f"chain_fundings at block {cb} log {cl} loan {loan_id}: the log is on chain, the index has no row" in (
        failing["projections_match_chain"])
    assert f"loan {loan_id}: index {amount + 1:,}, LoanBook.balanceOf {amount:,}" in failing["notes_match_chain"]
    assert f"level: index 9, chain {world.investor_level}" in failing["attestation_matches_chain"]

    try:
        point_get_settings_at(monkeypatch, settings)
        printed = CliRunner().invoke(app, ["audit", "trace", "address", investor.address])
    finally:
        monkeypatch.undo()
        get_settings.cache_clear()
    assert printed.exit_code == 0, printed.output
    assert f"address {investor.address}: INCONSISTENT" in printed.output
    assert "FAIL events_match_chain" in printed.output and "ok index_current" in printed.output
    _trace(settings, world.investors[1])  # another investor of the same loan: untouched, consistent


def test_a_row_filed_elsewhere_or_invented_is_named(settings, world):  # noqa: F811
    """An index row taken off the address (its chain_event_subjects row deleted) is named as such,
    and an invented one as extra."""
    world.active_loan()
    investor = world.investors[0]
    Indexer().catch_up(settings)
    with session_scope(settings) as session:
        funded = session.scalar(select(ChainEvent).where(
            ChainEvent.event == "LoanFunded", ChainEvent.args["investor"].as_string() == investor.address))
        minted = session.scalar(select(ChainEvent).where(ChainEvent.tx_hash == funded.tx_hash,
                                                         ChainEvent.event == "TransferSingle"))  # fmt: skip
        session.execute(delete(EventSubjectRow).where(EventSubjectRow.event_id == minted.id))
        forged = ChainEvent(**{c.key: getattr(funded, c.key) for c in ChainEvent.__table__.columns if c.key != "id"}
                            | {"log_index": 999, "tx_hash": "0x" + "ab" * 32})  # fmt: skip
        session.add(forged)
        session.flush()
        session.add(EventSubjectRow(event_id=forged.id, address=investor.address, block_number=forged.block_number,
                                    tx_hash=forged.tx_hash, log_index=forged.log_index))  # fmt: skip
        places = [(ev.block_number, ev.log_index) for ev in (minted, forged)]
    failing = _failing(_trace(settings, investor, consistent=None))["events_match_chain"]
    (mb, ml), (fb, fl) = places
    assert f"missing TransferSingle at block {mb} log {ml}" in failing
    assert "not filed under the address (chain_event_subjects)" in failing
    assert f"extra LoanFunded at block {fb} log {fl}" in failing

    # A node that cannot be read leaves the index unchecked, and the trace says so rather than failing.
    offline = settings.model_copy(update={"rpc_url": "http://127.0.0.1:9"})
    with session_scope(offline) as session:
        unread = trace_address(session, offline, investor.address)
    assert not unread.consistent and "the chain could not be read" in _failing(unread)["events_match_chain"]
