"""A failed (reverted) intent whose block the node loses leaves a hole in the signer's nonces: the
outbox fills it with a no-op, never with the failed call itself, so later intents are not stuck."""

from __future__ import annotations

import pytest
from sqlalchemy import update
from web3 import Web3
from web3.exceptions import TransactionNotFound

from backend.chain.compiler import load_artifact
from backend.chain.deploy import deployed_addresses
from backend.chain.models import Intent, IntentStatus
from backend.chain.node import LocalNode, rpc_call
from backend.chain.outbox import process_until_idle, stalled_intents
from backend.chain.sender import LOST_BLOCK_NOTE, OutboxSender
from backend.chain.signers import dev_account
from backend.db.session import session_scope
from tests.chain.outbox_checks import SENDER, enqueue_faucets, intents, mine_two_revokes_in_one_block, mints_of


def _by_key(settings) -> dict[str, Intent]:
    return {i.key: i for i in intents(settings)}


def _gap_left_by_an_out_of_band_transaction(settings, w3):
    """With automine off: a transaction from the outbox's key sent outside it, in the pool while the
    sender builds on its nonce (the intent takes n + 1), then dropped from the pool: a gap at n. The
    nonce and the signed transaction."""
    n = w3.eth.get_transaction_count(SENDER)
    base_fee = w3.eth.get_block("latest")["baseFeePerGas"]
    out_of_band = dev_account(0).sign_transaction({
        "to": SENDER, "value": 0, "gas": 21_000, "nonce": n, "chainId": w3.eth.chain_id,
        "maxFeePerGas": 2 * base_fee + 10**9, "maxPriorityFeePerGas": 10**9,
    })  # fmt: skip
    w3.eth.send_raw_transaction(out_of_band.raw_transaction)
    OutboxSender().run_once(settings)
    rpc_call(settings.rpc_url, "anvil_dropTransaction", [out_of_band.hash.to_0x_hex()])
    return n, out_of_band


def test_a_reverted_intent_lost_with_the_nodes_blocks_has_its_nonce_filled_by_a_no_op(own_chain):
    settings, node = own_chain
    node.stop()  # restart with state dumps only at exit, so the SIGKILL below loses every new block
    node = LocalNode(settings.model_copy(update={"chain_state_interval": 3600}), kind="anvil")
    node.start()
    w3 = Web3(Web3.HTTPProvider(settings.rpc_url))
    start = w3.eth.get_transaction_count(SENDER)
    wallet = dev_account(6).address
    mine_two_revokes_in_one_block(settings, wallet)  # the second reverts (NotAttested) on chain
    process_until_idle(settings, timeout=30)
    enqueue_faucets(settings, [9_000_001])
    process_until_idle(settings, timeout=30)
    before = _by_key(settings)
    failed = before["revoke-2"]
    assert failed.status == IntentStatus.FAILED and failed.block_number is not None
    assert failed.nonce == start + 2 and failed.error_name == "KYCRegistryNotAttested"
    assert before["faucet-9000001"].nonce == start + 3

    node.stop(hard=True)  # loses every block since the last dump, the reverted one among them
    node.start()
    assert w3.eth.get_transaction_count(SENDER) == start

    # Rounds on a node that mines nothing yet: the filler is sent once and then left alone, also
    # when the note recording it was lost (as if the sender died before committing it).
    rpc_call(settings.rpc_url, "evm_setAutomine", [False])
    try:
        OutboxSender().run_once(settings)
        note = _by_key(settings)["revoke-2"].error
        assert note.startswith(failed.error + LOST_BLOCK_NOTE + f"nonce {failed.nonce} filled by a no-op 0x")
        OutboxSender().run_once(settings)
        assert _by_key(settings)["revoke-2"].error == note
        with session_scope(settings) as session:
            session.execute(update(Intent).where(Intent.key == "revoke-2").values(error=failed.error))
        OutboxSender().run_once(settings)
        assert _by_key(settings)["revoke-2"].error == note
        rpc_call(settings.rpc_url, "evm_mine")
    finally:
        rpc_call(settings.rpc_url, "evm_setAutomine", [True])
    process_until_idle(settings, timeout=30)

    enqueue_faucets(settings, [9_000_002], prefix="later")
    process_until_idle(settings, timeout=30)
    after = _by_key(settings)
    assert {k: i.status for k, i in after.items()} == {
        "attest": "confirmed", "revoke-1": "confirmed", "revoke-2": "failed", "faucet-9000001": "confirmed",
        "later-9000002": "confirmed",
    }  # fmt: skip
    assert after["revoke-2"].error == note and after["revoke-2"].error_name == "KYCRegistryNotAttested"
    assert after["later-9000002"].nonce == start + 4
    assert w3.eth.get_transaction_count(SENDER) == start + 5  # attest, revoke-1, filler, two faucets

    filler_hash = note.rsplit(" ", 1)[-1]
    filler = w3.eth.get_transaction(filler_hash)
    assert (filler["nonce"], filler["to"], filler["value"], filler["input"]) == (failed.nonce, SENDER, 0, b"")
    assert w3.eth.get_transaction_receipt(filler_hash)["status"] == 1
    with pytest.raises(TransactionNotFound):  # the failed call itself was not sent again
        w3.eth.get_transaction(failed.tx_hash)
    token = w3.eth.contract(address=deployed_addresses(settings)["MockStablecoin"],
                            abi=load_artifact(settings, "MockStablecoin")["abi"])  # fmt: skip
    assert mints_of(w3, token, 9_000_001) == 1 and mints_of(w3, token, 9_000_002) == 1

    OutboxSender().run_once(settings)  # the nonce is used: nothing more to fill
    assert _by_key(settings)["revoke-2"].error == note
    assert w3.eth.get_transaction_count(SENDER, "pending") == start + 5
    with session_scope(settings) as session:
        assert stalled_intents(session) == []


