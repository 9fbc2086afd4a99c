"""Traces do not take the platform's chain index on trust: a loan's trace re-reads the loan and its
logs from the node and names what an edited or invented index row changed; a transaction's trace
asks the node for its receipt; the agreement's figures are held against the on-chain terms."""

from __future__ import annotations

import copy
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import delete, func, select, update
from web3 import Web3

from backend.anchoring.batcher import batcher_step
from backend.audit import log as audit_log
from backend.audit import trace as trace_module
from backend.audit.models import AuditEntry
from backend.audit.trace import trace_loan, trace_tx
from backend.chain.deploy import deployed_addresses
from backend.chain.indexer import CHECKPOINT, Indexer, undo_after
from backend.chain.kyc_reader import OnChainAttestation
from backend.chain.models import ChainEvent, IndexerCheckpoint
from backend.chain.node import rpc_call
from backend.chain.projection_models import AttestationRow, EventSubjectRow, FundingRow, LoanRow, NoteTransferRow
from backend.chain.projections import apply_all
from backend.db.meta import MetaEntry
from backend.db.session import session_scope
from backend.errors import ChainUnavailable, NotFound
from backend.lending import agreement
from backend.servicing.models import ServicingNotice
from backend.servicing.notices import add_notice
from tests.conftest import own_database
from tests.contracts.conftest import chain, world  # noqa: F401
from tests.contracts.helpers import KYC_EXPIRY
from tests.lending.conftest import approved, borrower, chain_identity_settings, client, created_loan, settle  # noqa: F401

FORGED_TX = "0x" + "ab" * 32
DAY = 86_400
CANCEL_ABI = [{"type": "function", "name": "cancel", "stateMutability": "nonpayable",
               "inputs": [{"name": "loanId", "type": "uint256"}], "outputs": []}]  # fmt: skip


def _anchored_loan(client, settings, borrower, approved):  # noqa: F811
    settings = settings.model_copy(update={"anchor_batch_interval": 0})
    offer = created_loan(client, settings, borrower, approved)
    batcher_step(settings)  # the agreement's hash goes into a Merkle root on-chain
    settle(settings)
    batcher_step(settings)
    return settings, offer["loan_id"]


def _failing(trace) -> dict[str, str]:
    return {c.name: c.detail for c in trace.checks if not c.ok}


def test_an_edited_or_invented_index_row_fails_the_loan_trace_naming_the_difference(
    client, chain_identity_settings, borrower, approved  # noqa: F811
):
    settings, loan_id = _anchored_loan(client, chain_identity_settings, borrower, approved)
    with session_scope(settings) as session:
        before = trace_loan(session, settings, loan_id)
    assert before.consistent and before.read_at_block is not None, _failing(before)
    created_tx = before.events[0].tx_hash

    # Someone with the database edits the indexed LoanCreated and the loan row (x10 principal, 1 bp
    # APR) and invents a repayment, run through the projections as the indexer would.
    with session_scope(settings) as session:
        created = session.scalar(select(ChainEvent).where(ChainEvent.event == "LoanCreated"))
        args = copy.deepcopy(created.args)
        principal, apr = int(args["terms"]["principal"]), int(args["terms"]["aprBps"])
        args["terms"] |= {"principal": principal * 10, "aprBps": 1}
        created.args = args
        session.execute(update(LoanRow).where(LoanRow.loan_id == loan_id).values(principal=principal * 10, apr_bps=1))
        forged = ChainEvent(
            block_number=created.block_number, block_hash=created.block_hash, tx_hash=FORGED_TX, tx_index=0,
            log_index=999, contract="LoanBook", address=created.address, event="LoanPayment",
            args={"loanId": loan_id, "installment": 1, "payer": borrower.account.address, "feePaid": 0,
                  "interestPaid": 5, "principalPaid": 5, "principalOutstanding": 0},
            block_timestamp=created.block_timestamp,
        )  # fmt: skip
        session.add(forged)
        session.flush()
        apply_all(session, forged)

    with session_scope(settings) as session:
        after = trace_loan(session, settings, loan_id)
        forged_tx = trace_tx(session, settings, FORGED_TX)
        real_tx = trace_tx(session, settings, created_tx)
    failing = _failing(after)
    assert not after.consistent and set(failing) == {"index_matches_chain", "events_match_chain"}
    assert f"principal: index {principal * 10}, chain {principal}" in failing["index_matches_chain"]
    assert f"apr_bps: index 1, chain {apr}" in failing["index_matches_chain"]
    assert f"altered LoanCreated at block {created.block_number}" in failing["events_match_chain"]
    assert f"terms.principal: index {principal * 10}, chain {principal}" in failing["events_match_chain"]
    assert f"extra LoanPayment at block {created.block_number} log 999 (tx {FORGED_TX})" in failing["events_match_chain"]
    # The trace reports what the chain says, and proves the decision and agreement the chain names.
    assert (after.terms_hash, after.decision_hash, after.agreement_hash) == (before.terms_hash, before.decision_hash,
                                                                              before.agreement_hash)  # fmt: skip
    assert after.decision.hash_intact and after.decision.reproduced and after.agreement.status == "verified"
    # The decision proof reads the index, whose edited copy of the loan is not what the decision fixed;
    # the trace's own check holds the chain's terms against it, and they are.
    assert not after.decision.verified and after.decision.loans[0].differences == [
        f"principal: loan {principal * 10}, decision {principal} ({principal // 10**6} at 6 decimals)", "apr_bps: loan 1, "
        f"decision {apr}"]  # fmt: skip

    assert not forged_tx.consistent and forged_tx.block_number is None
    assert [(c.name, c.ok) for c in forged_tx.checks] == [("receipt_on_chain", False)]
    assert "no such mined transaction, yet the index holds 1 events" in forged_tx.checks[0].detail
    assert not real_tx.consistent and real_tx.block_number == created.block_number
    (receipt, logs) = real_tx.checks
    assert receipt.ok and not logs.ok and f"terms.aprBps: index 1, chain {apr}" in logs.detail


