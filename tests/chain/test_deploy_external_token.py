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


# Runtime code answering every call with the word 18: `decimals()` of an 18-decimal token (DAI, USDS).
# MockStablecoin's decimals are fixed at 6, so the node is given this code at an address instead.
EIGHTEEN_DECIMALS = "0x" + "6012" + "600052" + "6020" + "6000" + "f3"  # PUSH1 18, MSTORE at 0, RETURN 32 bytes


def test_a_token_with_more_decimals_than_a_browser_keeps_exact_is_refused_before_anything_deploys(testnet):
    w3 = Web3(Web3.HTTPProvider(testnet.rpc_url))
    token = "0x" + "18" * 20
    w3.provider.make_request("anvil_setCode", [token, EIGHTEEN_DECIMALS])
    assert w3.eth.contract(address=Web3.to_checksum_address(token), abi=load_artifact(testnet, "MockStablecoin")["abi"]
                           ).functions.decimals().call() == 18  # fmt: skip
    with pytest.raises(DeploymentError, match="18 decimals; at most 8") as refused:
        deploy_all(testnet.model_copy(update={"loan_token_address": token}))
    assert "LOANCHAIN_LOAN_TOKEN_ADDRESS" in str(refused.value) and "USDC" in str(refused.value)
    assert load_manifest(testnet, SEPOLIA)["contracts"] == {}  # refused before the first contract


def test_the_decimals_bound_keeps_the_largest_loan_exact_in_javascript():
    from backend.chain.token_decimals import JS_SAFE_INTEGER, MAX_ASSET_DECIMALS, decimals_refused
    from backend.scoring.policy import MAX_AMOUNT

    assert MAX_AMOUNT * 10**MAX_ASSET_DECIMALS <= JS_SAFE_INTEGER  # one loan, in base units
    assert 50_000_000 * 10**MAX_ASSET_DECIMALS <= JS_SAFE_INTEGER  # and a platform's sums short of 90 million tokens
    assert all(decimals_refused(d) is None for d in (0, 2, 6, 8))
    assert "at most 8" in decimals_refused(18) and decimals_refused(9)


def test_a_loan_book_made_in_such_a_token_earlier_is_refused_where_offers_read_it(chain_settings, deployment, w3, snapshot):
    """A deployment from before the check: the API's read of LoanBook's domain (offers, signatures)
    refuses it in words rather than price loans the page cannot show."""
    from backend.chain.loan_book import loan_book_domain
    from backend.errors import ConfigurationError

    assert loan_book_domain(chain_settings).asset_decimals == 6
    token = deployment.manifest["contracts"]["MockStablecoin"]["address"]
    w3.provider.make_request("anvil_setCode", [token, EIGHTEEN_DECIMALS])  # undone by `snapshot`
    with pytest.raises(ConfigurationError, match="18 decimals; at most 8"):
        loan_book_domain(chain_settings)


