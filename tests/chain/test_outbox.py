"""The outbox on the session chain: idempotent enqueue, validation, sending, decoded reverts,
and recovery from a nonce taken by another transaction."""

from __future__ import annotations

import pytest
from sqlalchemy import func, select

from backend.chain import sender as sender_module
from backend.chain.models import Intent, IntentStatus
from backend.chain.node import rpc_call
from backend.chain.outbox import enqueue, get_intent, process_until_idle
from backend.chain.sender import OutboxSender
from backend.chain.signers import dev_account
from backend.db.session import session_scope
from backend.errors import Conflict, ValidationFailed
from tests.chain.conftest import RECIPIENT
from tests.chain.outbox_checks import SENDER, assert_exactly_once, enqueue_faucets, mine_two_revokes_in_one_block

ROOT = "0x" + "ab" * 32


def _anchor(session, settings, key="anchor-1", root=ROOT, count=3):
    return enqueue(session, key=key, contract="DocumentAnchor", function="anchor", args=[root, count, "ipfs://b"],
                   settings=settings)  # fmt: skip


def test_enqueue_is_idempotent_by_key_and_refuses_a_different_call(outbox_settings_any_db):
    settings = outbox_settings_any_db
    with session_scope(settings) as session:
        first = _anchor(session, settings)
    with session_scope(settings) as session:
        again = _anchor(session, settings, root=ROOT.upper().replace("0X", "0x"))  # same bytes, other spelling
        assert again.id == first.id
        with pytest.raises(Conflict):
            _anchor(session, settings, count=4)
    with session_scope(settings) as session:
        assert session.scalar(select(func.count()).select_from(Intent)) == 1
        intent = get_intent(session, "anchor-1")
        assert intent.status == IntentStatus.PENDING and intent.nonce is None
        assert intent.address == settings_address(settings, "DocumentAnchor")


def settings_address(settings, name):
    from backend.chain.deploy import deployed_addresses

    return deployed_addresses(settings)[name]


@pytest.mark.parametrize(
    ("contract", "function", "args", "message"),
    [
        ("Nope", "anchor", [], "unknown contract"),
        ("DocumentAnchor", "burn", [], "no function"),
        ("DocumentAnchor", "anchor", [ROOT, 1], "takes 3 arguments"),
        ("DocumentAnchor", "anchor", ["0x1234", 1, "u"], "bytes32 needs 32 bytes"),
        ("DocumentAnchor", "anchor", [ROOT, -1, "u"], "out of range for uint32"),
        ("DocumentAnchor", "anchoredAt", [ROOT], "read-only"),
        ("KYCRegistry", "attest", ["0x123", 1, 1, ROOT], "not an address"),
    ],
)
def test_bad_input_is_a_422_and_records_nothing(outbox_settings, contract, function, args, message):
    with session_scope(outbox_settings) as session:
        with pytest.raises(ValidationFailed, match=message) as err:
            enqueue(session, key="k", contract=contract, function=function, args=args, settings=outbox_settings)
        assert err.value.status_code == 422
        assert session.scalar(select(func.count()).select_from(Intent)) == 0


def test_intents_are_sent_once_with_sequential_nonces(outbox_settings_any_db, w3, contracts):
    settings = outbox_settings_any_db
    start = w3.eth.get_transaction_count(SENDER)
    amounts = [1_000_001, 1_000_002, 1_000_003]
    enqueue_faucets(settings, amounts)
    process_until_idle(settings, timeout=30)
    process_until_idle(settings, timeout=30)  # a second pass finds nothing more to do
    assert_exactly_once(settings, w3, contracts["MockStablecoin"], amounts, start)
    with session_scope(settings) as session:
        intent = get_intent(session, "faucet-1000001")
        assert intent.gas_used > 21_000 and intent.raw_tx.startswith("0x") and intent.sender == SENDER
        assert intent.attempts == 1 and intent.confirmed_at is not None


