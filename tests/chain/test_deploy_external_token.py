"""Off a local chain MockStablecoin is not deployed: the loans are in the ERC-20 that
LOANCHAIN_LOAN_TOKEN_ADDRESS names. An Anvil started with Sepolia's chain id stands in for the
testnet (the deployer key then comes from a keystore, as there)."""

from __future__ import annotations

import json

import pytest
from eth_account import Account
from web3 import Web3

from backend.chain.compiler import load_artifact
from backend.chain.deploy import deploy_all, load_manifest
from backend.chain.node import LocalNode
from backend.chain.signers import dev_account
from backend.errors import DeploymentError
from tests.conftest import free_port, make_settings

SEPOLIA = 11155111


@pytest.fixture
def testnet(tmp_path, artifacts):
    port = free_port()
    keystore, password = tmp_path / "deployer.json", tmp_path / "deployer.pass"
    password.write_text("not-a-secret")  # Anvil's public dev key 0, on this local node only
    keystore.write_text(json.dumps(Account.encrypt(dev_account(0).key, "not-a-secret")))
    settings = make_settings(tmp_path, chain_port=port, rpc_url=f"http://127.0.0.1:{port}", chain_id=SEPOLIA,
                             deployer_keystore=keystore, deployer_password_file=password)  # fmt: skip
    node = LocalNode(settings, kind="anvil")
    node.start()
    yield settings
    node.stop(hard=True)


def _a_token(settings) -> str:
    """An ERC-20 already on the chain, as a real stablecoin would be."""
    w3, deployer = Web3(Web3.HTTPProvider(settings.rpc_url)), dev_account(0)
    art = load_artifact(settings, "MockStablecoin")
    tx = w3.eth.contract(abi=art["abi"], bytecode=art["bytecode"]).constructor().build_transaction(
        {"from": deployer.address, "nonce": w3.eth.get_transaction_count(deployer.address)})  # fmt: skip
    raw = deployer.sign_transaction(tx).raw_transaction
    return w3.eth.wait_for_transaction_receipt(w3.eth.send_raw_transaction(raw))["contractAddress"]


def test_a_testnet_deploy_uses_the_configured_token_and_refuses_without_one(testnet):
    with pytest.raises(DeploymentError, match="LOANCHAIN_LOAN_TOKEN_ADDRESS"):
        deploy_all(testnet)
    with pytest.raises(DeploymentError, match="not an address"):
        deploy_all(testnet.model_copy(update={"loan_token_address": "0x1234"}))
    with pytest.raises(DeploymentError, match="no contract at"):
        deploy_all(testnet.model_copy(update={"loan_token_address": "0x" + "11" * 20}))

    token = _a_token(testnet)
    report = deploy_all(testnet.model_copy(update={"loan_token_address": token.lower()}))
    assert "MockStablecoin" not in load_manifest(testnet, SEPOLIA)["contracts"]
    book = report.manifest["contracts"]["LoanBook"]["address"]
    w3 = Web3(Web3.HTTPProvider(testnet.rpc_url))
    asset = w3.eth.contract(address=book, abi=load_artifact(testnet, "LoanBook")["abi"]).functions.asset().call()
    assert asset == token