def test_off_a_local_chain_the_configured_tokens_transfers_out_of_borrower_wallets_are_indexed(testnet, artifacts, tmp_path):
    """The loan token is no platform contract here (not in the manifest's contracts): its transfers
    are followed as LoanBook's token, by the wallets it disbursed to, all the same."""
    from sqlalchemy import select

    from backend.audit.monitoring import alerts
    from backend.chain.index_check import verify_index
    from backend.chain.indexer import Indexer
    from backend.chain.projection_models import TokenTransferRow
    from backend.db.session import session_scope
    from tests.chain.conftest import with_db
    from tests.contracts.conftest import build_world
    from tests.contracts.helpers import KYC_EXPIRY, Chain

    token = _a_token(testnet)
    settings = with_db(testnet.model_copy(update={"loan_token_address": token}), f"sqlite:///{tmp_path / 'index.db'}")
    manifest = deploy_all(settings).manifest
    assert token not in {entry["address"] for entry in manifest["contracts"].values()}
    w3 = Web3(Web3.HTTPProvider(settings.rpc_url, request_kwargs={"timeout": 60}))
    contracts = {n: w3.eth.contract(address=e["address"], abi=artifacts[n]["abi"]) for n, e in manifest["contracts"].items()}
    contracts["MockStablecoin"] = w3.eth.contract(address=token, abi=artifacts["MockStablecoin"]["abi"])
    world = build_world(Chain(w3, settings), contracts, artifacts)
    second, funders = world.investors[0], world.investors[2:5]
    world.chain.tx(world.kyc.functions.attest(second.address, world.borrower_level, KYC_EXPIRY, Web3.keccak(text="b2")),
                   world.admin.address)  # fmt: skip
    mule = Web3.to_checksum_address("0x" + "ab" * 20)
    sent = []
    for borrower in (world.borrower, second):
        # Off a local chain the keystore deployer holds every role, the underwriter's too.
        world.active_loan(borrower=borrower.address, borrower_key=borrower, underwriter_key=world.admin, investors=funders)
        sent.append(world.chain.tx(world.token.functions.transfer(mule, 7_000 * 10**6), borrower.address))

    Indexer().catch_up(settings)
    with session_scope(settings) as session:
        rows = session.scalars(select(TokenTransferRow).order_by(TokenTransferRow.block_number)).all()
        assert [(r.sender, r.recipient, r.tx_hash) for r in rows] == [
            (b.address, mule, receipt["transactionHash"].to_0x_hex()) for b, receipt in zip((world.borrower, second), sent)]
        (flagged,) = alerts(session, settings, rule="collection_wallet")  # no KYC records: each wallet a person
    assert flagged.wallets == [mule, second.address, world.borrower.address]
    assert verify_index(settings).ok


def test_off_a_local_chain_a_contract_is_replaced_only_when_named_and_nothing_is_sent_before(testnet):
    """A release that edits LoanBook would otherwise redeploy it at the next `loanchain deploy`: the loans on
    the old book, no longer followed, would go unserviced and uncounted by erasure's guards."""
    from backend.chain import deploy_plan
    from backend.chain.deploy import DeployContext, manifest_path, replacements

    settings = testnet.model_copy(update={"loan_token_address": _a_token(testnet)})
    deploy_all(settings)
    path = manifest_path(settings, SEPOLIA)
    manifest = json.loads(path.read_text())
    book = manifest["contracts"]["LoanBook"]["address"]
    manifest["contracts"]["LoanBook"]["fingerprint"] = "an edited LoanBook's"
    path.write_text(json.dumps(manifest))
    w3 = Web3(Web3.HTTPProvider(settings.rpc_url))
    sent = w3.eth.get_transaction_count(dev_account(0).address)

    with pytest.raises(DeploymentError, match=r"refused, nothing sent: this deploy would replace LoanBook \(bytecode "
                                              r"or constructor arguments changed\) on chain 11155111") as refused:
        deploy_all(settings)
    assert "`loanchain deploy --replace LoanBook`" in refused.value.message
    assert w3.eth.get_transaction_count(dev_account(0).address) == sent
    assert json.loads(path.read_text())["contracts"]["LoanBook"]["address"] == book
    with pytest.raises(DeploymentError, match="--replace LoanBok: no such contract"):
        deploy_all(settings, replace=["LoanBok"])

    planned = replacements(DeployContext(settings, w3, dev_account(0)), deploy_plan.CONTRACTS, json.loads(path.read_text()))
    assert planned["LoanBook"] == "bytecode or constructor arguments changed"
    assert all(why.startswith("follows ") for name, why in planned.items() if name != "LoanBook"), planned
    report = deploy_all(settings, replace=["LoanBook"])  # named: it and what follows it
    assert sorted(report.deployed) == sorted(planned)
    assert json.loads(path.read_text())["contracts"]["LoanBook"]["address"] != book
