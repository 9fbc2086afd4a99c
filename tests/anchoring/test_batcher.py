"""Storing, queueing, batching and anchoring documents through the outbox."""

import json
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import func, select

from backend.anchoring import anchor
from backend.anchoring.batcher import build_due_batches, intent_key, run_batcher_once
from backend.anchoring.documents import anchor_document, document_hash
from backend.anchoring.merkle import MerkleTree, hex32, to_bytes32, verify_proof
from backend.anchoring.models import AnchorBatch, AnchorProof, Document
from backend.audit.models import AuditEntry
from backend.chain.anchor_reader import AnchorReader
from backend.chain.outbox import get_intent
from backend.content.store import get_content_store
from backend.db.session import session_scope
from backend.errors import ValidationFailed
from tests.anchoring.helpers import anchor_files, flush_and_confirm


def test_anchor_stores_the_bytes_records_and_audits_once(sqlite_settings):
    settings = sqlite_settings
    with session_scope(settings) as session:
        first = anchor_document(session, settings, b"loan agreement #1", actor="user:7")
        again = anchor(session, settings, b"loan agreement #1", actor="user:7")  # the package facade
        assert first.created and not again.created and again.document.id == first.document.id
        doc = first.document
        assert doc.doc_hash == document_hash(b"loan agreement #1") and doc.size == 17 and doc.batch_id is None
        assert get_content_store(settings).get(doc.cid) == b"loan agreement #1"
        entries = session.scalars(select(AuditEntry)).all()
        assert [(e.actor, e.action, e.subject) for e in entries] == [("user:7", "document.anchor", f"document:{doc.id}")]


@pytest.mark.parametrize("bad", [b"", "text, not bytes"])
def test_rejects_empty_or_non_bytes(sqlite_settings, bad):
    with session_scope(sqlite_settings) as session, pytest.raises(ValidationFailed):
        anchor_document(session, sqlite_settings, bad)


def test_batches_when_full_or_when_the_oldest_has_waited(sqlite_settings):
    settings = sqlite_settings.model_copy(update={"anchor_batch_size": 3, "anchor_batch_interval": 60.0})
    anchor_files(settings, [f"doc {i}".encode() for i in range(7)])
    assert len(build_due_batches(settings)) == 2  # two full batches; one document waits
    assert build_due_batches(settings) == []
    later = datetime.now(UTC) + timedelta(seconds=61)
    (last,) = build_due_batches(settings, now=later)
    with session_scope(settings) as session:
        counts = [b.count for b in session.scalars(select(AnchorBatch).order_by(AnchorBatch.id))]
        assert counts == [3, 3, 1]
        assert session.scalar(select(func.count()).where(Document.batch_id.is_(None))) == 0
        assert session.get(AnchorBatch, last).count == 1


def test_a_batch_is_anchored_once_with_its_manifest_uri_and_proofs(settings, contracts):
    blobs = [f"contract {i}".encode() for i in range(5)]
    ids = anchor_files(settings, blobs)
    report = flush_and_confirm(settings)
    # The audit head checkpoint goes alone, under a uri naming it (test_audit_head_is_anchored_alone).
    assert len(report.created) == 2 and report.anchored == report.created

    reader = AnchorReader.for_settings(settings)
    with session_scope(settings) as session:
        batch = session.get(AnchorBatch, report.created[1])
        assert batch.status == "anchored" and batch.count == 5
        assert get_intent(session, intent_key(batch.root)).status == "confirmed"
        (event,) = reader.anchored_events(to_bytes32(batch.root))
        assert event.uri == batch.uri == f"ipfs://{batch.manifest_cid}" and event.count == batch.count
        assert (event.tx_hash, event.block_number) == (batch.tx_hash, batch.block_number)

        manifest = json.loads(get_content_store(settings).get(batch.manifest_cid))
        assert manifest["root"] == batch.root and manifest["tree"]["format"] == "standard-v1"
        leaves = [v["value"][0] for v in manifest["tree"]["values"]]
        assert hex32(MerkleTree.of(leaves).root) == batch.root
        assert manifest["auditHeads"] == []

        for doc_id, blob in zip(ids, blobs, strict=True):
            doc = session.get(Document, doc_id)
            proof = session.get(AnchorProof, doc_id)
            assert doc.batch_id == batch.id and doc.doc_hash in leaves
            assert verify_proof(doc.doc_hash, json.loads(proof.proof), batch.root)
            assert contracts["DocumentAnchor"].functions.verify(
                to_bytes32(proof.leaf), [to_bytes32(p) for p in json.loads(proof.proof)], to_bytes32(batch.root)
            ).call()