def test_revert_at_estimate_is_decoded_and_uses_no_nonce(outbox_settings, w3):
    settings = outbox_settings
    start = w3.eth.get_transaction_count(SENDER)
    with session_scope(settings) as session:
        _anchor(session, settings, key="empty-root", root="0x" + "00" * 32)
        enqueue(session, key="too-much", contract="MockStablecoin", function="faucet",
                args=[RECIPIENT, str(10**30)], settings=settings)  # fmt: skip
    process_until_idle(settings, timeout=30)
    with session_scope(settings) as session:
        empty = get_intent(session, "empty-root")
        too_much = get_intent(session, "too-much")
    assert empty.status == IntentStatus.FAILED and empty.error_name == "DocumentAnchorEmptyRoot"
    assert too_much.status == IntentStatus.FAILED and too_much.error_name == "MockStablecoinFaucetLimit"
    assert too_much.error_args == {"requested": str(10**30), "limit": 1_000_000 * 10**6}  # > 2**53 as text
    assert empty.nonce is None and w3.eth.get_transaction_count(SENDER) == start


def test_missing_role_is_decoded_as_the_openzeppelin_error(outbox_settings):
    settings = outbox_settings
    outsider = dev_account(7)
    with session_scope(settings) as session:
        _anchor(session, settings, key="no-role")
    OutboxSender(account=outsider).run_once(settings)
    with session_scope(settings) as session:
        intent = get_intent(session, "no-role")
    assert intent.status == IntentStatus.FAILED
    assert intent.error_name == "AccessControlUnauthorizedAccount"
    assert intent.error_args["account"].lower() == outsider.address.lower()


def test_revert_in_the_receipt_is_decoded(outbox_settings, w3):
    """Both revokes pass their estimate; mined in one block, the second one reverts."""
    settings = outbox_settings
    mine_two_revokes_in_one_block(settings, dev_account(6).address)
    process_until_idle(settings, timeout=30)
    with session_scope(settings) as session:
        first, second = get_intent(session, "revoke-1"), get_intent(session, "revoke-2")
    assert first.status == IntentStatus.CONFIRMED
    assert second.status == IntentStatus.FAILED and second.block_number == first.block_number
    assert second.error_name == "KYCRegistryNotAttested" and second.gas_used


class Crash(BaseException):
    """Stands in for the process dying at a crash point (raised past every handler)."""


def _crash_at(monkeypatch, point: str) -> None:
    def crash(settings, name):
        if name == point:
            raise Crash(name)

    monkeypatch.setattr(sender_module, "crash_point", crash)


def test_a_nonce_taken_by_another_transaction_is_resigned_only_then(outbox_settings, w3, contracts, monkeypatch):
    settings = outbox_settings
    start = w3.eth.get_transaction_count(SENDER)
    enqueue_faucets(settings, [2_000_001])
    _crash_at(monkeypatch, "after_sign")
    with pytest.raises(Crash):
        OutboxSender().run_once(settings)
    monkeypatch.undo()
    with session_scope(settings) as session:
        signed = get_intent(session, "faucet-2000001")
        assert signed.status == IntentStatus.SIGNED and signed.nonce == start
    # Someone else (an operator with the same key) uses that nonce meanwhile.
    w3.eth.send_transaction({"from": SENDER, "to": RECIPIENT, "value": 1, "nonce": start})
    process_until_idle(settings, timeout=30)
    with session_scope(settings) as session:
        intent = get_intent(session, "faucet-2000001")
    assert intent.status == IntentStatus.CONFIRMED and intent.nonce == start + 1
    assert intent.replaced_tx_hashes == [signed.tx_hash]
    with pytest.raises(Exception):
        w3.eth.get_transaction_receipt(signed.tx_hash)
    from tests.chain.outbox_checks import mints_of

    assert mints_of(w3, contracts["MockStablecoin"], 2_000_001) == 1


