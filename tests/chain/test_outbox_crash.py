"""Crash drills: the sender process dies (os._exit at each point of an intent's life, or a
SIGKILL at arbitrary moments) and the node dies or restarts from an older state file. Every
intent must end with exactly one on-chain effect, none lost, none doubled."""

from __future__ import annotations

import itertools
import signal
import time

import pytest
from web3 import Web3

from backend.chain.deploy import deploy_all
from backend.chain.node import LocalNode, rpc_call
from backend.chain.outbox import process_until_idle
from backend.config import Settings
from tests.chain.conftest import loanchain, start_loanchain, wait_until, with_db
from tests.chain.outbox_checks import SENDER, all_confirmed, assert_exactly_once, enqueue_faucets, intents
from tests.conftest import free_port, make_settings

pytestmark = pytest.mark.slow  # dozens of sender processes and node restarts (long files run first: tests/conftest.py)


@pytest.fixture(scope="module")
def drill_chain(tmp_path_factory, artifacts):
    base = tmp_path_factory.mktemp("drill")
    port = free_port()
    settings = make_settings(base, chain_port=port, rpc_url=f"http://127.0.0.1:{port}")
    node = LocalNode(settings, kind="anvil")
    node.start()
    deploy_all(settings)
    yield settings
    node.stop(hard=True)


@pytest.fixture
def drill(drill_chain, tmp_path, request):
    """A fresh SQLite database on the drill chain, reverted after the test."""
    snap = rpc_call(drill_chain.rpc_url, "evm_snapshot")
    settings = with_db(drill_chain, f"sqlite:///{tmp_path / 'drill.db'}", var_dir=tmp_path / "var")
    yield settings
    rpc_call(drill_chain.rpc_url, "evm_revert", [snap])


def _w3(settings: Settings) -> Web3:
    return Web3(Web3.HTTPProvider(settings.rpc_url, request_kwargs={"timeout": 30}))


def _token(settings: Settings, w3: Web3):
    from backend.chain.compiler import load_artifact
    from backend.chain.deploy import deployed_addresses

    return w3.eth.contract(address=deployed_addresses(settings)["MockStablecoin"],
                           abi=load_artifact(settings, "MockStablecoin")["abi"])  # fmt: skip


def run_drill(settings: Settings, crash_specs: list[str], max_runs: int = 25) -> int:
    """Run `loanchain outbox run --once` in a fresh process, each one set to die at the next crash
    point, until every intent is confirmed. Returns how many processes died."""
    crashes = 0
    for spec in itertools.islice(itertools.cycle(crash_specs), max_runs):
        result = loanchain(settings, "outbox", "run", "--once", LOANCHAIN_OUTBOX_CRASH_AT=spec)
        if result.returncode == 137:
            assert "crash drill" in result.stderr
            crashes += 1
            continue
        assert result.returncode == 0, result.stderr[-2000:]
        if all_confirmed(settings):
            return crashes
    raise AssertionError(f"not all confirmed after {max_runs} runs: {[(i.key, i.status) for i in intents(settings)]}")


# before_sign:2 dies before signing the second intent of the round, so each restart progresses.
@pytest.mark.parametrize("point", ["before_sign:2", "after_sign", "after_broadcast", "after_mined"])
def test_sender_killed_at_each_point_of_an_intents_life(drill, point):
    w3 = _w3(drill)
    start = w3.eth.get_transaction_count(SENDER)
    amounts = [4_000_001, 4_000_002, 4_000_003]
    enqueue_faucets(drill, amounts)
    crashes = run_drill(drill, [point])
    assert crashes >= 2, "the drill must actually kill the sender several times"
    assert_exactly_once(drill, w3, _token(drill, w3), amounts, start)


@pytest.mark.parametrize("database_url", ["postgres"], indirect=True)
def test_sender_killed_at_every_point_in_turn_on_postgres(drill_chain, tmp_path, database_url):
    snap = rpc_call(drill_chain.rpc_url, "evm_snapshot")
    try:
        settings = with_db(drill_chain, database_url, var_dir=tmp_path / "var")
        w3 = _w3(settings)
        start = w3.eth.get_transaction_count(SENDER)
        amounts = [5_000_001 + i for i in range(4)]
        enqueue_faucets(settings, amounts)
        crashes = run_drill(settings, ["after_broadcast", "after_sign", "after_mined", "before_sign:2"])
        assert_exactly_once(settings, w3, _token(settings, w3), amounts, start)
        # The first two runs always die; whether later points are reached depends on how soon the
        # node reports receipts (Anvil mines in the background), so more is not guaranteed.
        assert crashes >= 2, "the drill must actually kill the sender several times"
    finally:
        rpc_call(drill_chain.rpc_url, "evm_revert", [snap])