def test_an_agreement_whose_figures_differ_from_the_signed_terms_fails_the_trace(
    client, chain_identity_settings, borrower, approved, monkeypatch  # noqa: F811
):
    """A document written with the wrong principal, but hashed into the signed terms and anchored
    all the same: anchored, yet not the terms the contract enforces."""
    written = agreement.agreement_document
    monkeypatch.setattr("backend.lending.offers.agreement_document",
                        lambda **figures: written(**figures | {"principal": figures["principal"] * 2}))  # fmt: skip
    settings, loan_id = _anchored_loan(client, chain_identity_settings, borrower, approved)
    with session_scope(settings) as session:
        trace = trace_loan(session, settings, loan_id)
        principal = session.get(LoanRow, loan_id).principal
    failing = _failing(trace)
    assert set(failing) == {"agreement_matches_terms"}, failing
    assert f"terms.principal: document {principal * 2}, chain {principal}" in failing["agreement_matches_terms"]
    assert "cost_of_credit.amount_financed" in failing["agreement_matches_terms"]


def test_differences_from_chain_reads_every_figure_of_the_document():
    figures = dict(borrower="0x" + "11" * 20, chain_id=31337, loan_book="0x" + "22" * 20, asset="0x" + "33" * 20,
                   principal=1_000 * 10**6, interest_apr_bps=1_000, installments=12, installment_period=30 * 86_400,
                   installment_amount=88 * 10**6, origination_fee_bps=200, funding_deadline=1_900_000_000,
                   decision_hash="0x" + "44" * 32)  # fmt: skip
    document = agreement.agreement_document(offer_id="o", asset_decimals=6, model_version="m",
                                            **figures)  # fmt: skip
    assert agreement.differences_from_chain(document, **figures) == []
    assert agreement.differences_from_chain(document, **figures | {"funding_deadline": 1}) == [
        "terms.funding_deadline: document 1900000000, chain 1"
    ]
    assert agreement.differences_from_chain(b"not json", **figures) == ["the document is not an agreement this platform "
                                                                         "writes (not JSON)"]  # fmt: skip


