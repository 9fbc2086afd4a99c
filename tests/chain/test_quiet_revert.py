"""The suite's snapshot revert while something still sends transactions (a test's background
workers or browser wallet as it ends): Anvil mines in the background, and a block mined during a
plain evm_revert left a hole in the session chain that failed every later test indexing it."""

from __future__ import annotations

import threading

from backend.chain.node import LocalNode, rpc_call
from backend.errors import ChainUnavailable
from tests.conftest import free_port, make_settings, quiet_revert, take_snapshots


def _missing_blocks(url: str, since: int) -> list[int]:
    head = int(rpc_call(url, "eth_blockNumber"), 16)
    return [n for n in range(since, head + 1) if rpc_call(url, "eth_getBlockByNumber", [hex(n), False]) is None]


# Runtime code that loops until its gas is spent (JUMPDEST PUSH1 0 JUMP): a block of such a call takes
# Anvil tens of milliseconds to mine, the window a revert used to land in.
BURNER, BURN_LOOP = "0x" + "b0" * 20, "0x5b600056"


def test_a_revert_while_transactions_keep_arriving_leaves_the_chain_whole(tmp_path):
    port = free_port()
    node = LocalNode(make_settings(tmp_path, chain_port=port, rpc_url=f"http://127.0.0.1:{port}"), kind="anvil")
    node.start()
    url, stop = node.url, threading.Event()
    sender, receiver = rpc_call(url, "eth_accounts")[1:3]
    rpc_call(url, "anvil_setCode", [BURNER, BURN_LOOP])

    def keep_sending() -> None:
        while not stop.is_set():
            try:
                rpc_call(url, "eth_sendTransaction", [{"from": sender, "to": receiver, "value": "0x1"}])
                # A slow block: the revert must wait for it, not land while it is being mined.
                rpc_call(url, "eth_sendTransaction", [{"from": receiver, "to": BURNER, "gas": hex(20_000_000)}])
            except ChainUnavailable:  # a nonce a revert took back ("nonce too low"): the next one is asked afresh
                continue

    thread = threading.Thread(target=keep_sending)
    thread.start()
    try:
        for _ in range(30):
            since = int(rpc_call(url, "eth_blockNumber"), 16)
            snap, spare = take_snapshots(url)
            rpc_call(url, "evm_mine")
            quiet_revert(url, snap, spare)  # asserts the block under the head is the head's parent
            assert _missing_blocks(url, since) == []
    finally:
        stop.set()
        thread.join()
        node.stop(hard=True)
