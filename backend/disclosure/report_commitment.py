"""How a month's disclosure report is bound to its month on chain, so the chain alone says which
report was published first for a period (a `disclosure_reports` row only says what the database
holds now). Like an audit head (backend/audit/head_commitment.py), each binding is anchored as its
own single-leaf batch, beside the report's own hash (which `verify?cid=` proves as any document):

- digest = keccak256("loanchain.disclosure-report.v1" ‖ period, 7 ASCII bytes ‖ bytes32(doc_hash));
- root   = the OZ StandardMerkleTree root of that one leaf: keccak256(keccak256(digest));
- uri    = "loanchain:disclosure-report:v1:<period>:<doc_hash>".

A verifier reads every `Anchored` event, takes those whose uri names the period, recomputes the
root from the uri (a uri its root does not commit to is a forgery) and holds the report against the
first. DocumentAnchor refuses a root twice, so a period can be bound to a second report only by a
second anchor, which the chain then shows.
"""

from __future__ import annotations

import re

from eth_utils import keccak
from sqlalchemy.orm import Session

from backend.anchoring.documents import queue_hash
from backend.anchoring.merkle import MerkleTree, hex32, to_bytes32
from backend.anchoring.models import KIND_DISCLOSURE_REPORT, Document

DOMAIN = b"loanchain.disclosure-report.v1"
URI_PREFIX = "loanchain:disclosure-report:v1:"
_URI = re.compile(r"^loanchain:disclosure-report:v1:(\d{4}-(?:0[1-9]|1[0-2])):(0x[0-9a-f]{64})$")


def report_digest(period: str, doc_hash: str) -> str:
    return hex32(keccak(DOMAIN + period.encode("ascii") + to_bytes32(doc_hash)))


def report_root(period: str, doc_hash: str) -> str:
    return hex32(MerkleTree.of([report_digest(period, doc_hash)]).root)


def report_uri(period: str, doc_hash: str) -> str:
    return f"{URI_PREFIX}{period}:{doc_hash.lower()}"


def parse_report_uri(uri: str) -> tuple[str, str] | None:
    """(period, doc_hash) named by a report uri; None when it is not a well-formed one."""
    match = _URI.match(uri)
    return (match.group(1), match.group(2)) if match else None


def commit_report(session: Session, period: str, doc_hash: str) -> Document:
    """Queue the binding of `period` to the report hashing to `doc_hash` (idempotent)."""
    document, _ = queue_hash(session, report_digest(period, doc_hash), kind=KIND_DISCLOSURE_REPORT,
                             anchor_uri=report_uri(period, doc_hash))  # fmt: skip
    return document