@pytest.mark.parametrize("point", ["before_sign", "after_sign", "after_broadcast", "after_mined"])
def test_in_process_crash_at_each_point_then_restart(outbox_settings, w3, contracts, monkeypatch, point):
    """The fast variant of the crash drill (the subprocess SIGKILL drill is in test_outbox_crash)."""
    settings = outbox_settings
    start = w3.eth.get_transaction_count(SENDER)
    amounts = [3_000_001, 3_000_002]
    enqueue_faucets(settings, amounts)
    _crash_at(monkeypatch, point)
    crashes = 0
    for _ in range(10):  # restart after every crash until a round gets through
        try:
            OutboxSender().run_once(settings)
            break
        except Crash:
            crashes += 1
    monkeypatch.undo()
    assert crashes >= 2
    process_until_idle(settings, timeout=30)
    assert_exactly_once(settings, w3, contracts["MockStablecoin"], amounts, start)


def test_an_intent_that_no_longer_fits_the_abi_fails_without_blocking_the_queue(outbox_settings, w3, contracts):
    settings = outbox_settings
    with session_scope(settings) as session:
        _anchor(session, settings, key="stale")
        get_intent(session, "stale").args = ["0x1234", 1, "u"]  # as if the ABI had changed since
    start = w3.eth.get_transaction_count(SENDER)
    enqueue_faucets(settings, [12_000_001])
    process_until_idle(settings, timeout=30)
    with session_scope(settings) as session:
        stale = get_intent(session, "stale")
        assert stale.status == IntentStatus.FAILED and "cannot build the transaction" in stale.error
        assert get_intent(session, "faucet-12000001").status == IntentStatus.CONFIRMED
    assert w3.eth.get_transaction_count(SENDER) == start + 1


class _WithdrawnDuringEstimate:
    """The intent's call, whose gas estimate (a round trip to the node) lets another session
    withdraw the intent first: an API request withdrawing a mandate at that moment."""

    def __init__(self, fn, settings, prefix):
        self._fn, self._settings, self._prefix = fn, settings, prefix

    def estimate_gas(self, params):
        from backend.chain.outbox import withdraw_pending

        gas = self._fn.estimate_gas(params)
        with session_scope(self._settings) as other:
            assert withdraw_pending(other, self._prefix, "withdrawn during the estimate") == 1
        return gas

    def build_transaction(self, params):
        return self._fn.build_transaction(params)


def test_an_intent_withdrawn_while_the_sender_estimates_is_never_sent(outbox_settings_any_db, w3, contracts, monkeypatch):
    settings = outbox_settings_any_db
    start = w3.eth.get_transaction_count(SENDER)
    enqueue_faucets(settings, [13_000_001])
    enqueue_faucets(settings, [13_000_002], prefix="other")
    real = sender_module._contract_function

    def contract_function(settings_, w3_, intent):
        fn = real(settings_, w3_, intent)
        return _WithdrawnDuringEstimate(fn, settings, "faucet-") if intent.key.startswith("faucet-") else fn

    monkeypatch.setattr(sender_module, "_contract_function", contract_function)
    process_until_idle(settings, timeout=30)
    with session_scope(settings) as session:
        withdrawn, other = get_intent(session, "faucet-13000001"), get_intent(session, "other-13000002")
    assert (withdrawn.status, withdrawn.error_name, withdrawn.tx_hash, withdrawn.nonce) == ("failed", "Withdrawn", None, None)
    from tests.chain.outbox_checks import mints_of

    assert mints_of(w3, contracts["MockStablecoin"], 13_000_001) == 0
    # The nonce it would have taken goes to the next intent: no gap.
    assert other.status == IntentStatus.CONFIRMED and other.nonce == start
    assert w3.eth.get_transaction_count(SENDER) == start + 1


