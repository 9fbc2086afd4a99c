"""Assertions shared by the outbox tests: every intent had exactly one on-chain effect."""

from __future__ import annotations

from sqlalchemy import select
from web3 import Web3

from backend.chain.models import Intent, IntentStatus
from backend.chain.outbox import enqueue
from backend.config import Settings
from backend.db.session import session_scope
from tests.chain.conftest import RECIPIENT

SENDER = "0xf39Fd6e51aad88F6F4ce6aB8827279cffFb92266"  # Anvil account 0, the platform signer


def enqueue_faucets(settings: Settings, amounts: list[int], prefix: str = "faucet") -> list[str]:
    """One MockStablecoin faucet intent per amount: each has a distinct, countable effect (a mint
    of exactly that amount), unlike idempotent calls whose retries would be invisible."""
    keys = []
    with session_scope(settings) as session:
        for amount in amounts:
            key = f"{prefix}-{amount}"
            enqueue(session, key=key, contract="MockStablecoin", function="faucet", args=[RECIPIENT, amount],
                    settings=settings)  # fmt: skip
            keys.append(key)
    return keys


def intents(settings: Settings) -> list[Intent]:
    with session_scope(settings) as session:
        return list(session.scalars(select(Intent).order_by(Intent.nonce)))


def all_confirmed(settings: Settings) -> bool:
    rows = intents(settings)
    return bool(rows) and all(i.status == IntentStatus.CONFIRMED for i in rows)


def mints_of(w3: Web3, token, amount: int) -> int:
    """How many times exactly `amount` was minted to RECIPIENT on the canonical chain."""
    logs = token.events.Transfer().get_logs(
        from_block=0, argument_filters={"from": "0x" + "00" * 20, "to": Web3.to_checksum_address(RECIPIENT)}
    )
    return sum(1 for log in logs if log["args"]["value"] == amount)


def assert_exactly_once(settings: Settings, w3: Web3, token, amounts: list[int], start_nonce: int) -> None:
    rows = intents(settings)
    assert [i.status for i in rows] == [IntentStatus.CONFIRMED] * len(amounts), [(i.key, i.status, i.error) for i in rows]
    # Distinct, gap-free nonces, and the signer sent no transaction beyond them.
    assert [i.nonce for i in rows] == list(range(start_nonce, start_nonce + len(amounts)))
    assert w3.eth.get_transaction_count(SENDER) == start_nonce + len(amounts)
    for intent in rows:
        receipt = w3.eth.get_transaction_receipt(intent.tx_hash)
        assert receipt["status"] == 1 and receipt["blockNumber"] == intent.block_number
        assert w3.eth.get_transaction(intent.tx_hash)["nonce"] == intent.nonce
    for amount in amounts:
        assert mints_of(w3, token, amount) == 1, f"amount {amount} minted {mints_of(w3, token, amount)} times"
    assert token.functions.balanceOf(Web3.to_checksum_address(RECIPIENT)).call() >= sum(amounts)


ROOT = "0x" + "11" * 32


def mine_two_revokes_in_one_block(settings: Settings, wallet: str) -> None:
    """Attest `wallet`, then revoke it twice: revoke-1 and revoke-2 pass their estimates; mined in
    one block, revoke-2 reverts (KYCRegistryNotAttested) on chain."""
    from backend.chain.node import rpc_call
    from backend.chain.outbox import process_until_idle
    from backend.chain.sender import OutboxSender

    with session_scope(settings) as session:
        enqueue(session, key="attest", contract="KYCRegistry", function="attest",
                args=[wallet, 1, 2**40, ROOT], settings=settings)  # fmt: skip
    process_until_idle(settings.model_copy(update={"confirmations": 0}), timeout=30)
    rpc_call(settings.rpc_url, "evm_setAutomine", [False])
    try:
        with session_scope(settings) as session:
            for key in ("revoke-1", "revoke-2"):
                enqueue(session, key=key, contract="KYCRegistry", function="revoke", args=[wallet], settings=settings)
        OutboxSender().run_once(settings)
        rpc_call(settings.rpc_url, "evm_mine")
    finally:
        rpc_call(settings.rpc_url, "evm_setAutomine", [True])