def test_a_rolled_back_stopped_index_fails_the_trace_and_the_trace_reads_the_confirmed_head(
    client, chain_identity_settings, borrower, approved, accounts  # noqa: F811
):
    """The audit's M3: the operator takes the index back to the loan's creation and keeps the
    indexer stopped, while on chain the loan was cancelled 60 days later. The trace reads the
    chain at its confirmed head, not the index's block, and says how far behind the index is."""
    settings, loan_id = _anchored_loan(client, chain_identity_settings, borrower, approved)
    with session_scope(settings) as session:
        before = trace_loan(session, settings, loan_id)
    created_block = before.events[0].block_number
    assert before.consistent, _failing(before)
    assert "the index is at the confirmed head" in {c.name: c.detail for c in before.checks}["index_current"]

    # An honest index a few blocks behind while the indexer runs is not called stale.
    rpc_call(settings.rpc_url, "evm_mine")
    rpc_call(settings.rpc_url, "evm_mine")
    with session_scope(settings) as session:
        behind = trace_loan(session, settings, loan_id)
    assert behind.consistent, _failing(behind)
    assert behind.read_at_block == before.read_at_block + 2
    assert "2 blocks behind the confirmed head" in {c.name: c.detail for c in behind.checks}["index_current"]

    rpc_call(settings.rpc_url, "evm_increaseTime", [60 * 86400])
    rpc_call(settings.rpc_url, "evm_mine")
    w3 = Web3(Web3.HTTPProvider(settings.rpc_url))
    book = w3.eth.contract(address=deployed_addresses(settings)["LoanBook"], abi=CANCEL_ABI)
    w3.eth.wait_for_transaction_receipt(book.functions.cancel(loan_id).transact({"from": accounts[3].address}))
    head = w3.eth.block_number
    settle(settings)
    with session_scope(settings) as session:
        undo_after(session, created_block)
        cp = session.get(IndexerCheckpoint, CHECKPOINT)
        cp.block_number, cp.block_hash = created_block, w3.eth.get_block(created_block)["hash"].to_0x_hex()
    with session_scope(settings) as session:
        stale = trace_loan(session, settings, loan_id)
    failing = _failing(stale)
    assert not stale.consistent and set(failing) == {"index_current"}, failing
    assert stale.status == "cancelled" and stale.read_at_block == head  # the chain's word, not the index's
    assert f"the index is at block {created_block}, {head - created_block} blocks behind" in failing["index_current"]
    assert f"LoanCancelled at block {head}" in failing["index_current"]

    # However generous the tolerance, the trace still reports what the chain says now.
    lenient = settings.model_copy(update={"index_stale_after": 10**9})
    with session_scope(lenient) as session:
        tolerated = trace_loan(session, lenient, loan_id)
    assert tolerated.status == "cancelled" and tolerated.consistent
    assert "LoanCancelled" in {c.name: c.detail for c in tolerated.checks}["index_current"]


@pytest.fixture
def settings(chain_settings, deployment, world, snapshot, tmp_path, database_url):  # noqa: F811
    return own_database(chain_settings, tmp_path, database_url)


def test_deleted_index_rows_of_a_real_transaction_or_loan_fail_the_trace_not_404(settings, world):  # noqa: F811
    """The audit's H2: the operator deletes an investor's funding and then the loan's row. The node,
    not the index, says whether they exist: both traces answer, failing the check that names the gap."""
    loan_id, _ = world.active_loan()
    Indexer().catch_up(settings)
    investor = world.investors[0]
    with session_scope(settings) as session:
        funding = session.scalar(select(ChainEvent).where(ChainEvent.event == "LoanFunded",
                                                          ChainEvent.args["investor"].as_string() == investor.address))
        tx, block = funding.tx_hash, funding.block_number
        assert trace_tx(session, settings, tx).consistent
        ids = [e.id for e in session.scalars(select(ChainEvent).where(ChainEvent.tx_hash == tx))]
        for model in (EventSubjectRow, FundingRow, NoteTransferRow):
            session.execute(delete(model).where(model.event_id.in_(ids)))
        session.execute(delete(ChainEvent).where(ChainEvent.id.in_(ids)))
    with session_scope(settings) as session:
        traced = trace_tx(session, settings, tx)
    assert not traced.consistent and traced.events == [] and traced.block_number == block
    assert [(c.name, c.ok) for c in traced.checks] == [("receipt_on_chain", True), ("events_match_chain", False)]
    assert f"the index lacks all {len(ids)} logs of this mined transaction: missing LoanFunded at block {block}" in (
        traced.checks[1].detail)

    with session_scope(settings) as session:
        session.execute(delete(LoanRow).where(LoanRow.loan_id == loan_id))
    with session_scope(settings) as session:
        loan = trace_loan(session, settings, loan_id)
    failing = _failing(loan)
    assert not loan.consistent and loan.status == "active" and loan.borrower == world.borrower.address  # the chain's
    assert f"the index has no row for loan {loan_id}; LoanBook has it" in failing["index_matches_chain"]
    assert f"missing LoanFunded at block {block}" in failing["events_match_chain"]

    with session_scope(settings) as session:  # only what the chain lacks is unknown
        with pytest.raises(NotFound, match=f"no such transaction on chain {settings.chain_id}"):
            trace_tx(session, settings, "0x" + "5a" * 32)
        with pytest.raises(NotFound, match=f"no loan {loan_id + 1000} on chain {settings.chain_id}: LoanBook has none"):
            trace_loan(session, settings, loan_id + 1000)


