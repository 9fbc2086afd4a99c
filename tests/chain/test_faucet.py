"""`loanchain chain faucet`: loan tokens through the outbox and ETH for gas, on local chains only."""

from __future__ import annotations

import json

import pytest
from eth_account import Account

from backend.chain.models import Intent, IntentStatus
from backend.db.session import session_scope
from tests.chain.conftest import loanchain

pytestmark = pytest.mark.slow  # `loanchain` processes and an Anvil of its own (long files run first: tests/conftest.py)


def test_the_faucet_funds_a_fresh_wallet_through_the_outbox(outbox_settings, w3):
    wallet = Account.create().address
    result = loanchain(outbox_settings, "chain", "faucet", wallet, "--tokens", "250", "--eth", "3", "--json")
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout)
    assert report["tokens"] == 250 * 10**6 and report["token_balance"] == 250 * 10**6
    assert report["eth_balance_wei"] == w3.eth.get_balance(wallet) == 3 * 10**18
    with session_scope(outbox_settings) as session:
        intent = session.get(Intent, session.query(Intent.id).filter(Intent.key == report["intent_key"]).scalar())
        assert (intent.status, intent.function, intent.tx_hash) == (IntentStatus.CONFIRMED, "faucet", report["tx_hash"])
    again = json.loads(loanchain(outbox_settings, "chain", "faucet", wallet, "--tokens", "1", "--eth", "0", "--json").stdout)
    assert again["token_balance"] == 251 * 10**6 and again["intent_key"] != report["intent_key"]  # a second mint


def test_the_faucet_tops_eth_up_and_never_lowers_it(outbox_settings, w3):
    """Anvil's accounts start with 10,000 ETH: the faucet's default 10 must not take 9,990 away."""
    rich = w3.eth.accounts[3]
    before = w3.eth.get_balance(rich)
    assert before > 10 * 10**18
    kept = json.loads(loanchain(outbox_settings, "chain", "faucet", rich, "--tokens", "0", "--json").stdout)
    assert kept["eth_balance_wei"] == w3.eth.get_balance(rich) == before
    poor = Account.create().address
    assert json.loads(loanchain(outbox_settings, "chain", "faucet", poor, "--tokens", "0", "--json").stdout)["eth_balance_wei"] == 10 * 10**18


def test_the_faucet_refuses_a_bad_address_and_any_chain_that_is_not_local(outbox_settings):
    bad = loanchain(outbox_settings, "chain", "faucet", "0x1234")
    assert bad.returncode != 0 and "not an Ethereum address" in bad.stderr
    mainnet = loanchain(outbox_settings, "chain", "faucet", Account.create().address, LOANCHAIN_CHAIN_ID="1")
    assert mainnet.returncode != 0 and "local chains only" in mainnet.stderr


def test_the_local_chains_clock_moves_forward_by_days_and_nowhere_else(tmp_path):
    """`loanchain chain advance DAYS`, for seeing due dates and deadlines pass on a local chain (an
    Anvil of its own: a shared chain's clock would move under other tests)."""
    from backend.chain.node import LocalNode, rpc_call
    from tests.conftest import free_port, make_settings

    port = free_port()
    settings = make_settings(tmp_path, chain_port=port, rpc_url=f"http://127.0.0.1:{port}")
    node = LocalNode(settings, kind="anvil")
    node.start()
    try:
        before = int(rpc_call(settings.rpc_url, "eth_getBlockByNumber", ["latest", False])["timestamp"], 16)
        moved = loanchain(settings, "chain", "advance", "31", "--json")
        assert moved.returncode == 0, moved.stderr
        assert json.loads(moved.stdout)["timestamp"] >= before + 31 * 86_400
        backwards = loanchain(settings, "chain", "advance", "--json", "--", "-1")
        assert backwards.returncode == 2  # a usage error: the clock only moves forward
        elsewhere = loanchain(settings, "chain", "advance", "1", LOANCHAIN_CHAIN_ID="1")
        assert elsewhere.returncode != 0 and "local chains only" in elsewhere.stderr
    finally:
        node.stop(hard=True)
