"""DocumentAnchor through web3: anchoring, idempotency, roles, OZ StandardMerkleTree proofs."""

from __future__ import annotations

from eth_abi import encode
from web3 import Web3

from tests.contracts.helpers import events, expect_revert


def leaf(doc_hash: bytes) -> bytes:
    """OZ StandardMerkleTree leaf of a bytes32 value: keccak(keccak(abi.encode(value)))."""
    return Web3.keccak(Web3.keccak(encode(["bytes32"], [doc_hash])))


def node(a: bytes, b: bytes) -> bytes:
    return Web3.keccak(min(a, b) + max(a, b))


def test_anchor_once_then_idempotent(world, snapshot):
    anchor, admin = world.anchor, world.admin.address
    root = Web3.keccak(text="root")
    receipt = world.chain.tx(anchor.functions.anchor(root, 3, "ipfs://bafy"), admin)
    assert events(receipt, anchor, "Anchored") == [{"root": root, "count": 3, "uri": "ipfs://bafy", "anchorer": admin}]
    block = receipt["blockNumber"]
    ts = world.w3.eth.get_block(block)["timestamp"]
    assert anchor.functions.anchoredAt(root).call() == [block, ts]
    receipt = world.chain.tx(anchor.functions.anchor(root, 5, "ipfs://other"), admin, at=ts + 100)
    assert events(receipt, anchor, "Anchored") == []
    assert anchor.functions.anchoredAt(root).call() == [block, ts]  # the first anchor stays


def test_anchor_reverts(world):
    anchor, admin = world.anchor, world.admin.address
    expect_revert(world.chain, anchor.functions.anchor(b"\0" * 32, 1, ""), admin, "DocumentAnchorEmptyRoot", 1)
    expect_revert(world.chain, anchor.functions.anchor(b"\1" * 32, 0, ""), admin, "DocumentAnchorEmptyBatch",
                  b"\1" * 32)  # fmt: skip
    role = anchor.functions.ANCHORER_ROLE().call()
    stranger = world.outsider.address
    expect_revert(world.chain, anchor.functions.anchor(b"\1" * 32, 1, ""), stranger,
                  "AccessControlUnauthorizedAccount", stranger, role)  # fmt: skip


def test_verify_and_verify_anchored(world, snapshot):
    anchor = world.anchor
    leaves = [leaf(Web3.keccak(text=f"doc-{i}")) for i in range(3)]
    n01 = node(leaves[0], leaves[1])
    root = node(n01, leaves[2])
    assert anchor.functions.verify(leaves[0], [leaves[1], leaves[2]], root).call()
    assert anchor.functions.verify(leaves[2], [n01], root).call()
    assert not anchor.functions.verify(leaves[2], [leaves[0]], root).call()
    assert anchor.functions.verifyAnchored(leaves[2], [n01], root).call() == [False, 0, 0]
    receipt = world.chain.tx(anchor.functions.anchor(root, 3, ""), world.admin.address)
    included, block, _ = anchor.functions.verifyAnchored(leaves[2], [n01], root).call()
    assert included and block == receipt["blockNumber"]


def test_constructor_rejects_zero_admin(world, artifacts):
    """Like every other contract's: a zero admin would leave no one able to anchor."""
    art = artifacts["DocumentAnchor"]
    factory = world.w3.eth.contract(abi=art["abi"], bytecode=art["bytecode"])
    expect_revert(world.chain, factory.constructor("0x" + "00" * 20), world.admin.address, "DocumentAnchorZeroAddress")
