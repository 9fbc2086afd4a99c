"""Audit checkpoints read from the chain, not the database: every Anchored event's batch
manifest (from the content store) lists which of its leaves are audit heads. So deleting the
checkpoint rows hides nothing: the chain still says which head was anchored when."""

from __future__ import annotations

import json
from dataclasses import dataclass, field

from backend.anchoring.batcher import MANIFEST_FORMAT
from backend.anchoring.merkle import MerkleTree, hex32
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


@dataclass
class ChainScan:
    checkpoints: list[ChainCheckpoint] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)


def _deployed_at(settings: Settings) -> int:
    from backend.chain.deploy import load_manifest

    entry = load_manifest(settings, settings.chain_id)["contracts"].get("DocumentAnchor") or {}
    return int(entry.get("block") or 0)


def scan_chain(settings: Settings, *, rpc_url: str | None = None) -> ChainScan:
    from backend.chain.anchor_reader import AnchorReader

    reader = AnchorReader.for_settings(settings, rpc_url=rpc_url)
    store = get_content_store(settings)
    scan = ChainScan()
    for event in reader.anchored_events(from_block=_deployed_at(settings)):
        if not event.uri.startswith("ipfs://"):
            continue
        try:
            manifest = json.loads(store.get(event.uri.removeprefix("ipfs://")))
        except (LoanchainError, ValueError) as exc:
            scan.warnings.append(f"block {event.block_number}: manifest {event.uri} unavailable ({exc})")
            continue
        if not isinstance(manifest, dict) or manifest.get("format") != MANIFEST_FORMAT:
            continue  # another anchorer's batch
        try:
            leaves = [v["value"][0] for v in manifest["tree"]["values"]]
            if hex32(MerkleTree.of(leaves).root) != event.root:
                raise ValidationFailed("its leaves do not hash to the anchored root")
            heads = [(int(h["seq"]), str(h["entryHash"]).lower()) for h in manifest.get("auditHeads", [])]
        except (KeyError, TypeError, ValueError) as exc:
            scan.warnings.append(f"block {event.block_number}: manifest {event.uri} is malformed ({exc})")
            continue
        for seq, entry_hash in heads:
            if entry_hash in leaves:  # only a head that is a leaf under the anchored root counts
                scan.checkpoints.append(ChainCheckpoint(seq, entry_hash, event.block_number, event.tx_hash, event.root))
    return scan
