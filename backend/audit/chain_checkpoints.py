"""Audit checkpoints read from the chain, not the database, so deleting the checkpoint rows (or
the batch manifests) hides nothing: the chain still says which head was anchored when.

- An Anchored event whose uri names an audit head (backend/audit/head_commitment.py) is a
  checkpoint on its own, once its root is recomputed from that uri.
- A batch anchored under an `ipfs://` manifest may list heads in it (how heads were anchored
  before they went alone). Such a manifest that cannot be fetched, or does not hash to its root,
  makes the log *unverifiable*: it may hold a head the log no longer matches.

The scan starts where DocumentAnchor was created, as the chain says, not as the deployment
manifest says: the manifest is the operator's file, and a `block` moved forward would hide every
earlier head. Its block counts only once the deploy transaction's receipt (or the contract's code
appearing in that block) confirms it; otherwise the scan starts at block 0. An auditor may name
the start block (`--from-block`).
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime

from backend.anchoring.batcher import MANIFEST_FORMAT
from backend.anchoring.merkle import MerkleTree, hex32, to_bytes32
from backend.audit.head_commitment import head_root, is_head_uri, parse_head_uri
from backend.config import Settings
from backend.content.store import get_content_store
from backend.errors import LoanchainError, ValidationFailed


@dataclass(frozen=True)
class ChainCheckpoint:
    seq: int
    entry_hash: str
    block_number: int
    tx_hash: str
    root: str
    block_time: datetime | None = None  # when the root was first anchored (DocumentAnchor.anchoredAt)


@dataclass
class ChainScan:
    checkpoints: list[ChainCheckpoint] = field(default_factory=list)
    unverifiable: list[str] = field(default_factory=list)  # anchors whose audit heads cannot be known
    from_block: int = 0


def scan_start(settings: Settings, reader, entry: dict | None = None) -> int:
    """The block DocumentAnchor (or the replaced one of manifest `entry`) was created in, when the chain
    confirms the manifest's; else 0."""
    from backend.chain.deploy import load_manifest

    if entry is None:
        entry = load_manifest(settings, settings.chain_id)["contracts"].get("DocumentAnchor") or {}
    try:
        block = int(entry.get("block") or 0)
    except (TypeError, ValueError):
        return 0
    if block <= 0 or str(entry.get("address", "")).lower() != reader.address.lower():
        return 0
    return block if reader.created_in(block, entry.get("txHash")) else 0


def _named_head(event, scan: ChainScan) -> None:
    named = parse_head_uri(event.uri)
    if named is None or head_root(*named) != event.root:
        scan.unverifiable.append(f"block {event.block_number}: the Anchored event's uri {event.uri!r} names an audit "
                                 f"head its root {event.root} does not commit to")  # fmt: skip
        return
    seq, entry_hash = named
    scan.checkpoints.append(ChainCheckpoint(seq, entry_hash, event.block_number, event.tx_hash, event.root))


def _manifest_heads(event, store, scan: ChainScan) -> None:
    try:
        manifest = json.loads(store.get(event.uri.removeprefix("ipfs://")))
    except (LoanchainError, ValueError) as exc:
        scan.unverifiable.append(f"block {event.block_number}: the manifest {event.uri} of root {event.root} cannot "
                                 f"be fetched ({exc}), so which audit heads it anchors is unknown")  # fmt: skip
        return
    if not isinstance(manifest, dict) or manifest.get("format") != MANIFEST_FORMAT:
        return  # the content store holds exactly these bytes (CID-checked): some other tool's batch
    try:
        leaves = [v["value"][0] for v in manifest["tree"]["values"]]
        if hex32(MerkleTree.of(leaves).root) != event.root:
            raise ValidationFailed("its leaves do not hash to the anchored root")
        heads = [(int(h["seq"]), str(h["entryHash"]).lower()) for h in manifest.get("auditHeads", [])]
    except (KeyError, TypeError, ValueError) as exc:
        scan.unverifiable.append(f"block {event.block_number}: the manifest {event.uri} is malformed ({exc})")
        return
    for seq, entry_hash in heads:
        if entry_hash in leaves:  # only a head that is a leaf under the anchored root counts
            scan.checkpoints.append(ChainCheckpoint(seq, entry_hash, event.block_number, event.tx_hash, event.root))


def scan_chain(settings: Settings, *, rpc_url: str | None = None, from_block: int | None = None) -> ChainScan:
    """Every audit head the platform's DocumentAnchor holds, and those it replaced (the manifest's
    history, whose code still is the manifest's), in chain order, from `from_block` (default: each
    one's creation, see scan_start). Only ANCHORER_ROLE can anchor there, so each of its events is
    the platform's own (its code is checked against the manifest)."""
    readers = anchor_readers(settings, rpc_url, from_block)
    scan = ChainScan(from_block=readers[0][1])
    for reader, start in readers:
        _scan_one(settings, reader, start, scan)
    scan.checkpoints.sort(key=lambda cp: (cp.block_number, cp.seq))
    return scan


def anchor_readers(settings: Settings, rpc_url: str | None, from_block: int | None) -> list[tuple]:
    """(reader, first block to scan) of the platform's DocumentAnchor, then of those it replaced whose
    code is still the manifest's (`verification.replaced_readers`)."""
    from backend.anchoring.verification import platform_reader, replaced_readers
    from backend.chain.deploy import load_manifest

    reader = platform_reader(settings, rpc_url)
    history = load_manifest(settings, settings.chain_id).get("history", [])
    entries = {h["replaced"]["address"].lower(): h["replaced"] for h in history
               if h.get("contract") == "DocumentAnchor" and (h.get("replaced") or {}).get("address")}  # fmt: skip
    return [(each, scan_start(settings, each, entries.get(each.address.lower())) if from_block is None else from_block)
            for each in (reader, *replaced_readers(settings, rpc_url, reader))]  # fmt: skip


def _scan_one(settings: Settings, reader, from_block: int, scan: ChainScan) -> None:
    store = get_content_store(settings)
    for event in reader.anchored_events(from_block=from_block):
        found = len(scan.checkpoints)
        if is_head_uri(event.uri):
            _named_head(event, scan)
        elif event.uri.startswith("ipfs://"):
            _manifest_heads(event, store, scan)
        if len(scan.checkpoints) > found:
            _, timestamp = reader.anchored_at(to_bytes32(event.root))
            when = datetime.fromtimestamp(timestamp, UTC) if timestamp else None
            scan.checkpoints[found:] = [replace(cp, block_time=when) for cp in scan.checkpoints[found:]]