def test_audit_head_is_anchored_alone_under_a_uri_naming_it(sqlite_settings):
    """The chain alone says which anchor is an audit head, and the root commits to the uri's
    seq and entry hash: no checkpoint row and no manifest is needed to find and check it."""
    from backend.audit.head_commitment import head_digest, head_root, parse_head_uri
    from backend.audit.log import head

    settings = sqlite_settings
    anchor_files(settings, [b"one", b"two"])
    report = flush_and_confirm(settings)
    with session_scope(settings) as session:
        seq, entry_hash = head(session).seq, head(session).entry_hash
        head_batch = session.get(AnchorBatch, report.created[0])
        assert head_batch.count == 1 and head_batch.uri == f"loanchain:audit-head:v1:{seq}:{entry_hash}"
        (event,) = AnchorReader.for_settings(settings).anchored_events(to_bytes32(head_batch.root))
        assert parse_head_uri(event.uri) == (seq, entry_hash) and event.root == head_root(seq, entry_hash)
        (doc,) = head_batch.documents
        assert doc.kind == "audit_head" and doc.doc_hash == head_digest(seq, entry_hash) != entry_hash
        assert session.get(AnchorBatch, report.created[1]).count == 2


def test_batch_size_one_anchors_each_document_under_its_own_root(sqlite_settings):
    settings = sqlite_settings.model_copy(update={"anchor_batch_size": 1, "audit_anchor_interval": 1e9})
    anchor_files(settings, [b"a", b"b", b"c"])
    report = flush_and_confirm(settings)
    assert len(report.created) == 4  # three documents and the first audit checkpoint
    with session_scope(settings) as session:
        batches = session.scalars(select(AnchorBatch)).all()
        assert {b.count for b in batches} == {1} and all(b.status == "anchored" for b in batches)
        assert all(json.loads(p.proof) == [] for p in session.scalars(select(AnchorProof)))


def test_nothing_queued_builds_nothing(sqlite_settings):
    report = run_batcher_once(sqlite_settings, force=True)
    assert (report.created, report.anchored, report.checkpoint_seq) == ([], [], None)


def test_two_batchers_at_once_claim_each_document_once(settings):
    """The worker and `loanchain anchor flush` may run together: no document in two batches."""
    import threading

    settings = settings.model_copy(update={"anchor_batch_size": 4})
    anchor_files(settings, [f"concurrent {i}".encode() for i in range(15)])
    errors, start = [], threading.Barrier(3)

    def batcher():
        start.wait()
        try:
            run_batcher_once(settings, force=True)
        except Exception as exc:
            errors.append(exc)

    threads = [threading.Thread(target=batcher) for _ in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    with session_scope(settings) as session:
        batches = session.scalars(select(AnchorBatch)).all()
        assert sum(b.count for b in batches) == 16  # 15 documents + one audit checkpoint
        assert session.scalar(select(func.count()).where(Document.batch_id.is_(None))) == 0
        assert session.scalar(select(func.count()).select_from(AnchorProof)) == 16


def test_the_audit_head_is_checkpointed_when_it_moved_and_the_interval_passed(sqlite_settings):
    from backend.audit.checkpoints import checkpoint_head

    settings = sqlite_settings.model_copy(update={"audit_anchor_interval": 600.0})
    anchor_files(settings, [b"first"])
    now = datetime.now(UTC)
    with session_scope(settings) as session:
        assert checkpoint_head(session, settings, now=now).seq == 1  # the first one at once
        assert checkpoint_head(session, settings, now=now) is None  # head has not moved
    anchor_files(settings, [b"second"])
    with session_scope(settings) as session:
        assert checkpoint_head(session, settings, now=now + timedelta(seconds=10)) is None  # too soon
        assert checkpoint_head(session, settings, now=now + timedelta(seconds=601)).seq == 2
    anchor_files(settings, [b"third"])
    with session_scope(settings) as session:
        assert checkpoint_head(session, settings, force=True, now=now + timedelta(seconds=602)).seq == 3
        heads = session.scalars(select(Document).where(Document.kind == "audit_head")).all()
        assert len(heads) == 3


def test_the_anchor_batcher_is_a_registered_worker(sqlite_settings):
    from backend.workers.registry import build_worker, worker_names

    assert "anchor-batcher" in worker_names("all")
    anchor_files(sqlite_settings, [b"via the worker"])
    worker = build_worker("anchor-batcher")
    assert worker.step(sqlite_settings.model_copy(update={"anchor_batch_interval": 0.0})) >= 2  # checkpoint + batch
    assert worker.step(sqlite_settings) == 0  # idle: nothing due, nothing confirmed yet
    assert 0.5 <= worker.interval(sqlite_settings) <= 5.0
