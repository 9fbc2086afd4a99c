"""`loanchain index verify`: the index held against the node. Rows edited, deleted or invented in
the database are named (missing, extra, altered, with the fields), and so are projection rows
edited on their own, against a fresh fold of the chain's logs; a block range checks the events of
that range only."""

from __future__ import annotations

import copy

import pytest
from sqlalchemy import delete, select, update
from typer.testing import CliRunner

from backend.chain.index_check import verify_index
from backend.chain.indexer import Indexer
from backend.chain.models import ChainEvent
from backend.chain.projection_models import EventSubjectRow, LoanRow
from backend.cli.main import app
from backend.config import get_settings
from backend.db.session import session_scope
from tests.anchoring.helpers import point_get_settings_at
from tests.conftest import own_database
from tests.contracts.conftest import chain, world  # noqa: F401

UNIT = 10**6


@pytest.fixture
def settings(chain_settings, deployment, world, snapshot, tmp_path, database_url):  # noqa: F811
    return own_database(chain_settings, tmp_path, database_url)


def _one(session, event: str) -> ChainEvent:
    return session.scalars(select(ChainEvent).where(ChainEvent.event == event).order_by(ChainEvent.id)).first()


def test_verify_names_every_edited_deleted_and_invented_row(settings, world, monkeypatch):  # noqa: F811
    loan_id, _ = world.active_loan()
    world.repay(loan_id, 1_000 * UNIT)
    Indexer().catch_up(settings)
    clean = verify_index(settings)
    assert clean.ok and clean.projections_checked, (clean.differences, clean.projection_differences)
    assert clean.events_indexed == clean.events_on_chain > 0

    with session_scope(settings) as session:
        funded = _one(session, "LoanFunded")
        args = copy.deepcopy(funded.args)
        args["amount"] = int(args["amount"]) * 2  # altered: an investor funded twice what it did
        funded.args = args
        disbursed = _one(session, "LoanDisbursed")  # missing: the payout is gone
        session.execute(delete(EventSubjectRow).where(EventSubjectRow.event_id == disbursed.id))
        session.execute(delete(ChainEvent).where(ChainEvent.id == disbursed.id))
        invented = ChainEvent(  # extra: a repayment that never happened
            block_number=disbursed.block_number, block_hash=disbursed.block_hash, tx_hash="0x" + "ab" * 32, tx_index=0,
            log_index=999, contract="LoanBook", address=disbursed.address, event="LoanPayment",
            args={"loanId": loan_id, "installment": 1, "payer": world.borrower.address, "feePaid": 0,
                  "interestPaid": 5, "principalPaid": 5, "principalOutstanding": 0},
            block_timestamp=disbursed.block_timestamp,
        )  # fmt: skip
        session.add(invented)
        # and a projection edited on its own: the loan all but repaid
        session.execute(update(LoanRow).where(LoanRow.loan_id == loan_id).values(principal_outstanding=1))
        block, amount, forged = disbursed.block_number, int(funded.args["amount"]), invented.tx_hash

    report = verify_index(settings)
    assert not report.ok
    by_kind = {d.kind: d for d in report.differences}
    assert set(by_kind) == {"altered", "missing", "extra"} and len(report.differences) == 3
    assert by_kind["altered"].event == "LoanFunded" and by_kind["altered"].detail == f"amount: index {amount}, chain {amount // 2}"
    assert (by_kind["missing"].event, by_kind["missing"].block_number) == ("LoanDisbursed", block)
    assert (by_kind["extra"].event, by_kind["extra"].tx_hash, by_kind["extra"].log_index) == ("LoanPayment", forged, 999)
    edited = [d for d in report.projection_differences if d.startswith(f"chain_loans loan_id={loan_id}:")]
    assert len(edited) == 1 and "principal_outstanding index 1, fold " in edited[0]

    # A block range: only its events, and no fold (projections fold from the deployment on).
    ranged = verify_index(settings, from_block=block, to_block=block)
    assert (ranged.from_block, ranged.to_block, ranged.projections_checked) == (block, block, False)
    assert {d.kind for d in ranged.differences} == {"missing", "extra"} and ranged.notes

    try:
        point_get_settings_at(monkeypatch, settings)
        result = CliRunner().invoke(app, ["index", "verify"])
        ranged_cli = CliRunner().invoke(app, ["index", "verify", "--from-block", str(block + 1), "--json"])
    finally:
        monkeypatch.undo()
        get_settings.cache_clear()
    assert result.exit_code == 1, result.output
    assert "extra LoanPayment" in result.output and "missing LoanDisbursed" in result.output
    assert "INDEX DIFFERS FROM THE CHAIN" in result.output
    assert ranged_cli.exit_code == 0, ranged_cli.output  # the repayment's block on: untouched


def test_verify_judges_the_index_against_the_confirmed_head_not_its_own_checkpoint(settings, world):  # noqa: F811
    """The audit's M3: by default `index verify` reads up to the chain's confirmed head. An index a
    few fresh blocks behind is current (its lag reported, the logs it lacks listed as not indexed
    yet); one taken back and kept stopped while the chain moved on is not."""
    loan_id, _ = world.active_loan()
    Indexer().catch_up(settings)
    indexed = verify_index(settings).indexed_through
    world.repay(loan_id, 1_000 * UNIT)  # mined just now: the indexer would take it on its next round
    behind = verify_index(settings)
    head = world.w3.eth.block_number
    assert behind.ok and behind.current, (behind.differences, behind.notes)
    assert (behind.to_block, behind.confirmed_head, behind.indexed_through) == (head, head, indexed)
    assert behind.lag_blocks == head - indexed and behind.not_indexed_yet
    assert all(d.block_number > indexed for d in behind.not_indexed_yet)

    world.chain.rpc("evm_increaseTime", [60 * 86400])  # the chain moves on for two months; the index does not
    world.chain.rpc("evm_mine")
    stale = verify_index(settings)
    assert not stale.ok and not stale.current and not stale.differences
    assert f"{stale.lag_blocks} blocks behind the confirmed head {stale.confirmed_head}" in stale.lag

    Indexer().catch_up(settings)
    caught_up = verify_index(settings)
    assert caught_up.ok and caught_up.lag_blocks == 0 and not caught_up.not_indexed_yet
