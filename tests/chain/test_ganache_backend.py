"""The backend's chain machinery on Ganache 7 (shanghai) too: the outbox sends and confirms, and
the indexer reads the events back; a revert at gas estimation is decoded to its custom error."""

from collections.abc import Iterator
from contextlib import contextmanager

import pytest
from sqlalchemy import func, select

from backend.chain.deploy import deploy_all
from backend.chain.indexer import Indexer
from backend.chain.models import ChainEvent, Intent, IntentStatus
from backend.chain.node import LocalNode
from backend.chain.outbox import enqueue, process_until_idle
from backend.config import Settings
from backend.db import migrate
from backend.db.session import session_scope
from tests.chain.conftest import RECIPIENT
from tests.conftest import free_port, make_settings


@pytest.mark.ganache
def test_outbox_and_indexer_on_ganache(tmp_path, artifacts):
    with _ganache(tmp_path) as settings:
        for i in range(5):
            with session_scope(settings) as session:
                enqueue(session, key=f"ganache:{i}", contract="MockStablecoin", function="faucet",
                        args=[RECIPIENT, 10 + i], settings=settings)  # fmt: skip
                enqueue(session, key=f"ganache:anchor:{i}", contract="DocumentAnchor", function="anchor",
                        args=["0x" + f"{i + 1:064x}", 1, f"ipfs://ganache-{i}"], settings=settings)  # fmt: skip
        process_until_idle(settings, timeout=120)
        Indexer().catch_up(settings)
        with session_scope(settings) as session:
            statuses = set(session.scalars(select(Intent.status)))
            anchored = session.scalar(
                select(func.count()).where(ChainEvent.contract == "DocumentAnchor", ChainEvent.event == "Anchored")
            )
            # The loan token's faucet mints are nobody's onward transfer: the index keeps none of them.
            token_events = session.scalar(select(func.count()).where(ChainEvent.contract.in_(("MockStablecoin", "LoanToken"))))
        assert statuses == {IntentStatus.CONFIRMED}
        assert anchored == 5 and token_events == 0
        _reads_at_a_past_block(settings)


@contextmanager
def _ganache(tmp_path) -> Iterator[Settings]:
    """A Ganache node of the test's own, the contracts deployed and the database migrated."""
    port = free_port()
    settings = make_settings(tmp_path, chain_port=port, rpc_url=f"http://127.0.0.1:{port}", chain_node="ganache")
    node = LocalNode(settings)
    node.start(timeout=120)
    try:
        deploy_all(settings)
        migrate.upgrade(settings)
        yield settings
    finally:
        node.stop()


def _reads_at_a_past_block(settings) -> None:
    """Monthly reports read LoanBook at a month's last block: Ganache keeps old state, and the
    block search finds the last block before a time."""
    from backend.chain.blocks import last_block_before
    from backend.chain.client import get_web3, read_many
    from backend.chain.deploy import deployed_contract

    w3, token = get_web3(settings), deployed_contract(settings, "MockStablecoin")
    head = w3.eth.get_block("latest")
    before = last_block_before(settings, head["timestamp"], 0, head["number"])
    assert before is not None and w3.eth.get_block(before.number + 1)["timestamp"] >= head["timestamp"] > before.timestamp
    assert last_block_before(settings, w3.eth.get_block(0)["timestamp"], 0, head["number"]) is None
    now, then = token.functions.balanceOf(RECIPIENT).call(), token.functions.balanceOf(RECIPIENT).call(block_identifier=1)
    assert then == 0 < now  # the state of block 1, before any faucet
    # Ganache answers JSON-RPC batches too, at a past block as well (the servicing pass's reads).
    calls = [token.functions.balanceOf(RECIPIENT), token.functions.totalSupply()]
    assert read_many(calls, "MockStablecoin") == [now, token.functions.totalSupply().call()]
    assert read_many(calls[:1], "MockStablecoin", 1) == [0]


@pytest.mark.ganache
def test_a_revert_at_estimation_is_decoded_on_ganache(tmp_path, artifacts):
    """Ganache 7 nests the revert data under `error.data.result`, not `error.data.data`."""
    with _ganache(tmp_path) as settings:
        with session_scope(settings) as session:
            enqueue(session, key="revoke-never-attested", contract="KYCRegistry", function="revoke",
                    args=["0x000000000000000000000000000000000000dEaD"], settings=settings)  # fmt: skip
        process_until_idle(settings, timeout=60)
        with session_scope(settings) as session:
            intent = session.scalars(select(Intent)).one()
        assert intent.status == IntentStatus.FAILED and intent.error_name == "KYCRegistryNotAttested"
        assert intent.error_args == {"wallet": "0x000000000000000000000000000000000000dead"}
