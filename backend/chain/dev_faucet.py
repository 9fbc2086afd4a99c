"""Money for developers on a local chain: loan tokens from MockStablecoin's faucet, sent through
the outbox like every transaction the backend makes, and ETH for gas from the node's own balance
cheat. Refused on any chain that is not local: no real money ever comes from here."""

from __future__ import annotations

import time
import uuid
from dataclasses import dataclass

from web3 import Web3

from backend.chain.client import reading
from backend.chain.deploy import deployed_contract
from backend.chain.models import IntentStatus
from backend.chain.node import rpc_call
from backend.chain.outbox import enqueue, get_intent, send_unless_a_worker_does
from backend.config import Settings
from backend.db.session import session_scope
from backend.errors import ChainError, ConfigurationError, ValidationFailed

SET_BALANCE = {"anvil": "anvil_setBalance", "ganache": "evm_setAccountBalance"}


@dataclass(frozen=True)
class FaucetReport:
    wallet: str
    tokens: int  # base units minted
    token_balance: int
    decimals: int
    eth_balance_wei: int
    tx_hash: str | None
    intent_key: str


def fund_wallet(settings: Settings, wallet: str, tokens: int, eth: int, timeout: float = 60.0) -> FaucetReport:
    """Mint `tokens` whole loan tokens to `wallet` and top its ETH up to at least `eth` (never lower:
    the node's balance cheat sets a balance, and Anvil's accounts start with 10,000)."""
    if not settings.is_local_chain:
        raise ConfigurationError(f"the faucet is for local chains only; chain id {settings.chain_id} is not one")
    if not Web3.is_address(wallet):
        raise ValidationFailed("wallet: not an Ethereum address", field="wallet")
    if tokens < 0 or eth < 0:
        raise ValidationFailed("tokens and eth: at least 0", field="tokens" if tokens < 0 else "eth")
    address = Web3.to_checksum_address(wallet)
    token = deployed_contract(settings, "MockStablecoin")
    with reading("MockStablecoin"):
        decimals = int(token.functions.decimals().call())
    amount = tokens * 10**decimals
    key = f"faucet:{address}:{uuid.uuid4().hex}"  # each request is its own mint, sent once
    tx_hash = None
    if amount:
        with session_scope(settings) as session:
            enqueue(session, key=key, contract="MockStablecoin", function="faucet", args=[address, amount], settings=settings)
        tx_hash = _send_and_wait(settings, key, timeout)
    if eth and token.w3.eth.get_balance(address) < eth * 10**18:
        rpc_call(settings.rpc_url, SET_BALANCE[settings.chain_node], [address, hex(eth * 10**18)])
    with reading("MockStablecoin"):
        balance = int(token.functions.balanceOf(address).call())
        eth_balance = int(token.w3.eth.get_balance(address))
    return FaucetReport(address, amount, balance, decimals, eth_balance, tx_hash, key)


def _send_and_wait(settings: Settings, key: str, timeout: float) -> str | None:
    """Send it ourselves when no outbox worker runs (`make run` has one in the API), else wait."""
    send_unless_a_worker_does(settings, timeout)
    deadline = time.monotonic() + timeout
    while True:
        with session_scope(settings) as session:
            intent = get_intent(session, key)
            status, tx_hash, error = intent.status, intent.tx_hash, intent.error
        if status == IntentStatus.CONFIRMED:
            return tx_hash
        if status == IntentStatus.FAILED:
            raise ChainError(f"the faucet transaction failed: {error}")
        if time.monotonic() > deadline:
            raise ChainError(f"the faucet transaction is {status} after {timeout:.0f}s (is the outbox worker running?)")
        time.sleep(0.3)


def advance_clock(settings: Settings, seconds: int) -> int:
    """Local chains only: move the chain's clock `seconds` forward and mine a block at that time, so
    due dates, grace periods, defaults and funding deadlines can be seen without waiting. Returns the
    new block's timestamp."""
    if not settings.is_local_chain:
        raise ConfigurationError(f"moving the clock is for local chains only; chain id {settings.chain_id} is not one")
    if seconds < 0:
        raise ValidationFailed("seconds: at least 0 (a chain's clock only moves forward)", field="seconds")
    rpc_call(settings.rpc_url, "evm_increaseTime", [seconds])
    rpc_call(settings.rpc_url, "evm_mine", [])
    return int(rpc_call(settings.rpc_url, "eth_getBlockByNumber", ["latest", False])["timestamp"], 16)
