"""The local-only mocks: MockStablecoin's faucet limit and MockERC1271Wallet's ERC-1271 answer."""

from __future__ import annotations

from web3 import Web3

from tests.contracts.helpers import expect_revert


def test_stablecoin_faucet(world, snapshot):
    token = world.token
    assert token.functions.decimals().call() == 6
    limit = token.functions.FAUCET_LIMIT().call()
    before = world.balance(world.outsider)
    world.chain.tx(token.functions.faucet(world.outsider.address, limit), world.outsider.address)
    assert world.balance(world.outsider) == before + limit
    expect_revert(world.chain, token.functions.faucet(world.outsider.address, limit + 1), world.outsider.address,
                  "MockStablecoinFaucetLimit", limit + 1, limit)  # fmt: skip


def test_wallet_answers_erc1271(world):
    wallet = world.wallet
    digest = Web3.keccak(text="anything")
    good = world.borrower.unsafe_sign_hash(digest).signature
    bad = world.investors[0].unsafe_sign_hash(digest).signature
    assert wallet.functions.owner().call() == world.borrower.address
    assert wallet.functions.isValidSignature(digest, good).call() == bytes.fromhex("1626ba7e")
    assert wallet.functions.isValidSignature(digest, bad).call() == b"\0" * 4
    assert wallet.functions.isValidSignature(digest, b"\x01" * 10).call() == b"\0" * 4
    assert wallet.functions.supportsInterface("0x4e2312e0").call()  # ERC1155Receiver