def test_a_gap_left_by_an_out_of_band_transaction_that_left_the_pool_is_filled(outbox_settings, w3, contracts):
    """review-ops M2: the sender builds on the node's pending nonce, so on an out-of-band
    transaction of its key (an operator's deploy or top-up). That one leaves the pool (evicted,
    lost in a node restart): the intent above it can never be mined whatever its fee. Once it has
    waited a bump period, the missing nonce is filled with the no-op, the intent is mined once,
    and is not bumped toward the fee cap meanwhile; while it waits, /health lists it as stalled."""
    import time

    from backend.chain.outbox import get_intent
    from backend.services.health import check_outbox

    settings = outbox_settings.model_copy(update={"outbox_fee_bump_after": 0.3})
    (key,) = enqueue_faucets(settings, [4_000_999])
    rpc_call(settings.rpc_url, "evm_setAutomine", [False])
    try:
        n, _ = _gap_left_by_an_out_of_band_transaction(settings, w3)
    finally:
        rpc_call(settings.rpc_url, "evm_setAutomine", [True])
    rpc_call(settings.rpc_url, "evm_mine")
    with session_scope(settings) as session:
        assert get_intent(session, key).nonce == n + 1
    assert w3.eth.get_transaction_count(SENDER) == n  # stuck behind the gap
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        OutboxSender().run_once(settings)
        with session_scope(settings) as session:
            intent = get_intent(session, key)
        if intent.status == IntentStatus.CONFIRMED:
            break
        time.sleep(0.1)
    assert intent.status == IntentStatus.CONFIRMED and intent.nonce == n + 1, (intent.status, intent.error)
    assert len(intent.replaced_tx_hashes) <= 1  # no climb toward the fee cap
    assert mints_of(w3, contracts["MockStablecoin"], 4_000_999) == 1
    assert w3.eth.get_transaction_count(SENDER) == n + 2  # the no-op at n, the intent at n + 1
    assert check_outbox(settings)["status"] == "ok"


def test_a_gap_is_reported_in_health_while_it_waits(outbox_settings, w3, contracts):
    """Before the no-op goes out (the bump period has not passed yet, or the node refuses it), the
    waiting intent is listed under /health outbox.stalled with the missing nonce."""
    from backend.services.health import check_outbox

    settings = outbox_settings.model_copy(update={"outbox_fee_bump_after": 3600})
    enqueue_faucets(settings, [4_000_998])
    rpc_call(settings.rpc_url, "evm_setAutomine", [False])
    try:
        n, out_of_band = _gap_left_by_an_out_of_band_transaction(settings, w3)
        OutboxSender().run_once(settings)
        health = check_outbox(settings)
        assert health["status"] == "stalled", health
        assert f"nonce {n}" in health["stalled"][0]["error"]
        # Give it its filler by hand (as an operator would) so the session chain is left clean.
        w3.eth.send_raw_transaction(out_of_band.raw_transaction)
    finally:
        rpc_call(settings.rpc_url, "evm_setAutomine", [True])
    rpc_call(settings.rpc_url, "evm_mine")
    process_until_idle(settings, timeout=30)
