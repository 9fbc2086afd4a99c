"""The Merkle tree against OpenZeppelin's own implementation and against DocumentAnchor.verify."""

import json
from pathlib import Path

import pytest
from eth_utils import keccak

from backend.anchoring.merkle import MerkleTree, hex32, leaf_hash, process_proof, verify_proof
from backend.errors import ValidationFailed

# Produced by npm @openzeppelin/merkle-tree (see data/make_oz_vectors.js).
VECTORS = json.loads((Path(__file__).parent / "data" / "oz_standard_merkle_tree.json").read_text())["vectors"]


@pytest.mark.parametrize("vector", VECTORS, ids=lambda v: f"{len(v['docHashes'])}-leaves")
def test_matches_openzeppelin_standard_merkle_tree(vector):
    tree = MerkleTree.of(vector["docHashes"])
    assert hex32(tree.root) == vector["root"]
    assert [hex32(node) for node in tree.tree] == vector["tree"]
    assert list(tree.tree_index) == vector["treeIndex"]
    for i, doc_hash in enumerate(vector["docHashes"]):
        assert [hex32(p) for p in tree.proof(i)] == vector["proofs"][i]
        assert verify_proof(doc_hash, vector["proofs"][i], vector["root"])


def test_dump_has_openzeppelin_shape():
    vector = VECTORS[4]
    dump = MerkleTree.of(vector["docHashes"]).dump()
    assert dump["format"] == "standard-v1" and dump["leafEncoding"] == ["bytes32"]
    assert dump["tree"] == vector["tree"]
    assert [v["value"][0] for v in dump["values"]] == vector["docHashes"]


def test_a_single_document_is_its_own_root():
    doc = keccak(b"only one")
    tree = MerkleTree.of([doc])
    assert tree.root == leaf_hash(doc) and tree.proof(0) == []


def test_a_wrong_proof_or_document_does_not_verify():
    docs = [keccak(bytes([i])) for i in range(5)]
    tree = MerkleTree.of(docs)
    proof = tree.proof(2)
    assert verify_proof(docs[2], proof, tree.root)
    assert not verify_proof(docs[3], proof, tree.root)
    assert not verify_proof(docs[2], proof[:-1], tree.root)
    assert process_proof(leaf_hash(docs[2]), proof[::-1]) != tree.root


@pytest.mark.parametrize("bad", [[], ["0x1234"], ["zz" * 32]])
def test_rejects_empty_or_malformed_input(bad):
    with pytest.raises(ValidationFailed):
        MerkleTree.of(bad)


def test_rejects_duplicates():
    with pytest.raises(ValidationFailed):
        MerkleTree.of([keccak(b"x"), keccak(b"x")])


@pytest.mark.parametrize("size", [1, 2, 3, 6, 9])
def test_proofs_verify_on_chain(contracts, size):
    """DocumentAnchor.verify (OZ MerkleProof) accepts every proof, and rejects a wrong leaf."""
    anchor = contracts["DocumentAnchor"]
    docs = [keccak(f"chain-{size}-{i}".encode()) for i in range(size)]
    tree = MerkleTree.of(docs)
    for i, doc in enumerate(docs):
        assert anchor.functions.verify(leaf_hash(doc), tree.proof(i), tree.root).call()
    assert not anchor.functions.verify(leaf_hash(keccak(b"other")), tree.proof(0), tree.root).call()
