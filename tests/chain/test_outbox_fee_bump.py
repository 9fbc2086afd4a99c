"""Replace-by-fee in the outbox: a transaction left unmined is re-signed at the same nonce with
higher fees, and whichever fee level is mined, the intent has exactly one effect. The node
stops automining to hold transactions in its pool, as a congested public chain would."""

from __future__ import annotations

import time
from contextlib import contextmanager

import pytest
from hexbytes import HexBytes
from web3 import Web3

from backend.chain import sender as sender_module
from backend.chain.models import IntentStatus
from backend.chain.node import rpc_call
from backend.chain.outbox import get_intent, process_until_idle
from backend.chain.sender import OutboxSender
from backend.db.session import session_scope
from tests.chain.outbox_checks import SENDER, enqueue_faucets, mints_of


@pytest.fixture
def bump_settings(outbox_settings):
    return outbox_settings.model_copy(update={"outbox_fee_bump_after": 0.05})


@contextmanager
def no_automine(settings):
    rpc_call(settings.rpc_url, "evm_setAutomine", [False])
    try:
        yield
    finally:
        rpc_call(settings.rpc_url, "evm_setAutomine", [True])


def _intent(settings, key):
    with session_scope(settings) as session:
        return get_intent(session, key)


def _send_and_wait_past_the_bump_delay(settings, key):
    OutboxSender().run_once(settings)  # signs, broadcasts, starts the bump clock
    sent = _intent(settings, key)
    assert sent.status == IntentStatus.SENT and sent.next_attempt_at is not None
    time.sleep(0.1)
    return sent


def test_an_unmined_transaction_is_replaced_with_higher_fees(bump_settings, w3, contracts):
    settings = bump_settings
    (key,) = enqueue_faucets(settings, [4_000_001])
    start = w3.eth.get_transaction_count(SENDER)
    with no_automine(settings):
        sent = _send_and_wait_past_the_bump_delay(settings, key)
        OutboxSender().run_once(settings)  # bumps
        bumped = _intent(settings, key)
        assert bumped.tx_hash != sent.tx_hash and bumped.replaced_tx_hashes == [sent.tx_hash]
        assert bumped.nonce == sent.nonce == start
        old, new = _fields(sent.raw_tx), w3.eth.get_transaction(bumped.tx_hash)  # the pool dropped the old one
        assert new["maxFeePerGas"] >= old["maxFeePerGas"] * 9 // 8
        assert new["maxPriorityFeePerGas"] >= old["maxPriorityFeePerGas"] * 9 // 8
        rpc_call(settings.rpc_url, "evm_mine")
    process_until_idle(settings, timeout=30)
    done = _intent(settings, key)
    assert done.status == IntentStatus.CONFIRMED and done.tx_hash == bumped.tx_hash
    assert w3.eth.get_transaction_receipt(done.tx_hash)["status"] == 1
    assert mints_of(w3, contracts["MockStablecoin"], 4_000_001) == 1
    assert w3.eth.get_transaction_count(SENDER) == start + 1


def _fields(raw_tx: str) -> dict:
    from eth_account.typed_transactions import TypedTransaction
    from hexbytes import HexBytes

    return TypedTransaction.from_bytes(HexBytes(raw_tx)).as_dict()


class Crash(BaseException):
    pass


def test_a_crash_before_the_bump_is_broadcast_and_the_old_fee_level_mined(bump_settings, w3, contracts, monkeypatch):
    """The replacement is committed but never reaches the node; the original is mined. The
    sender finds the receipt under the earlier hash: one mint, and the intent points at it."""
    settings = bump_settings
    (key,) = enqueue_faucets(settings, [4_000_002])
    with no_automine(settings):
        sent = _send_and_wait_past_the_bump_delay(settings, key)

        def crash(_settings, point):
            if point == "after_bump_sign":
                raise Crash(point)

        monkeypatch.setattr(sender_module, "crash_point", crash)
        with pytest.raises(Crash):
            OutboxSender().run_once(settings)
        monkeypatch.undo()
        committed = _intent(settings, key)
        assert committed.replaced_tx_hashes == [sent.tx_hash] and committed.tx_hash != sent.tx_hash
        rpc_call(settings.rpc_url, "evm_mine")  # only the original is in the pool
    process_until_idle(settings, timeout=30)
    done = _intent(settings, key)
    assert done.status == IntentStatus.CONFIRMED and done.tx_hash == sent.tx_hash
    assert done.replaced_tx_hashes == [committed.tx_hash]
    assert mints_of(w3, contracts["MockStablecoin"], 4_000_002) == 1


def test_no_bump_past_the_fee_cap(bump_settings, w3, contracts):
    price_now = Web3.from_wei(w3.eth.gas_price, "gwei")
    settings = bump_settings.model_copy(update={"outbox_max_fee_gwei": float(price_now) / 4})
    (key,) = enqueue_faucets(settings, [4_000_003])
    with no_automine(settings):
        sent = _send_and_wait_past_the_bump_delay(settings, key)
        OutboxSender().run_once(settings)
        held = _intent(settings, key)
        assert held.tx_hash == sent.tx_hash and held.replaced_tx_hashes == []
        assert "cap" in held.error
        rpc_call(settings.rpc_url, "evm_mine")
    process_until_idle(settings, timeout=30)
    assert _intent(settings, key).status == IntentStatus.CONFIRMED
    assert mints_of(w3, contracts["MockStablecoin"], 4_000_003) == 1