def _check(trace, name: str) -> tuple[bool, str]:
    return next((c.ok, c.detail) for c in trace.checks if c.name == name)


def test_borrower_attested_is_read_from_kyc_registry_when_the_loan_was_created(settings, world, monkeypatch):  # noqa: F811
    """The audit's M2: the attestation is KYCRegistry's at the LoanCreated block, judged by level,
    revocation and expiry; the index's row is only compared with it."""
    loan_id, _ = world.active_loan()
    Indexer().catch_up(settings)
    who = world.borrower.address
    with session_scope(settings) as session:
        honest = trace_loan(session, settings, loan_id)
        created = honest.events[0]
    ok, detail = _check(honest, "borrower_attested")
    assert ok and f"at block {created.block_number}: level {world.borrower_level} until {KYC_EXPIRY}" in detail
    assert _check(honest, "attestation_matches_chain")[0]

    with session_scope(settings) as session:  # the index claims a level that does not exist, expiring in 1970
        session.execute(update(AttestationRow).where(AttestationRow.wallet == who).values(level=9, expires_at=1))
    with session_scope(settings) as session:
        edited = trace_loan(session, settings, loan_id)
    assert _check(edited, "borrower_attested") == (ok, detail)  # the registry's word, not the index's
    ok, differ = _check(edited, "attestation_matches_chain")
    assert not ok and f"level: index 9, chain {world.borrower_level}" in differ and f"expires_at: index 1, chain {KYC_EXPIRY}" in differ

    # A registry answering an attestation that expired before the loan was created (LoanBook would
    # have refused the loan; the check does not take that for granted) or below the borrower level.
    real = trace_module.borrower_attestation_at
    for answer, why in ((dict(level=world.borrower_level, expires_at=created.block_timestamp - 1),
                         f"it expired at {created.block_timestamp - 1}, not after the loan's creation"),
                        (dict(level=world.borrower_level - 1, expires_at=KYC_EXPIRY), "is below LoanBook's borrower level")):
        def reply(s, wallet, block, answer=answer):
            found, required = real(s, wallet, block)
            return (OnChainAttestation(found.wallet, commitment=found.commitment, **answer), required) if (
                block == created.block_number) else (found, required)
        monkeypatch.setattr(trace_module, "borrower_attestation_at", reply)
        with session_scope(settings) as session:
            ok, detail = _check(trace_loan(session, settings, loan_id), "borrower_attested")
        assert not ok and why in detail, detail

    # Revoked since, on a node that keeps no state of the creation block: read at the head, said so.
    world.chain.tx(world.kyc.functions.revoke(who), world.admin.address)
    def pruned(s, wallet, block):
        if block == created.block_number:
            raise ChainUnavailable("missing trie node")
        return real(s, wallet, block)
    monkeypatch.setattr(trace_module, "borrower_attestation_at", pruned)
    with session_scope(settings) as session:
        ok, detail = _check(trace_loan(session, settings, loan_id), "borrower_attested")
    assert not ok and "holds no attestation of the borrower (never given, or revoked)" in detail
    assert f"the confirmed head: the node keeps no state of block {created.block_number}" in detail


