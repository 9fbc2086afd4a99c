// Regenerates oz_standard_merkle_tree.json, the reference vectors test_merkle.py checks against.
// Needs @openzeppelin/merkle-tree, which loanchain does not depend on; run it in a scratch dir:
//   npm install @openzeppelin/merkle-tree@1.0.8 && node make_oz_vectors.js > oz_standard_merkle_tree.json
const { StandardMerkleTree } = require('@openzeppelin/merkle-tree');
const { keccak256 } = require('ethereum-cryptography/keccak');
const { utf8ToBytes, bytesToHex } = require('ethereum-cryptography/utils');

const hash = (s) => '0x' + bytesToHex(keccak256(utf8ToBytes(s)));
const vectors = [1, 2, 3, 4, 5, 7, 8, 13].map((n) => {
  const values = [...Array(n).keys()].map((i) => [hash(`loanchain-doc-${i}`)]);
  const tree = StandardMerkleTree.of(values, ['bytes32']);
  const dump = tree.dump();
  return {
    docHashes: values.map((v) => v[0]),
    root: tree.root,
    proofs: values.map((_, i) => tree.getProof(i)),
    tree: dump.tree,
    treeIndex: dump.values.map((e) => e.treeIndex),
  };
});
const generator =
  '@openzeppelin/merkle-tree 1.0.8 StandardMerkleTree.of(values, ["bytes32"]); docHashes[i] = keccak256("loanchain-doc-<i>")';
process.stdout.write(JSON.stringify({ generator, vectors }) + '\n');
