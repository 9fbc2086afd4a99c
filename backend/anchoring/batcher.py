"""The anchor batcher: queued document hashes -> Merkle root -> one outbox intent per root.

One run (`run_batcher_once`, which the background worker repeats):

1. checkpoint: queue the audit log's head when it moved and `audit_anchor_interval` passed;
2. batch: while a full batch (`anchor_batch_size`) is queued, or the oldest queued hash has
   waited `anchor_batch_interval` seconds (or `force`), claim up to that many documents (an
   audit head goes alone, under a uri naming it: see backend/audit/head_commitment.py, and so
   does any hash queued with its own `anchor_uri`, such as a month's disclosure report), build
   their tree, store the manifest in the content store and, *in the same transaction*, write the
   batch, the proofs and the outbox intent `anchor-batch:<root>`. A crash before the commit
   leaves nothing behind (the rerun rebuilds the batch); after it, the documents are claimed and
   the intent exists, so a rerun never builds that batch again. The key is the root, and
   DocumentAnchor ignores a root it already has, so even a replayed intent adds no event;
3. reconcile: batches whose intent the outbox sender confirmed become `anchored`, with the block
   and transaction read back from the chain's Anchored event.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import UTC, datetime

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from backend.anchoring import documents
from backend.anchoring.merkle import MerkleTree, hex32, leaf_hash, to_bytes32
from backend.anchoring.models import (
    BATCH_ANCHORED,
    BATCH_FAILED,
    BATCH_QUEUED,
    KIND_AUDIT_HEAD,
    AnchorBatch,
    AnchorProof,
)
from backend.chain import outbox
from backend.config import Settings
from backend.content.store import get_content_store
from backend.db.session import begin_write, session_scope

MANIFEST_FORMAT = "loanchain-anchor-batch-v1"
INTENT_PREFIX = "anchor-batch:"


@dataclass
class BatcherReport:
    checkpoint_seq: int | None = None  # audit head queued this run
    created: list[int] = field(default_factory=list)  # batch ids
    anchored: list[int] = field(default_factory=list)
    failed: list[int] = field(default_factory=list)


def intent_key(root: str, retry: int = 0) -> str:
    return f"{INTENT_PREFIX}{root}" + (f":retry-{retry}" if retry else "")


def manifest_bytes(tree: MerkleTree, audit_heads: list[dict]) -> bytes:
    """The batch manifest: OZ's tree dump plus which leaves are audit-log heads. Deterministic
    (no ids, no clock), so rebuilding a batch after a crash stores the very same CID."""
    manifest = {
        "format": MANIFEST_FORMAT,
        "root": hex32(tree.root),
        "count": len(tree.doc_hashes),
        "tree": tree.dump(),
        "auditHeads": audit_heads,
    }
    return json.dumps(manifest, sort_keys=True, separators=(",", ":")).encode()


def _checkpoints(session: Session, docs) -> list:
    from backend.audit.models import AuditCheckpoint

    ids = [d.id for d in docs if d.kind == KIND_AUDIT_HEAD]
    if not ids:
        return []
    query = select(AuditCheckpoint).where(AuditCheckpoint.document_id.in_(ids)).order_by(AuditCheckpoint.seq)
    return list(session.scalars(query))


def _claim(session: Session, settings: Settings) -> tuple[list, list, str | None]:
    """The next batch's documents, the audit checkpoints among them, and the uri naming an
    audit head (None: the manifest's ipfs:// uri). A head queued as its domain-separated digest
    goes alone, so its Anchored event says on its own which head it anchors; a head queued
    before that scheme (its raw entry hash) still rides along and is listed in the manifest."""
    from backend.audit.head_commitment import head_digest, head_uri

    docs = documents.queued(session, settings.anchor_batch_size)
    checkpoints = _checkpoints(session, docs)
    by_document = {cp.document_id: cp for cp in checkpoints}
    for doc in docs:
        cp = by_document.get(doc.id)
        if cp is not None and doc.doc_hash == head_digest(cp.seq, cp.entry_hash):
            return [doc], [cp], head_uri(cp.seq, cp.entry_hash)
        if doc.anchor_uri:  # e.g. a month bound to its disclosure report: alone, under its own name
            return [doc], [], doc.anchor_uri
    return docs, checkpoints, None


def build_batch(session: Session, settings: Settings) -> AnchorBatch | None:
    """Claim up to `anchor_batch_size` queued documents into one batch and enqueue its anchor."""
    docs, checkpoints, head_uri = _claim(session, settings)
    if not docs:
        return None
    tree = MerkleTree.of([d.doc_hash for d in docs])
    root = hex32(tree.root)
    heads = [{"seq": cp.seq, "entryHash": cp.entry_hash} for cp in checkpoints]
    manifest_cid = get_content_store(settings).put(manifest_bytes(tree, heads))
    uri = head_uri or f"ipfs://{manifest_cid}"
    batch = AnchorBatch(
        root=root, count=len(docs), manifest_cid=manifest_cid, uri=uri, intent_key=intent_key(root),
        status=BATCH_QUEUED, created_at=documents.utcnow(),
    )  # fmt: skip
    session.add(batch)
    session.flush()
    for index, doc in enumerate(docs):
        doc.batch_id = batch.id
        session.add(
            AnchorProof(
                document_id=doc.id, batch_id=batch.id, leaf=hex32(leaf_hash(doc.doc_hash)),
                tree_index=tree.tree_index[index], proof=json.dumps([hex32(p) for p in tree.proof(index)]),
            )
        )  # fmt: skip
    outbox.enqueue(
        session, key=batch.intent_key, contract="DocumentAnchor", function="anchor",
        args=[root, len(docs), uri], settings=settings,
    )  # fmt: skip
    session.flush()
    return batch


def batch_due(session: Session, settings: Settings, now: datetime, force: bool) -> bool:
    count, oldest = documents.queue_stats(session)
    if count == 0:
        return False
    if force or count >= settings.anchor_batch_size:
        return True
    return oldest is not None and (now - oldest).total_seconds() >= settings.anchor_batch_interval


def build_due_batches(settings: Settings, *, force: bool = False, now: datetime | None = None) -> list[int]:
    """Every batch that is due, each in its own transaction; returns their ids."""
    created = []
    while True:
        with session_scope(settings) as session:
            begin_write(session, AnchorBatch)
            if not batch_due(session, settings, now or datetime.now(UTC), force):
                return created
            batch = build_batch(session, settings)
            if batch is None:
                return created
            created.append(batch.id)


def reconcile(settings: Settings) -> tuple[list[int], list[int]]:
    """Move queued batches to anchored/failed from their outbox intents; (anchored, failed) ids."""
    from backend.chain.anchor_reader import AnchorReader

    anchored, failed = [], []
    reader = None
    with session_scope(settings) as session:
        begin_write(session, AnchorBatch)
        queued = select(AnchorBatch).where(AnchorBatch.status == BATCH_QUEUED).order_by(AnchorBatch.id)
        for batch in session.scalars(queued).all():
            intent = outbox.get_intent(session, batch.intent_key)
            if intent is None:  # cannot happen (same transaction); re-enqueue rather than strand it
                outbox.enqueue(
                    session, key=batch.intent_key, contract="DocumentAnchor", function="anchor",
                    args=[batch.root, batch.count, batch.uri], settings=settings,
                )  # fmt: skip
                continue
            if intent.status == outbox.IntentStatus.FAILED:
                batch.status, batch.error = BATCH_FAILED, intent.error or "anchor transaction failed"
                failed.append(batch.id)
            elif intent.status == outbox.IntentStatus.CONFIRMED:
                reader = reader or AnchorReader.for_settings(settings)
                if _record_anchor(reader, batch, fallback_tx=intent.tx_hash):
                    anchored.append(batch.id)
    return anchored, failed


def _record_anchor(reader, batch: AnchorBatch, fallback_tx: str | None) -> bool:
    root = to_bytes32(batch.root)
    block, timestamp = reader.anchored_at(root)
    if block == 0:
        return False  # confirmed yet absent: the chain was reset under us; leave it queued
    event = reader.anchored_event(root, block)
    batch.status = BATCH_ANCHORED
    batch.block_number = block
    batch.anchored_at = datetime.fromtimestamp(timestamp, UTC)
    # The transaction that first anchored the root (a replay would be a no-op elsewhere).
    batch.tx_hash = event.tx_hash if event else fallback_tx
    batch.error = None
    return True


def retry_failed(settings: Settings) -> list[int]:
    """Re-enqueue failed batches (after fixing their cause, e.g. a missing ANCHORER_ROLE) under
    a fresh key; the root, proofs and manifest stay the same."""
    retried = []
    with session_scope(settings) as session:
        begin_write(session, AnchorBatch)
        failed = select(AnchorBatch).where(AnchorBatch.status == BATCH_FAILED).order_by(AnchorBatch.id)
        for batch in session.scalars(failed).all():
            attempt = 1
            while outbox.get_intent(session, intent_key(batch.root, attempt)) is not None:
                attempt += 1
            batch.intent_key = intent_key(batch.root, attempt)
            batch.status, batch.error = BATCH_QUEUED, None
            outbox.enqueue(
                session, key=batch.intent_key, contract="DocumentAnchor", function="anchor",
                args=[batch.root, batch.count, batch.uri], settings=settings,
            )  # fmt: skip
            retried.append(batch.id)
    return retried


def run_batcher_once(settings: Settings, *, force: bool = False, now: datetime | None = None) -> BatcherReport:
    """One batcher round (see the module docstring). `force` anchors whatever is queued now and
    checkpoints the audit head regardless of the intervals."""
    from backend.audit.checkpoints import checkpoint_head, heartbeat_if_idle

    report = BatcherReport()
    with session_scope(settings) as session:
        begin_write(session, AnchorBatch)
        heartbeat_if_idle(session, settings, now)
        checkpoint = checkpoint_head(session, settings, force=force, now=now)
        report.checkpoint_seq = checkpoint.seq if checkpoint else None
    report.created = build_due_batches(settings, force=force, now=now)
    report.anchored, report.failed = reconcile(settings)
    return report


def batch_counts(session: Session) -> dict[str, int]:
    rows = session.execute(select(AnchorBatch.status, func.count()).group_by(AnchorBatch.status)).all()
    counts = {BATCH_QUEUED: 0, BATCH_ANCHORED: 0, BATCH_FAILED: 0}
    counts.update({status: n for status, n in rows})
    return counts


def batcher_step(settings: Settings) -> int:
    """The background worker's step: how much it did (0 = idle, so the runner waits)."""
    report = run_batcher_once(settings)
    return len(report.created) + len(report.anchored) + len(report.failed) + (report.checkpoint_seq is not None)


def poll_interval(settings: Settings) -> float:
    # Often enough that a due batch waits at most a quarter of the batch interval extra.
    return min(5.0, max(0.5, settings.anchor_batch_interval / 4))
