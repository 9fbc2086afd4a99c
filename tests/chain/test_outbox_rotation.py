"""The outbox after the platform signer's key is rotated: what the old key left in flight is still
followed (receipts, re-broadcast of its committed bytes, a nonce consumed by something else)
whatever key signs now; only signing and fee bumps need the key itself."""

from __future__ import annotations

import time

import pytest

from backend.chain import sender as sender_module
from backend.chain.indexer import Indexer
from backend.chain.models import IntentStatus
from backend.chain.node import rpc_call
from backend.chain.outbox import enqueue, get_intent, stalled_intents
from backend.chain.sender import OutboxSender
from backend.chain.signers import dev_account
from backend.db.session import session_scope
from tests.chain.conftest import RECIPIENT
from tests.chain.outbox_checks import enqueue_faucets, mints_of

OLD, NEW = dev_account(0), dev_account(5)


class Crash(BaseException):
    """Stands in for the process dying at a crash point (raised past every handler)."""


def _intent(settings, key):
    with session_scope(settings) as session:
        return get_intent(session, key)


def _signed_by_the_old_key_only(settings, monkeypatch, key):
    """The old key signs and commits the intent, and the process dies before the broadcast."""

    def crash(settings, name):
        if name == "after_sign":
            raise Crash(name)

    monkeypatch.setattr(sender_module, "crash_point", crash)
    with pytest.raises(Crash):
        OutboxSender(account=OLD).run_once(settings)
    monkeypatch.undo()
    signed = _intent(settings, key)
    assert signed.status == IntentStatus.SIGNED and signed.sender == OLD.address
    return signed


def _rounds_with_the_new_key(settings, n=3):
    for _ in range(n):
        OutboxSender(account=NEW).run_once(settings)


def test_an_intent_the_old_key_got_mined_is_confirmed_after_the_rotation(outbox_settings, w3):
    """Left `sent`, it would hold its keeper back for good (waits_for_index: an open intent under
    its prefix) and servicing would never retry a markDefault left open."""
    settings = outbox_settings
    from backend.market.keeper import book_is_stale

    rpc_call(settings.rpc_url, "evm_setAutomine", [False])
    try:
        with session_scope(settings) as s:
            enqueue(s, key="market.match:1:1:abc:1", contract="MockStablecoin", function="faucet",
                    args=[RECIPIENT, 77], settings=settings)  # fmt: skip
        OutboxSender(account=OLD).run_once(settings)
        assert _intent(settings, "market.match:1:1:abc:1").status == IntentStatus.SENT
    finally:
        rpc_call(settings.rpc_url, "evm_setAutomine", [True])
    rpc_call(settings.rpc_url, "evm_mine")  # the old key's transaction is mined
    _rounds_with_the_new_key(settings)
    intent = _intent(settings, "market.match:1:1:abc:1")
    assert w3.eth.get_transaction_receipt(intent.tx_hash)["status"] == 1
    assert intent.status == IntentStatus.CONFIRMED
    Indexer().catch_up(settings)
    with session_scope(settings) as s:
        assert not book_is_stale(s)  # the market keeper acts again

def test_an_intent_the_old_key_signed_but_never_broadcast_is_broadcast(outbox_settings, w3, contracts, monkeypatch):
    """Its committed raw bytes need no key: they are sent as they are, once."""
    settings = outbox_settings
    (key,) = enqueue_faucets(settings, [3_000_001])
    signed = _signed_by_the_old_key_only(settings, monkeypatch, key)
    _rounds_with_the_new_key(settings)
    intent = _intent(settings, key)
    assert intent.status == IntentStatus.CONFIRMED and intent.tx_hash == signed.tx_hash
    assert intent.sender == OLD.address and intent.nonce == signed.nonce
    assert mints_of(w3, contracts["MockStablecoin"], 3_000_001) == 1


def test_an_old_key_transaction_the_node_dropped_is_rebroadcast(outbox_settings, w3, contracts):
    settings = outbox_settings
    (key,) = enqueue_faucets(settings, [3_000_002])
    rpc_call(settings.rpc_url, "evm_setAutomine", [False])
    try:
        OutboxSender(account=OLD).run_once(settings)
        sent = _intent(settings, key)
        assert sent.status == IntentStatus.SENT
        rpc_call(settings.rpc_url, "anvil_dropTransaction", [sent.tx_hash])
    finally:
        rpc_call(settings.rpc_url, "evm_setAutomine", [True])
    _rounds_with_the_new_key(settings)
    intent = _intent(settings, key)
    assert intent.status == IntentStatus.CONFIRMED and intent.tx_hash == sent.tx_hash
    assert mints_of(w3, contracts["MockStablecoin"], 3_000_002) == 1


def test_an_old_key_nonce_taken_by_another_transaction_is_resent_under_the_new_key(outbox_settings, w3, contracts,
                                                                                  monkeypatch):
    """Proof at depth that the old bytes can never be mined: the call is re-signed by the key
    that signs now, at its next nonce, as for the current key."""
    settings = outbox_settings
    (key,) = enqueue_faucets(settings, [3_000_003])
    signed = _signed_by_the_old_key_only(settings, monkeypatch, key)
    w3.eth.send_transaction({"from": OLD.address, "to": RECIPIENT, "value": 1, "nonce": signed.nonce})
    _rounds_with_the_new_key(settings)
    intent = _intent(settings, key)
    assert intent.status == IntentStatus.CONFIRMED and intent.sender == NEW.address
    assert intent.replaced_tx_hashes == [signed.tx_hash]
    assert mints_of(w3, contracts["MockStablecoin"], 3_000_003) == 1


def test_a_slow_old_key_transaction_is_not_bumped_but_kept_broadcast_and_shown_stalled(outbox_settings, w3, contracts):
    """Only the old key could replace it at its nonce; re-queueing it under the new key could run
    the call twice. It is kept in the node's pool and listed as stalled for the operator."""
    settings = outbox_settings.model_copy(update={"outbox_fee_bump_after": 0.05})
    (key,) = enqueue_faucets(settings, [3_000_004])
    rpc_call(settings.rpc_url, "evm_setAutomine", [False])
    try:
        OutboxSender(account=OLD).run_once(settings)
        sent = _intent(settings, key)
        time.sleep(0.1)
        _rounds_with_the_new_key(settings, 2)
        waiting = _intent(settings, key)
        assert waiting.status == IntentStatus.SENT and waiting.tx_hash == sent.tx_hash
        assert "rotated" in waiting.error
        with session_scope(settings) as s:
            assert [i.key for i in stalled_intents(s)] == [key]
    finally:
        rpc_call(settings.rpc_url, "evm_setAutomine", [True])
    rpc_call(settings.rpc_url, "evm_mine")
    _rounds_with_the_new_key(settings)
    intent = _intent(settings, key)
    assert intent.status == IntentStatus.CONFIRMED and intent.tx_hash == sent.tx_hash and intent.error is None
    assert mints_of(w3, contracts["MockStablecoin"], 3_000_004) == 1
