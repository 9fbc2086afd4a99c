"""Two anchor-batcher rounds at once (a worker whose lock connection dropped mid-round beside the
standby that took over, or `loanchain anchor flush`, which takes no lock, beside the worker): both
claim documents at the same moment, and still each document is in one batch, each batch has one
intent, and the audit head is checkpointed once. (`test_batcher.py` runs three at once unforced.)"""

from __future__ import annotations

from collections import Counter

from sqlalchemy import func, select

import backend.anchoring.documents as documents
from backend.anchoring.models import AnchorBatch, AnchorProof, Document
from backend.audit.models import AuditCheckpoint
from backend.chain.models import Intent, key_prefixed
from backend.db.session import session_scope
from backend.workers.registry import WORKERS
from tests.anchoring.helpers import anchor_files
from tests.workers.overlap import Meeting, at_once


def test_two_rounds_claiming_at_once_put_each_document_in_one_batch(settings, monkeypatch):
    settings = settings.model_copy(update={"anchor_batch_size": 4, "anchor_batch_interval": 0.0})
    anchor_files(settings, [f"overlap {i}".encode() for i in range(10)])
    meeting = Meeting()  # both rounds claim at the same moment (SQLite's writer lock holds one back)
    monkeypatch.setattr(documents, "queued", meeting.around(documents.queued))
    step = WORKERS["anchor-batcher"].step
    results = at_once(lambda: step(settings), lambda: step(settings))
    assert all(isinstance(r, int) for r in results), results
    if settings.database_url.startswith("postgresql"):
        assert meeting.met  # each skips the rows the other has locked

    with session_scope(settings) as session:
        batches = session.scalars(select(AnchorBatch)).all()
        assert sum(b.count for b in batches) == 11  # the ten documents and one checkpoint of the audit head
        assert session.scalar(select(func.count()).where(Document.batch_id.is_(None))) == 0
        assert session.scalar(select(func.count()).select_from(AnchorProof)) == 11
        assert session.scalar(select(func.count()).select_from(AuditCheckpoint)) == 1
        keys = Counter(session.scalars(select(Intent.key).where(key_prefixed("anchor-batch:"))))
    assert set(keys.values()) == {1} and set(keys) == {b.intent_key for b in batches}