def test_bumping_can_be_turned_off(outbox_settings, w3, contracts):
    settings = outbox_settings.model_copy(update={"outbox_fee_bump_after": 0})
    (key,) = enqueue_faucets(settings, [4_000_004])
    with no_automine(settings):
        OutboxSender().run_once(settings)
        time.sleep(0.1)
        OutboxSender().run_once(settings)
        held = _intent(settings, key)
        assert held.replaced_tx_hashes == [] and held.next_attempt_at is None
        rpc_call(settings.rpc_url, "evm_mine")
    process_until_idle(settings, timeout=30)
    assert mints_of(w3, contracts["MockStablecoin"], 4_000_004) == 1


def test_a_legacy_transaction_is_bumped_by_gas_price(bump_settings, w3):
    """Pre-London chains get type-0 transactions; the bump raises gasPrice instead."""
    from backend.chain.fees import bump_fees
    from backend.chain.models import Intent
    from backend.chain.signers import dev_account

    settings, account = bump_settings, dev_account(0)
    with no_automine(settings):
        nonce = w3.eth.get_transaction_count(account.address, "pending")
        tx = {"to": "0x" + "12" * 20, "value": 1, "gas": 21_000, "gasPrice": w3.eth.gas_price * 2,
              "nonce": nonce, "chainId": w3.eth.chain_id}  # fmt: skip
        signed = account.sign_transaction(tx)
        w3.eth.send_raw_transaction(signed.raw_transaction)
        intent = Intent(key="legacy", sender=account.address, tx_hash=signed.hash.to_0x_hex(),
                        raw_tx=signed.raw_transaction.to_0x_hex(), replaced_tx_hashes=[], attempts=1)  # fmt: skip
        assert bump_fees(settings, w3, account, intent)
        w3.eth.send_raw_transaction(HexBytes(intent.raw_tx))
        replacement = w3.eth.get_transaction(intent.tx_hash)
        assert replacement["type"] == 0 and replacement["gasPrice"] >= tx["gasPrice"] * 9 // 8
        rpc_call(settings.rpc_url, "evm_mine")
    assert w3.eth.get_transaction_receipt(intent.tx_hash)["status"] == 1
    assert intent.replaced_tx_hashes == [signed.hash.to_0x_hex()]


def test_a_transaction_refused_for_its_fees_is_resigned_at_the_same_nonce(outbox_settings, w3, contracts, monkeypatch):
    """The base fee rose past the fees a round quoted (after an outage, say): the node refuses
    the signed bytes. The sender re-signs them at the same nonce with fresh fees instead of
    holding every intent behind them forever; /health says stalled meanwhile."""
    settings = outbox_settings
    start = w3.eth.get_transaction_count(SENDER)
    with base_fee_raised(settings, w3):
        _refused_then_resigned(settings, w3, contracts, monkeypatch, start)


@contextmanager
def base_fee_raised(settings, w3):
    """The base fee jumps, as after an outage. Anvil's evm_revert keeps the next block's base
    fee: put it back, or the next test's fixed gas prices are refused."""
    before = w3.eth.get_block("pending")["baseFeePerGas"]
    rpc_call(settings.rpc_url, "anvil_setNextBlockBaseFeePerGas", [hex(50 * 10**9)])
    rpc_call(settings.rpc_url, "evm_mine")
    try:
        yield
    finally:
        rpc_call(settings.rpc_url, "anvil_setNextBlockBaseFeePerGas", [hex(before)])


def _refused_then_resigned(settings, w3, contracts, monkeypatch, start):
    from backend.services.health import check_outbox

    first, second = enqueue_faucets(settings, [4_000_005, 4_000_006])
    monkeypatch.setattr(sender_module, "fee_fields", lambda _w3: {"maxFeePerGas": 10**9, "maxPriorityFeePerGas": 10**9})
    OutboxSender().run_once(settings)
    monkeypatch.undo()
    refused = _intent(settings, first)
    assert refused.status == IntentStatus.SIGNED and refused.error.startswith("broadcast rejected"), refused.error
    assert _intent(settings, second).status == IntentStatus.PENDING  # behind it
    health = check_outbox(settings)
    assert health["ok"] and health["status"] == "stalled" and health["stalled"][0]["key"] == first
    process_until_idle(settings, timeout=30)
    done = _intent(settings, first)
    assert done.status == IntentStatus.CONFIRMED and done.nonce == start
    assert done.replaced_tx_hashes == [refused.tx_hash] and done.tx_hash != refused.tx_hash
    assert _fields(done.raw_tx)["maxFeePerGas"] > 10**9
    assert _intent(settings, second).status == IntentStatus.CONFIRMED and _intent(settings, second).nonce == start + 1
    assert mints_of(w3, contracts["MockStablecoin"], 4_000_005) == 1
    assert w3.eth.get_transaction_count(SENDER) == start + 2
    assert check_outbox(settings)["status"] == "ok"


