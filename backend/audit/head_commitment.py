"""How an audit-head checkpoint names itself on-chain, so the chain alone says which anchors are
audit heads (no checkpoint rows, no batch manifests needed to find and check them).

Each checkpoint is anchored as its own single-leaf batch (one `DocumentAnchor.anchor` call):

- digest = keccak256("loanchain.audit-head.v1" ‖ uint256(seq) ‖ bytes32(entry_hash)), the domain
  prefix keeping it apart from any document hash and from the raw entry hash;
- root   = the OZ StandardMerkleTree root of that one leaf: keccak256(keccak256(digest));
- uri    = "loanchain:audit-head:v1:<seq>:<entry_hash>".

An auditor reads every `Anchored` event, takes those whose uri has that prefix, recomputes the
root from the uri's seq and hash (a uri the root does not commit to is a forgery), and compares
the hash with the log's own entry at that seq.
"""

from __future__ import annotations

import re

from eth_utils import keccak

from backend.anchoring.merkle import MerkleTree, hex32, to_bytes32

DOMAIN = b"loanchain.audit-head.v1"
URI_PREFIX = "loanchain:audit-head:v1:"
_URI = re.compile(r"^loanchain:audit-head:v1:([1-9][0-9]{0,17}):(0x[0-9a-f]{64})$")


def head_digest(seq: int, entry_hash: str) -> str:
    """The document hash an audit head is anchored under."""
    return hex32(keccak(DOMAIN + seq.to_bytes(32, "big") + to_bytes32(entry_hash)))


def head_root(seq: int, entry_hash: str) -> str:
    return hex32(MerkleTree.of([head_digest(seq, entry_hash)]).root)


def head_uri(seq: int, entry_hash: str) -> str:
    return f"{URI_PREFIX}{seq}:{entry_hash.lower()}"


def is_head_uri(uri: str) -> bool:
    return uri.startswith(URI_PREFIX)


def parse_head_uri(uri: str) -> tuple[int, str] | None:
    """(seq, entry_hash) named by an audit-head uri; None when it is not a well-formed one."""
    match = _URI.match(uri)
    return (int(match.group(1)), match.group(2)) if match else None