def test_sender_sigkilled_at_arbitrary_moments(drill):
    """The worker loop (with its lock) is SIGKILLed mid-flight several times, then restarted."""
    w3 = _w3(drill)
    start = w3.eth.get_transaction_count(SENDER)
    amounts = [6_000_001 + i for i in range(6)]
    enqueue_faucets(drill, amounts)
    for delay in (1.0, 2.0, 3.0):  # where it dies varies; what must hold afterwards does not
        proc = start_loanchain(drill, "worker", "run", "outbox")
        time.sleep(delay)
        proc.send_signal(signal.SIGKILL)
        proc.wait(10)
    proc = start_loanchain(drill, "worker", "run", "outbox")
    try:
        wait_until(lambda: all_confirmed(drill), timeout=90, what="every intent confirmed")
    finally:
        proc.terminate()
        proc.wait(30)
    assert_exactly_once(drill, w3, _token(drill, w3), amounts, start)


def test_node_killed_loses_blocks_and_the_same_transactions_are_rebroadcast(own_chain):
    """Anvil SIGKILLed after our transactions were mined and confirmed, before its next state
    dump: it comes back without them. The sender notices and re-broadcasts the stored raw bytes
    (same hashes), so the effects happen once, not zero or two times."""
    settings, node = own_chain
    node.stop()  # restart with state dumps only at exit, so the SIGKILL below loses every new block
    slow = settings.model_copy(update={"chain_state_interval": 3600})
    node = LocalNode(slow, kind="anvil")
    node.start()
    w3 = _w3(settings)
    start = w3.eth.get_transaction_count(SENDER)
    amounts = [7_000_001, 7_000_002, 7_000_003]
    enqueue_faucets(settings, amounts)
    process_until_idle(settings, timeout=30)
    assert all_confirmed(settings)
    hashes = {i.key: i.tx_hash for i in intents(settings)}

    node.stop(hard=True)
    node.start()
    assert w3.eth.get_transaction_count(SENDER) == start, "the node should have lost the blocks"
    process_until_idle(settings, timeout=30)
    # Offering the bytes again changes no intent (they stay confirmed while the node is behind their
    # block), so a round whose offer the loaded node missed ends "idle"; the worker's next round
    # offers them again, as these do.
    deadline = time.monotonic() + 30
    while w3.eth.get_transaction_count(SENDER) < start + len(amounts) and time.monotonic() < deadline:
        time.sleep(0.5)
        process_until_idle(settings, timeout=30)
    assert {i.key: i.tx_hash for i in intents(settings)} == hashes
    assert_exactly_once(settings, w3, _token(settings, w3), amounts, start)


def test_node_killed_and_restarted_while_the_sender_runs(own_chain):
    """The sender worker runs throughout; Anvil is SIGKILLed mid-run (losing up to
    `chain_state_interval` seconds of blocks), restarted from its state file, later stopped and
    restarted gracefully, with intents enqueued in waves meanwhile."""
    settings, node = own_chain
    w3 = _w3(settings)
    start = w3.eth.get_transaction_count(SENDER)
    waves = [[8_000_001 + i for i in range(4)], [8_100_001 + i for i in range(3)], [8_200_001 + i for i in range(3)]]
    worker = start_loanchain(settings, "worker", "run", "outbox")
    try:
        enqueue_faucets(settings, waves[0])
        wait_until(lambda: sum(i.status == "confirmed" for i in intents(settings)) >= 2, what="first confirmations")
        node.stop(hard=True)
        enqueue_faucets(settings, waves[1])  # accepted while the node is down
        node.start()
        wait_until(lambda: all_confirmed(settings), timeout=90, what="waves 1-2 confirmed")
        enqueue_faucets(settings, waves[2])
        node.stop()
        node.start()
        wait_until(lambda: all_confirmed(settings) and len(intents(settings)) == 10, timeout=90, what="all confirmed")
        time.sleep(1.5)  # a few more sender rounds: nothing may change any more
    finally:
        worker.terminate()
        worker.wait(30)
    assert worker.returncode == 0
    assert_exactly_once(settings, w3, _token(settings, w3), [a for wave in waves for a in wave], start)