def test_a_mined_fee_level_whose_hash_the_record_lost_is_adopted_not_resent(bump_settings, w3, contracts):
    """The record lost the hash that was mined (a stale sender overwrote it, review-ops H1): the
    nonce looks taken by an unknown transaction, but that transaction is the intent's own call
    (same signer, to, data and value). It is adopted and confirmed; the call is not re-signed."""
    settings = bump_settings
    (key,) = enqueue_faucets(settings, [4_000_778])
    with no_automine(settings):
        sent = _send_and_wait_past_the_bump_delay(settings, key)
        OutboxSender().run_once(settings)  # bumps: the pool holds only the new fee level
        bumped = _intent(settings, key)
        assert bumped.tx_hash != sent.tx_hash
        with session_scope(settings) as session:  # forget the bump: the record is back at H1
            row = get_intent(session, key)
            row.tx_hash, row.raw_tx, row.replaced_tx_hashes = sent.tx_hash, sent.raw_tx, []
        rpc_call(settings.rpc_url, "evm_mine")  # the forgotten bump is mined
    process_until_idle(settings, timeout=30)
    done = _intent(settings, key)
    assert done.status == IntentStatus.CONFIRMED and done.tx_hash == bumped.tx_hash, (done.status, done.error)
    assert done.nonce == sent.nonce and sent.tx_hash in done.replaced_tx_hashes
    assert mints_of(w3, contracts["MockStablecoin"], 4_000_778) == 1


class _BaseFeeLater:
    """The node as a second sender sees it a block later: the base fee moved up a little."""

    def __init__(self, w3, base_fee):
        self._w3, self.eth = w3, self
        self._base = base_fee

    def get_block(self, which, *a, **k):
        block = dict(self._w3.eth.get_block(which, *a, **k))
        if which == "latest":
            block["baseFeePerGas"] = self._base
        return block

    def __getattr__(self, name):
        return getattr(self._w3.eth, name)


@pytest.mark.parametrize("database_url", ["sqlite", "postgres"], indirect=True)
def test_two_senders_bumping_at_once_never_run_a_call_twice(outbox_settings_any_db, w3, contracts, monkeypatch):
    """Two senders in one round (a stale lock holder beside the new one, review-ops H1) both bump
    the same unmined intent. The first bump is committed and broadcast; the second sender read the
    row before it, so its bump is refused (compare-and-set on the hash it read) and its round stops:
    the broadcast hash stays on record, it is mined, and the call runs once."""
    import threading

    from eth_account.typed_transactions import TypedTransaction

    from backend.chain import fees as fees_module
    from backend.errors import Conflict

    settings = outbox_settings_any_db.model_copy(update={"outbox_fee_bump_after": 0.05})
    (key,) = enqueue_faucets(settings, [4_000_777])
    real_bump = fees_module.bump_fees
    s2_has_read, s1_done = threading.Event(), threading.Event()

    def racing_bump(settings_, w3_, account, intent):
        if threading.current_thread().name == "S2":
            s2_has_read.set()  # S2 holds the row as it was: H1, nothing replaced
            assert s1_done.wait(30)
            old = TypedTransaction.from_bytes(HexBytes(intent.raw_tx)).as_dict()
            tip = fees_module._bumped(old["maxPriorityFeePerGas"], w3_.eth.max_priority_fee)
            target = -(-old["maxFeePerGas"] * 9 // 8) * 105 // 100  # other fees than S1's bump: another hash
            return real_bump(settings_, _BaseFeeLater(w3_, (target - tip) // 2), account, intent)
        assert s2_has_read.wait(30)
        return real_bump(settings_, w3_, account, intent)

    monkeypatch.setattr(sender_module, "bump_fees", racing_bump)
    s2_errors = []

    def s2_round():
        try:
            OutboxSender().run_once(settings)
        except Conflict as exc:
            s2_errors.append(exc)

    with no_automine(settings):
        first = _send_and_wait_past_the_bump_delay(settings, key)
        s2 = threading.Thread(target=s2_round, name="S2")
        s2.start()
        OutboxSender().run_once(settings)  # S1: bumps to H2, commits, broadcasts H2
        s1_row = _intent(settings, key)
        assert s1_row.tx_hash != first.tx_hash and s1_row.replaced_tx_hashes == [first.tx_hash]
        rpc_call(settings.rpc_url, "evm_mine")  # H2 is mined while S2 is mid-round
        s1_done.set()
        s2.join(30)
    assert s2_errors, "the stale sender's bump was written"
    row = _intent(settings, key)
    assert row.tx_hash == s1_row.tx_hash and row.replaced_tx_hashes == [first.tx_hash]
    monkeypatch.setattr(sender_module, "bump_fees", real_bump)
    process_until_idle(settings, timeout=30)
    done = _intent(settings, key)
    assert done.status == IntentStatus.CONFIRMED and done.tx_hash == s1_row.tx_hash
    assert mints_of(w3, contracts["MockStablecoin"], 4_000_777) == 1
