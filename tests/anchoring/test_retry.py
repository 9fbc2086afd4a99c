"""A retry never anchors the same batch twice: one batch row and one Anchored event per root,
whichever step the batcher or the sender dies at. (The audit head checkpoint is a batch of its
own, the first one, next to the documents'.)"""

import os
import subprocess
import sys

import pytest
from sqlalchemy import func, select

from backend.anchoring import batcher
from backend.anchoring.batcher import reconcile, retry_failed, run_batcher_once
from backend.anchoring.merkle import to_bytes32
from backend.anchoring.models import AnchorBatch, Document
from backend.chain import outbox
from backend.chain.anchor_reader import AnchorReader
from backend.chain.models import Intent
from backend.config import ROOT
from backend.db.session import session_scope
from tests.anchoring.helpers import anchor_files, env_for, flush_and_confirm


class Crash(BaseException):
    """Stands in for the process dying: nothing may catch it, nothing after it runs."""


def batches(settings) -> list[AnchorBatch]:
    with session_scope(settings) as session:
        return list(session.scalars(select(AnchorBatch).order_by(AnchorBatch.id)))


def assert_one_event_per_root(settings) -> None:
    reader = AnchorReader.for_settings(settings)
    for batch in batches(settings):
        assert batch.status == "anchored"
        assert len(reader.anchored_events(to_bytes32(batch.root))) == 1, batch.root


def test_crash_right_after_enqueue_then_rerun(settings, monkeypatch):
    anchor_files(settings, [b"one", b"two", b"three"])
    real_enqueue = outbox.enqueue

    def enqueue_then_die(*args, **kwargs):
        real_enqueue(*args, **kwargs)
        raise Crash

    monkeypatch.setattr(batcher.outbox, "enqueue", enqueue_then_die)
    with pytest.raises(Crash):
        run_batcher_once(settings, force=True)
    monkeypatch.undo()

    with session_scope(settings) as session:  # the transaction died with it: nothing half-done
        assert session.scalar(select(func.count()).select_from(AnchorBatch)) == 0
        assert session.scalar(select(func.count()).select_from(Intent)) == 0
        assert session.scalar(select(func.count()).where(Document.batch_id.is_(None))) == 4  # 3 + audit head

    flush_and_confirm(settings)
    flush_and_confirm(settings)  # and a further rerun changes nothing
    assert [b.count for b in batches(settings)] == [1, 3]  # the audit head, the three documents
    assert_one_event_per_root(settings)


def test_crash_after_commit_before_sending_then_rerun(settings, monkeypatch):
    anchor_files(settings, [b"alpha", b"beta"])
    monkeypatch.setattr(batcher, "reconcile", lambda s: (_ for _ in ()).throw(Crash()))
    with pytest.raises(Crash):
        run_batcher_once(settings, force=True)
    monkeypatch.undo()
    built = batches(settings)
    assert [b.status for b in built] == ["queued", "queued"]

    report = run_batcher_once(settings, force=True)  # rerun: the documents are already claimed
    assert report.created == []
    outbox.process_until_idle(settings)
    assert reconcile(settings) == ([b.id for b in built], [])
    assert len(batches(settings)) == 2
    assert_one_event_per_root(settings)


def test_sender_killed_after_broadcast_then_rerun(sqlite_settings):
    """The ceramic-anchor-service bug: the process dies once the anchor tx is out, before it
    records so; the restarted sender must not anchor the batch again."""
    settings = sqlite_settings
    anchor_files(settings, [b"gamma"])
    run_batcher_once(settings, force=True)
    code = "from backend.config import get_settings; from backend.chain.outbox import process_until_idle; " \
           "process_until_idle(get_settings())"  # fmt: skip
    env = {**os.environ, **env_for(settings, outbox_crash_at="after_broadcast")}
    died = subprocess.run([sys.executable, "-c", code], env=env, cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert died.returncode == 137, died.stderr

    outbox.process_until_idle(settings)
    reconcile(settings)
    run_batcher_once(settings, force=True)
    assert len(batches(settings)) == 2
    assert_one_event_per_root(settings)
    with session_scope(settings) as session:
        assert session.scalar(select(func.count()).select_from(Intent)) == 2  # one per batch


def test_a_replayed_anchor_under_another_key_adds_no_event(sqlite_settings):
    """Even if the same root were enqueued twice (a failed batch retried after all), the
    contract keeps the first anchor and emits nothing."""
    settings = sqlite_settings
    anchor_files(settings, [b"delta"])
    flush_and_confirm(settings)
    _, batch = batches(settings)
    with session_scope(settings) as session:
        session.get(AnchorBatch, batch.id).status = "failed"
    assert retry_failed(settings) == [batch.id]
    outbox.process_until_idle(settings)
    assert reconcile(settings) == ([batch.id], [])
    _, again = batches(settings)
    assert again.intent_key.endswith(":retry-1") and again.tx_hash == batch.tx_hash
    assert_one_event_per_root(settings)