def test_a_reverted_receipt_fails_the_intent_only_at_confirmation_depth(outbox_settings, w3):
    settings = outbox_settings.model_copy(update={"confirmations": 2})
    mine_two_revokes_in_one_block(settings, dev_account(6).address)
    OutboxSender().run_once(settings)
    with session_scope(settings) as session:
        reverted = get_intent(session, "revoke-2")
    # Why is known at once; failed it is not yet, as a reorg may still include it again.
    assert reverted.status == IntentStatus.MINED and reverted.error_name == "KYCRegistryNotAttested"
    rpc_call(settings.rpc_url, "evm_mine")
    OutboxSender().run_once(settings)
    with session_scope(settings) as session:
        assert get_intent(session, "revoke-2").status == IntentStatus.MINED  # one block deep
    rpc_call(settings.rpc_url, "evm_mine")
    process_until_idle(settings, timeout=30)
    with session_scope(settings) as session:
        first, second = get_intent(session, "revoke-1"), get_intent(session, "revoke-2")
    assert first.status == IntentStatus.CONFIRMED
    assert (second.status, second.error_name, second.block_number) == ("failed", "KYCRegistryNotAttested",
                                                                       first.block_number)  # fmt: skip


def test_a_reverted_receipt_reorged_away_is_included_again_and_succeeds(outbox_settings, w3, contracts):
    """Another attestor's revoke lands first in the block and ours reverts; a reorg drops that
    block (and the other revoke with it), the sender re-broadcasts our bytes and they succeed."""
    settings = outbox_settings.model_copy(update={"confirmations": 2})
    wallet, other, kyc = dev_account(6).address, dev_account(5).address, contracts["KYCRegistry"]
    w3.eth.wait_for_transaction_receipt(kyc.functions.grantRole(kyc.functions.ATTESTOR_ROLE().call(), other)
                                        .transact({"from": SENDER}))  # fmt: skip
    w3.eth.wait_for_transaction_receipt(kyc.functions.attest(wallet, 1, 2**40, ROOT).transact({"from": SENDER}))
    with session_scope(settings) as session:
        enqueue(session, key="revoke", contract="KYCRegistry", function="revoke", args=[wallet], settings=settings)
    fork = rpc_call(settings.rpc_url, "evm_snapshot")
    rpc_call(settings.rpc_url, "evm_setAutomine", [False])
    try:
        gwei = 10**9
        kyc.functions.revoke(wallet).transact({"from": other, "maxFeePerGas": 500 * gwei, "maxPriorityFeePerGas": 200 * gwei})
        OutboxSender().run_once(settings)
        rpc_call(settings.rpc_url, "evm_mine")
    finally:
        rpc_call(settings.rpc_url, "evm_setAutomine", [True])
    OutboxSender().run_once(settings)
    with session_scope(settings) as session:
        reverted = get_intent(session, "revoke")
    assert reverted.status == IntentStatus.MINED and reverted.error_name == "KYCRegistryNotAttested"
    assert rpc_call(settings.rpc_url, "evm_revert", [fork]) is True  # the reorg
    assert kyc.functions.attestationOf(wallet).call()[0] == 1  # attested again: the other revoke is gone
    OutboxSender().run_once(settings)  # the node forgot our transaction: the same bytes again
    for _ in range(2):
        rpc_call(settings.rpc_url, "evm_mine")
    process_until_idle(settings, timeout=30)
    with session_scope(settings) as session:
        done = get_intent(session, "revoke")
    assert (done.status, done.error, done.error_name, done.tx_hash) == ("confirmed", None, None, reverted.tx_hash)
    assert w3.eth.get_transaction_receipt(done.tx_hash)["status"] == 1
    assert kyc.functions.attestationOf(wallet).call()[0] == 0


