"""A loan's trace asks the node a bounded number of things: what it reads depends on the loan, not on
how busy the chain around it is. Each other loan's note transfers (ERC-1155 carries the loan id in
the log's data, so no topic filter leaves them out) once cost the trace a block read and a decode
each; a lagging index made it read every log of the loan twice."""

from __future__ import annotations

from collections import Counter

import pytest

from backend.audit.trace import trace_loan
from backend.chain.bench.rpc_count import HTTP, rpc_calls
from backend.chain.index_check import _may_name
from backend.chain.indexer import Indexer
from backend.chain.loan_check import loan_before, loan_on_chain
from backend.db.session import session_scope
from tests.conftest import own_database
from tests.contracts.conftest import chain, world  # noqa: F401


@pytest.fixture
def settings(chain_settings, deployment, world, snapshot, tmp_path):  # noqa: F811
    return own_database(chain_settings, tmp_path, f"sqlite:///{tmp_path / 'trace.db'}")


CHAIN_CHECKS = ("index_current", "index_matches_chain", "terms_hash_recomputed", "events_match_chain",
                "borrower_attested", "attestation_matches_chain")


def counted(settings, read) -> tuple[Counter, object]:
    """The JSON-RPC calls (by method, batched or not) `read()` sends to the settings' node, and its answer."""
    with rpc_calls(settings.rpc_url) as calls:
        answer = read()
    return Counter(calls), answer


def _trace(settings, loan_id):
    with session_scope(settings) as session:
        return trace_loan(session, settings, loan_id)


def test_a_loan_trace_reads_the_chain_as_often_however_busy_the_chain_around_it(settings, world):  # noqa: F811
    loan_id, _ = world.active_loan()
    a, b = world.investors[:2]  # a plain transfer of its notes: its id only in the log's data
    world.chain.tx(world.book.functions.safeTransferFrom(a.address, b.address, loan_id, 10**6, b""), a.address)
    Indexer().catch_up(settings)
    calls, traced = counted(settings, lambda: _trace(settings, loan_id))
    assert _chain_checks_pass(traced)  # (a loan made on the chain directly: no offer, decision or agreement here)
    assert [e.event for e in traced.events].count("TransferSingle") == len(world.investors) + 1

    for _ in range(3):  # other loans, their notes minted to six investors each and passed on; empty blocks
        other, _ = world.active_loan()
        world.chain.tx(world.book.functions.safeTransferFrom(a.address, b.address, other, 10**6, b""), a.address)
    world.chain.rpc("anvil_mine", [hex(500)])
    Indexer().catch_up(settings)
    busier, again = counted(settings, lambda: _trace(settings, loan_id))

    assert busier == calls, f"{busier} against {calls} before"
    assert calls["eth_getLogs"] <= 10 and calls[HTTP] <= 40, calls  # one request a filter, never a loop
    assert _chain_checks_pass(again) and [(e.block_number, e.log_index) for e in again.events] == [
        (e.block_number, e.log_index) for e in traced.events]  # fmt: skip


def _chain_checks_pass(trace) -> bool:
    checks = {c.name: c for c in trace.checks}
    failing = [(n, checks[n].detail) for n in CHAIN_CHECKS if not checks[n].ok]
    assert not failing, failing
    return True


def test_the_loan_at_the_index_block_is_read_as_at_that_block(settings, world):  # noqa: F811
    """A lagging index is held against the chain at its own block, from the logs already read up to the head."""
    loan_id, _ = world.active_loan()
    head = world.w3.eth.block_number
    world.repay(loan_id, 10**6)
    now = loan_on_chain(settings, loan_id, world.w3.eth.block_number)
    created = now.created.block_number
    assert loan_before(settings, now, created - 1) is None and loan_on_chain(settings, loan_id, created - 1) is None
    for block in (created, head, now.block):
        assert _read(loan_before(settings, now, block)) == _read(loan_on_chain(settings, loan_id, block)), block
    assert loan_before(settings, now, head).stored != now.stored  # the repayment is after it


def _read(loan) -> tuple:
    """What a ChainLoan says (its events compared by their place and arguments)."""
    events = [(e.block_number, e.log_index, e.tx_hash, e.event, e.args) for e in loan.events]
    return (loan.block, loan.stored, loan.digest_on_chain, loan.digest_recomputed, loan.terms_hash_recomputed,
            loan.terms, loan.domain, (loan.created.block_number, loan.created.log_index), events)  # fmt: skip


def test_a_log_may_name_the_loan_only_by_a_topic_or_a_whole_word_of_its_data():
    word = (7).to_bytes(32, "big")
    log = lambda topics, data: {"topics": [b"\x01" * 32, *topics], "data": data}  # noqa: E731
    may_name = _may_name(7)
    assert may_name(log([word], b""))
    assert may_name(log([], (1).to_bytes(32, "big") + word))  # TransferSingle's (id, value) or an array's element
    assert not may_name(log([], b"\x00" * 16 + word + b"\x00" * 16))  # not at a word's place: some other value
    assert not may_name(log([(8).to_bytes(32, "big")], (70).to_bytes(32, "big")))
