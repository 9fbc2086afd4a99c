"""Public shapes of anchoring data (API responses, CLI --json, proof files)."""

from __future__ import annotations

import re
from datetime import datetime
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

Status = Literal["verified", "pending", "unknown", "tampered"]
HEX32 = re.compile(r"^0x[0-9a-f]{64}$")
PROOF_FORMAT = "loanchain-proof-v1"


def _hex32(value: str) -> str:
    value = value.lower() if isinstance(value, str) else value
    if not isinstance(value, str) or not HEX32.fullmatch(value):  # match's `$` lets a trailing newline through
        raise ValueError("must be a 0x-prefixed 32-byte hex string")
    return value


class DocumentPublic(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    doc_hash: str
    cid: str | None
    size: int
    kind: str
    batch_id: int | None
    created_at: datetime


class BatchPublic(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    root: str
    count: int
    uri: str
    manifest_cid: str
    status: str
    tx_hash: str | None
    block_number: int | None
    anchored_at: datetime | None
    error: str | None
    created_at: datetime


class VerificationPublic(BaseModel):
    """The outcome of verifying one document.

    verified: its hash is under a root anchored on-chain (block, time, tx, root, proof below);
    pending: recorded and queued or in a batch not yet on-chain; unknown: never anchored here;
    tampered: bytes or records differ from what was anchored (`reason` says which).
    """

    status: Status
    reason: str
    doc_hash: str | None = None
    cid: str | None = None
    document_id: int | None = None
    batch_id: int | None = None
    leaf: str | None = None
    proof: list[str] | None = None
    root: str | None = None
    uri: str | None = None
    block_number: int | None = None
    timestamp: datetime | None = None
    tx_hash: str | None = None
    contract: str | None = None
    chain_id: int | None = None
    anchorer: str | None = Field(default=None, description="Who anchored the root: an account holding ANCHORER_ROLE")
    checked_against: str | None = Field(
        default=None, description="Which DocumentAnchor (and from where) and which anchorer the verdict relied on"
    )
    confirmations: int | None = Field(
        default=None, description="Blocks from the anchor's to the node's latest (1: just mined); a verdict read at "
        "the latest block, which a reorganisation of the chain could still undo while this is low",
    )  # fmt: skip


class ProofFile(BaseModel):
    """Everything needed to verify a document with only the file, this JSON and a node."""

    model_config = ConfigDict(extra="ignore")

    format: Literal["loanchain-proof-v1"] = PROOF_FORMAT
    doc_hash: str = Field(description="keccak256 of the document's bytes")
    leaf: str = Field(description="keccak256(keccak256(abi.encode(doc_hash))), OZ StandardMerkleTree")
    proof: list[str] = Field(description="sibling hashes from the leaf up to the root")
    root: str
    contract: str = Field(description="DocumentAnchor address; the verifier requires the platform's, not this one")
    chain_id: int
    cid: str | None = None
    uri: str | None = Field(default=None, description="ipfs://<cid> of the batch manifest")
    tx_hash: str | None = None
    block_number: int | None = None

    @field_validator("doc_hash", "leaf", "root")
    @classmethod
    def _check_hash(cls, value: str) -> str:
        return _hex32(value)

    @field_validator("proof")
    @classmethod
    def _check_proof(cls, value: list[str]) -> list[str]:
        return [_hex32(v) for v in value]

    @field_validator("contract")
    @classmethod
    def _check_address(cls, value: str) -> str:
        if not re.fullmatch(r"0x[0-9a-fA-F]{40}", value):
            raise ValueError("must be a 0x-prefixed 20-byte address")
        return value
