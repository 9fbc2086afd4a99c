from conftest import assert_reverts_with
from eth_utils import keccak


def leaf(doc_hash: bytes) -> bytes:
    # OpenZeppelin StandardMerkleTree leaf: keccak256(bytes.concat(keccak256(abi.encode(value))))
    return keccak(keccak(doc_hash.rjust(32, b"\0")))


def node(a: bytes, b: bytes) -> bytes:
    return keccak(min(a, b) + max(a, b))


def test_anchor_records_first_block_and_is_idempotent(anchor, admin, chain):
    root = keccak(b"root")
    tx = anchor.anchor(root, 3, "ipfs://batch", {"from": admin})
    assert tx.events["Anchored"]["root"] == "0x" + root.hex()
    block, ts = anchor.anchoredAt(root)
    assert block == tx.block_number and ts == tx.timestamp
    chain.sleep(100)
    tx2 = anchor.anchor(root, 3, "ipfs://batch", {"from": admin})
    assert "Anchored" not in tx2.events
    assert anchor.anchoredAt(root) == (block, ts)


def test_only_anchorer_may_anchor(anchor, accounts):
    assert_reverts_with(
        "AccessControlUnauthorizedAccount(address,bytes32)", anchor.anchor, keccak(b"x"), 1, "", {"from": accounts[5]}
    )
    assert [int(v) for v in anchor.anchoredAt(keccak(b"x"))] == [0, 0]


def test_empty_root_and_empty_batch_revert(anchor, admin):
    assert_reverts_with("DocumentAnchorEmptyRoot(uint32)", anchor.anchor, b"\0" * 32, 1, "", {"from": admin})
    assert_reverts_with("DocumentAnchorEmptyBatch(bytes32)", anchor.anchor, keccak(b"r"), 0, "", {"from": admin})


def test_verify_inclusion_with_sorted_pairs(anchor, admin):
    leaves = [leaf(keccak(text=f"doc{i}")) for i in range(4)]
    n01, n23 = node(leaves[0], leaves[1]), node(leaves[2], leaves[3])
    root = node(n01, n23)
    anchor.anchor(root, 4, "", {"from": admin})
    assert anchor.verify(leaves[2], [leaves[3], n01], root)
    assert not anchor.verify(leaves[2], [leaves[1], n01], root)
    included, block, _ = anchor.verifyAnchored(leaves[0], [leaves[1], n23], root)
    assert included and block > 0