def test_default_noticed_needs_the_notice_in_the_audit_log_before_the_default(settings, world, monkeypatch):  # noqa: F811
    """The audit's M1: a default notice row alone (written in after the fact, dated before) does not
    prove the borrower was told; its audit entry, recorded before the LoanDefaulted block, does."""
    loan_id, start = world.active_loan()
    threshold = world.book.functions.defaultableAt(loan_id).call()
    Indexer().catch_up(settings)
    world.chain.tx(world.book.functions.markDefault(loan_id), world.outsider.address, at=threshold + 5)
    Indexer().catch_up(settings)
    defaulted_at = world.w3.eth.get_block("latest")["timestamp"]

    def noticed(give) -> tuple[bool, str]:
        with session_scope(settings) as session:
            session.execute(delete(ServicingNotice).where(ServicingNotice.loan_id == loan_id))
            give(session, session.get(LoanRow, loan_id))
        with session_scope(settings) as session:
            return _check(trace_loan(session, settings, loan_id), "default_noticed")

    def through_add_notice(session, loan):
        assert add_notice(session, loan, 1, "default", start + 30 * DAY, 1, "Your loan may be declared in default.")

    def backfilled(session, loan):
        session.add(ServicingNotice(loan_id=loan_id, borrower=loan.borrower, recipient=loan.borrower, installment=1,
                                    kind="default", due_date=start + 30 * DAY, amount=1, message="Told you.",
                                    created_at=datetime.fromtimestamp(threshold, UTC) - timedelta(days=7)))  # fmt: skip

    ok, detail = noticed(backfilled)
    assert not ok and "dated" in detail and "is not in the audit log: no entry recomputes to it" in detail, detail
    with session_scope(settings) as session:  # a database upgraded past 0037 with the notice already there
        session.merge(MetaEntry(key="notices_audited_after_id", value=str(session.scalar(select(func.max(ServicingNotice.id))))))
    with session_scope(settings) as session:
        ok, detail = _check(trace_loan(session, settings, loan_id), "default_noticed")
    assert ok and "given before notices were audit-logged (migration 0038)" in detail, detail
    with session_scope(settings) as session:
        session.merge(MetaEntry(key="notices_audited_after_id", value="0"))

    class Late(datetime):  # the audit log's clock, after the default was declared
        @classmethod
        def now(cls, tz=None):
            return datetime.fromtimestamp(defaulted_at + 60, tz)

    monkeypatch.setattr(audit_log, "datetime", Late)
    ok, detail = noticed(through_add_notice)
    assert not ok and "after the default, declared at" in detail, detail
    monkeypatch.undo()

    ok, detail = noticed(through_add_notice)
    assert ok and "installment 1 left the loan open to default (audit entry" in detail, detail
    assert "in the app only: no e-mail or text message was sent" in detail, detail
    # Its deliveries, as the trace proves them: the e-mail by its `notice.delivered` entry, a text
    # message by the row alone (sent before deliveries were logged, or the row edited since).
    from backend import audit
    from backend.servicing.channels import DELIVERED, delivery_payload
    from backend.servicing.notices import AUDIT_ACTOR, audit_subject

    emailed, texted = datetime.fromtimestamp(threshold, UTC), datetime.fromtimestamp(threshold + DAY, UTC)
    with session_scope(settings) as session:
        notice = session.scalars(select(ServicingNotice).where(ServicingNotice.loan_id == loan_id)).one()
        notice.emailed_at, notice.sms_sent_at = emailed, texted
        audit.record(session, actor=AUDIT_ACTOR, action=DELIVERED, subject=audit_subject(notice),
                     payload=delivery_payload(notice, "email", emailed))  # fmt: skip
        delivered_seq = session.scalar(select(func.max(AuditEntry.seq)))
    with session_scope(settings) as session:
        ok, detail = _check(trace_loan(session, settings, loan_id), "default_noticed")
    assert ok and (f"; sent by e-mail on {emailed:%Y-%m-%d} (audit entry {delivered_seq}) and text message on "
                   f"{texted:%Y-%m-%d}, by the notice's row only: no audit entry proves it") in detail, detail
    with session_scope(settings) as session:
        session.execute(update(ServicingNotice).where(ServicingNotice.loan_id == loan_id)
                        .values(emailed_at=None, sms_sent_at=None))  # fmt: skip
    with session_scope(settings) as session:  # the entry's time moved back: it no longer recomputes to its hash
        latest = select(AuditEntry).where(AuditEntry.action == "notice.default").order_by(AuditEntry.seq.desc()).limit(1)
        entry = session.scalars(latest).one()
        saved, entry.recorded_at = entry.recorded_at, "2000-01-01T00:00:00.000000Z"
    with session_scope(settings) as session:
        ok, detail = _check(trace_loan(session, settings, loan_id), "default_noticed")
        session.scalars(latest).one().recorded_at = saved
    assert not ok and "does not recompute to its own hash" in detail, detail
    with session_scope(settings) as session:  # redating the honest notice breaks its link to the entry
        session.execute(update(ServicingNotice).where(ServicingNotice.loan_id == loan_id)
                        .values(created_at=datetime.fromtimestamp(threshold, UTC) - timedelta(days=30)))
    with session_scope(settings) as session:
        ok, detail = _check(trace_loan(session, settings, loan_id), "default_noticed")
    assert not ok and "not in the audit log" in detail
