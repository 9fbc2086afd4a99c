"""Merkle trees in OpenZeppelin's StandardMerkleTree encoding, for one `bytes32` per leaf.

Byte-for-byte what `StandardMerkleTree.of(values, ["bytes32"])` from npm @openzeppelin/merkle-tree
builds, so an auditor can check our proofs with OZ's tooling, and `MerkleProof.verify` (used
by DocumentAnchor) accepts them:

- leaf = keccak256(keccak256(abi.encode(bytes32 docHash))). The double hash keeps a 64-byte
  inner node from ever being passed off as a leaf (second-preimage attack).
- leaves are sorted by their hash, then laid out in a flat array from the end
  (`tree[len - 1 - i] = leaf[i]`), with node i's children at 2i+1 and 2i+2;
- an inner node hashes its two children in sorted order, so a proof is just the siblings.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from eth_utils import keccak

from backend.errors import ValidationFailed

FORMAT = "standard-v1"
LEAF_ENCODING = ["bytes32"]


def to_bytes32(value: str | bytes) -> bytes:
    """A bytes32 given as 32 bytes or as 0x-prefixed hex; anything else is a ValidationFailed."""
    if isinstance(value, str):
        text = value[2:] if value[:2] in ("0x", "0X") else value
        try:
            raw = bytes.fromhex(text)
        except ValueError:
            raise ValidationFailed(f"not a hex bytes32: {value!r}") from None
    else:
        raw = bytes(value)
    if len(raw) != 32:
        raise ValidationFailed(f"a bytes32 has 32 bytes, got {len(raw)}")
    return raw


def hex32(value: bytes) -> str:
    return "0x" + value.hex()


def leaf_hash(doc_hash: str | bytes) -> bytes:
    # abi.encode of a single bytes32 is the 32 bytes themselves.
    return keccak(keccak(to_bytes32(doc_hash)))


def node_hash(a: bytes, b: bytes) -> bytes:
    return keccak(a + b) if a <= b else keccak(b + a)


def process_proof(leaf: str | bytes, proof: Sequence[str | bytes]) -> bytes:
    """The root `proof` leads to from `leaf` (OZ `MerkleProof.processProof`)."""
    computed = to_bytes32(leaf)
    for sibling in proof:
        computed = node_hash(computed, to_bytes32(sibling))
    return computed


def verify_proof(doc_hash: str | bytes, proof: Sequence[str | bytes], root: str | bytes) -> bool:
    return process_proof(leaf_hash(doc_hash), proof) == to_bytes32(root)


@dataclass(frozen=True)
class MerkleTree:
    tree: tuple[bytes, ...]  # the flat OZ layout; tree[0] is the root
    doc_hashes: tuple[bytes, ...]  # in the order given
    tree_index: tuple[int, ...]  # tree_index[i] = position of doc_hashes[i]'s leaf in `tree`

    @classmethod
    def of(cls, doc_hashes: Sequence[str | bytes]) -> MerkleTree:
        values = tuple(to_bytes32(h) for h in doc_hashes)
        if not values:
            raise ValidationFailed("a Merkle tree needs at least one leaf")
        if len(set(values)) != len(values):
            raise ValidationFailed("duplicate document hashes in one tree")
        leaves = sorted((leaf_hash(v), i) for i, v in enumerate(values))
        size = 2 * len(leaves) - 1
        tree: list[bytes] = [b""] * size
        index = [0] * len(values)
        for position, (leaf, value_index) in enumerate(leaves):
            tree[size - 1 - position] = leaf
            index[value_index] = size - 1 - position
        for i in range(size - 1 - len(leaves), -1, -1):
            tree[i] = node_hash(tree[2 * i + 1], tree[2 * i + 2])
        return cls(tuple(tree), values, tuple(index))

    @property
    def root(self) -> bytes:
        return self.tree[0]

    def proof(self, value_index: int) -> list[bytes]:
        """Sibling hashes from the leaf of `doc_hashes[value_index]` up to the root."""
        i = self.tree_index[value_index]
        proof = []
        while i > 0:
            proof.append(self.tree[i + 1 if i % 2 else i - 1])
            i = (i - 1) // 2
        return proof

    def dump(self) -> dict:
        """OZ's `StandardMerkleTree.dump()` format: `StandardMerkleTree.load()` reads it back."""
        return {
            "format": FORMAT,
            "leafEncoding": LEAF_ENCODING,
            "tree": [hex32(node) for node in self.tree],
            "values": [{"value": [hex32(v)], "treeIndex": i} for v, i in zip(self.doc_hashes, self.tree_index)],
        }
