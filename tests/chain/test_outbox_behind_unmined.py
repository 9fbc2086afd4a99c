"""An intent estimated while earlier transactions of ours are still unmined (a real chain's block
time, automine off): its estimate runs on a state without them, so a revert there is judged only
once they are mined, and nothing is sent past it meanwhile."""

from __future__ import annotations

import time

from backend.chain.models import IntentStatus
from backend.chain.node import rpc_call
from backend.chain.outbox import enqueue, get_intent
from backend.chain.sender import OutboxSender
from backend.db.session import session_scope
from tests.chain.conftest import RECIPIENT
from tests.chain.outbox_checks import SENDER

WALLET = "0x00000000000000000000000000000000000a11cE".lower()
NEVER_ATTESTED = "0x000000000000000000000000000000000000dEaD"
COMMITMENT = "0x" + "cd" * 32


def _status(settings, key):
    with session_scope(settings) as session:
        intent = get_intent(session, key)
        return intent.status, intent.error


def _enqueue(settings, key, contract, function, args):
    with session_scope(settings) as session:
        enqueue(session, key=key, contract=contract, function=function, args=args, settings=settings)


def test_a_revoke_queued_behind_its_unmined_attest_is_sent_once_the_attest_is_mined(outbox_settings, w3, contracts):
    """KYC approved (attest sent, not mined yet), then rejected or erased: the revoke's estimate on
    the latest block reverts (KYCRegistryNotAttested). Failing it there would leave the wallet
    attested on chain for good."""
    settings = outbox_settings
    kyc = contracts["KYCRegistry"]
    expires = w3.eth.get_block("latest")["timestamp"] + 365 * 86400
    rpc_call(settings.rpc_url, "evm_setAutomine", [False])
    try:
        _enqueue(settings, "kyc:attest:1", "KYCRegistry", "attest", [WALLET, 1, expires, COMMITMENT])
        OutboxSender().run_once(settings)  # the attest is sent; its block is not mined yet
        assert _status(settings, "kyc:attest:1")[0] == IntentStatus.SENT
        _enqueue(settings, "kyc:revoke:1", "KYCRegistry", "revoke", [WALLET])
        OutboxSender().run_once(settings)
        rpc_call(settings.rpc_url, "evm_mine")
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline and _status(settings, "kyc:revoke:1")[0] not in ("failed", "confirmed"):
            OutboxSender().run_once(settings)
            rpc_call(settings.rpc_url, "evm_mine")
            time.sleep(0.2)
        rpc_call(settings.rpc_url, "evm_mine")
        OutboxSender().run_once(settings)
    finally:
        rpc_call(settings.rpc_url, "evm_setAutomine", [True])
    assert _status(settings, "kyc:revoke:1")[0] != IntentStatus.FAILED
    assert not kyc.functions.isVerified(w3.to_checksum_address(WALLET), 1).call()


def test_a_call_that_truly_reverts_fails_once_what_was_ahead_of_it_is_mined(outbox_settings, w3):
    """The wait is bounded: once nothing of ours is unmined ahead of it, a revert at estimation
    is final. Meanwhile nothing queued after it is sent past it (the queue's order holds)."""
    settings = outbox_settings
    start = w3.eth.get_transaction_count(SENDER)
    rpc_call(settings.rpc_url, "evm_setAutomine", [False])
    try:
        _enqueue(settings, "ahead", "MockStablecoin", "faucet", [RECIPIENT, 31])
        _enqueue(settings, "revoke-never-attested", "KYCRegistry", "revoke", [NEVER_ATTESTED])
        _enqueue(settings, "behind", "MockStablecoin", "faucet", [RECIPIENT, 32])
        for _ in range(2):
            OutboxSender().run_once(settings)
        assert _status(settings, "ahead")[0] == IntentStatus.SENT
        status, error = _status(settings, "revoke-never-attested")
        assert status == IntentStatus.PENDING and "unmined" in error
        assert _status(settings, "behind")[0] == IntentStatus.PENDING
        rpc_call(settings.rpc_url, "evm_mine")
        OutboxSender().run_once(settings)
    finally:
        rpc_call(settings.rpc_url, "evm_setAutomine", [True])
    with session_scope(settings) as session:
        revoke, behind = get_intent(session, "revoke-never-attested"), get_intent(session, "behind")
        assert revoke.status == IntentStatus.FAILED and revoke.error_name == "KYCRegistryNotAttested"
        assert revoke.nonce is None and behind.nonce == start + 1