class _NodeBehind:
    """The session chain seen through a node `lag` blocks behind (a load-balanced RPC's lagging
    backend): later blocks, their transactions and their nonces are not there yet, and it takes
    back a raw transaction whose nonce it thinks is free."""

    def __init__(self, w3, lag: int) -> None:
        self._w3, self.eth, self.lag = w3, self, lag
        self.rebroadcast: list[str] = []

    @property
    def block_number(self) -> int:
        return self._w3.eth.block_number - self.lag

    def get_transaction_count(self, address, block="latest"):
        return self._w3.eth.get_transaction_count(address, self.block_number if block in ("latest", "pending") else block)

    def _hide_later(self, found):
        from web3.exceptions import TransactionNotFound

        if found is None or (found.get("blockNumber") or 0) > self.block_number:
            raise TransactionNotFound("not found")
        return found

    def get_transaction_receipt(self, tx_hash):
        return self._hide_later(self._w3.eth.get_transaction_receipt(tx_hash))

    def get_transaction(self, tx_hash):
        return self._hide_later(self._w3.eth.get_transaction(tx_hash))

    def send_raw_transaction(self, raw):
        from web3 import Web3

        self.rebroadcast.append(Web3.keccak(raw).to_0x_hex())
        return Web3.keccak(raw)

    def __getattr__(self, name):
        return getattr(self._w3.eth, name)


def test_a_node_that_is_only_behind_does_not_flip_confirmed_intents_back(outbox_settings, w3, contracts, monkeypatch):
    """review-ops M1: a confirmed intent whose block the node has not reached yet is not a lost
    block; it stays confirmed with its block (its bytes may be offered again: harmless), and goes
    on as before once the node has caught up."""
    settings = outbox_settings
    (key,) = enqueue_faucets(settings, [5_000_301])
    process_until_idle(settings, timeout=30)
    with session_scope(settings) as session:
        done = get_intent(session, key)
    assert done.status == IntentStatus.CONFIRMED
    real = sender_module.get_web3
    behind = _NodeBehind(real(settings), 2)
    monkeypatch.setattr(sender_module, "get_web3", lambda s: behind)
    OutboxSender().run_once(settings)
    with session_scope(settings) as session:
        after = get_intent(session, key)
    assert (after.status, after.block_number, after.block_hash) == (IntentStatus.CONFIRMED, done.block_number, done.block_hash)
    monkeypatch.setattr(sender_module, "get_web3", real)
    process_until_idle(settings, timeout=30)
    with session_scope(settings) as session:
        assert get_intent(session, key).status == IntentStatus.CONFIRMED
    from tests.chain.outbox_checks import mints_of

    assert mints_of(w3, contracts["MockStablecoin"], 5_000_301) == 1


def test_a_pending_intent_that_keeps_failing_its_estimate_shows_in_health(outbox_settings, monkeypatch):
    """review-ops L1: an estimate the node rejects (gas required exceeds allowance, insufficient
    funds for a payable call) backs the intent off and retries it for ever; after a few attempts
    /health lists it under outbox.stalled with its id and error instead of only a growing count."""
    from datetime import timedelta

    from sqlalchemy import update
    from web3.exceptions import Web3RPCError

    from backend.chain.models import utcnow
    from backend.services.health import check_outbox

    settings = outbox_settings
    (key,) = enqueue_faucets(settings, [5_000_401])

    class _Rejected:
        def estimate_gas(self, _params):
            raise Web3RPCError("gas required exceeds allowance")

    monkeypatch.setattr(sender_module, "_contract_function", lambda *a: _Rejected())
    for _ in range(3):
        OutboxSender().run_once(settings)
        with session_scope(settings) as session:  # the back-off is over at once
            session.execute(update(Intent).where(Intent.key == key).values(next_attempt_at=utcnow() - timedelta(seconds=1)))
    health = check_outbox(settings)
    with session_scope(settings) as session:
        intent = get_intent(session, key)
    assert intent.status == IntentStatus.PENDING and intent.attempts == 3
    assert health["status"] == "stalled", health
    assert health["stalled"] == [{"id": intent.id, "key": key, "status": "pending", "nonce": None,
                                  "error": "estimate rejected: gas required exceeds allowance"}]  # fmt: skip
