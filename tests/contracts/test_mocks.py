"""The local-only mocks: MockStablecoin's faucet limit, MockERC1271Wallet's ERC-1271 answer and
MockBatchWallet's calls in one transaction."""

from __future__ import annotations

from web3 import Web3

from tests.contracts.helpers import batch_wallet, events, expect_revert, in_one_transaction


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


def test_batch_wallet_makes_its_owners_calls_in_one_transaction(world, artifacts, snapshot):
    owner, friend = world.investors[:2]
    wallet = batch_wallet(world, artifacts, owner)
    token = world.token
    world.chain.tx(token.functions.transfer(wallet.address, 301), owner.address)
    receipt = world.chain.tx(in_one_transaction(wallet, token.functions.transfer(friend.address, 100),
                                                token.functions.transfer(owner.address, 200)), owner.address)  # fmt: skip
    moved = events(receipt, token, "Transfer")
    assert [(m["to"], m["value"]) for m in moved] == [(friend.address, 100), (owner.address, 200)]
    assert wallet.functions.supportsInterface("0x4e2312e0").call()  # ERC1155Receiver: it can hold notes
    expect_revert(world.chain, in_one_transaction(wallet, token.functions.transfer(friend.address, 1)), friend.address,
                  "MockBatchWalletNotOwner", friend.address)  # fmt: skip
    mismatched = wallet.functions.executeBatch([token.address], [])
    expect_revert(world.chain, mismatched, owner.address, "MockBatchWalletLengthMismatch", 1, 0)
    # a call that reverts reverts the whole batch, with its own error: the first call's token is still there
    expect_revert(world.chain, in_one_transaction(wallet, token.functions.transfer(friend.address, 1),
                                                  token.functions.transfer(friend.address, 10**30)),
                  owner.address, "ERC20InsufficientBalance", wallet.address, 0, 10**30)  # fmt: skip
    assert world.balance(wallet.address) == 1
