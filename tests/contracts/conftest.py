"""Fixtures for the contract suite: the session Anvil deployment with its actors set up once
(KYC attestations, tokens, approvals, a seeded reserve), and a Ganache deployment for the
end-to-end test."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from web3 import Web3

from backend.chain.node import LocalNode
from backend.chain.signers import dev_account
from tests.conftest import free_port, make_settings
from tests.contracts.helpers import KYC_EXPIRY, MAX_UINT, Chain, World

RESERVE_SEED = 50_000 * 10**6
INVESTOR_FUNDS = 1_000_000 * 10**6


def _contracts(w3: Web3, manifest: dict, artifacts: dict) -> dict:
    return {
        name: w3.eth.contract(address=entry["address"], abi=artifacts[name]["abi"])
        for name, entry in manifest["contracts"].items()
    }


def build_world(chain: Chain, contracts: dict, artifacts: dict) -> World:
    contracts = _contracts(chain.w3, {"contracts": {n: {"address": c.address} for n, c in contracts.items()}},
                           artifacts)  # fmt: skip
    """Verify, fund and approve the actors; seed the reserve. Idempotent enough to run once per
    chain (it is a session fixture)."""
    accounts = [dev_account(i) for i in range(10)]
    admin = accounts[0]
    token, kyc, book, reserve = (contracts[n] for n in ("MockStablecoin", "KYCRegistry", "LoanBook", "ReserveFund"))
    world = World(
        chain=chain,
        token=token,
        kyc=kyc,
        reserve=reserve,
        book=book,
        anchor=contracts["DocumentAnchor"],
        market=contracts.get("NoteMarket"),
        agent=contracts.get("RepaymentAgent"),
        funding_agent=contracts.get("FundingAgent"),
        admin=admin,
        underwriter=accounts[1],
        borrower=accounts[2],
        investors=accounts[3:9],
        outsider=accounts[9],
        chain_id=chain.w3.eth.chain_id,
    )
    world.borrower_level, world.investor_level = chain.read(
        [book.functions.borrowerKycLevel(), book.functions.investorKycLevel()]
    )
    # The borrower (account 2) holds the borrowers' level, enough to invest too; investors the
    # investors' level.
    for i, acct in enumerate(accounts[2:9], start=2):
        commitment = Web3.keccak(text=f"kyc-record-{i}")
        level = max(world.borrower_level, world.investor_level) if i == 2 else world.investor_level
        chain.tx(kyc.functions.attest(acct.address, level, KYC_EXPIRY, commitment), admin.address)
        chain.tx(token.functions.faucet(acct.address, INVESTOR_FUNDS), admin.address)
        chain.tx(token.functions.approve(book.address, MAX_UINT), acct.address)
    chain.tx(token.functions.faucet(accounts[9].address, INVESTOR_FUNDS), admin.address)
    chain.tx(token.functions.approve(book.address, MAX_UINT), accounts[9].address)
    chain.tx(token.functions.faucet(admin.address, INVESTOR_FUNDS), admin.address)
    chain.tx(token.functions.approve(book.address, MAX_UINT), admin.address)
    chain.tx(token.functions.approve(reserve.address, MAX_UINT), admin.address)
    chain.tx(reserve.functions.deposit(RESERVE_SEED), admin.address)
    # A smart-contract wallet owned by the borrower's key, verified like any wallet.
    wallet_art = artifacts["MockERC1271Wallet"]
    factory = chain.w3.eth.contract(abi=wallet_art["abi"], bytecode=wallet_art["bytecode"])
    receipt = chain.tx(factory.constructor(world.borrower.address), admin.address)
    world.wallet = chain.w3.eth.contract(address=receipt["contractAddress"], abi=wallet_art["abi"])
    wallet_level = max(world.borrower_level, world.investor_level)
    chain.tx(kyc.functions.attest(world.wallet.address, wallet_level, KYC_EXPIRY, Web3.keccak(text="kyc-wallet")),
             admin.address)  # fmt: skip
    return world


def lean_web3(url: str) -> Web3:
    """web3 without its default middleware (whose validation asks the node for the chain id on
    every call): the raw speed the property tests need."""
    return Web3(Web3.HTTPProvider(url, request_kwargs={"timeout": 60}), middleware=[])


@pytest.fixture(scope="session")
def chain(anvil, chain_settings) -> Chain:
    return Chain(lean_web3(chain_settings.rpc_url), chain_settings, kind="anvil")


@pytest.fixture(scope="session")
def world(chain, contracts, artifacts) -> World:
    return build_world(chain, contracts, artifacts)


# --- Ganache ------------------------------------------------------------------------------------


@pytest.fixture(scope="session")
def ganache_world(tmp_path_factory, artifacts) -> Iterator[World]:
    """A separate Ganache 7 node (shanghai) with the full deployment and the same actors."""
    from backend.chain.deploy import deploy_all

    base = tmp_path_factory.mktemp("ganache")
    port = free_port()
    settings = make_settings(base, chain_node="ganache", chain_port=port, rpc_url=f"http://127.0.0.1:{port}")
    node = LocalNode(settings, kind="ganache", port=port, workdir=base / "node")
    node.start(timeout=120)
    try:
        report = deploy_all(settings)
        w3 = lean_web3(settings.rpc_url)
        chain = Chain(w3, settings, kind="ganache")
        yield build_world(chain, _contracts(w3, report.manifest, artifacts), artifacts)
    finally:
        node.stop()


@pytest.fixture(params=["anvil", pytest.param("ganache", marks=pytest.mark.ganache)])
def any_world(request) -> Iterator[World]:
    """The e2e tests run once on Anvil and once on Ganache, each reverted afterwards."""
    world = request.getfixturevalue("world" if request.param == "anvil" else "ganache_world")
    snap = world.chain.snapshot()
    yield world
    world.chain.revert(snap)
