"""The reviewer's attack on `loanchain audit verify` (finding #2): an insider rewrites the log,
deletes the checkpoint rows *and* the batch manifests. The chain alone must still name every
anchored head; an anchor whose heads cannot be known, or an old log nothing anchors, fails."""

from datetime import UTC, datetime, timedelta

from sqlalchemy import text
from typer.testing import CliRunner

from backend.anchoring import documents
from backend.anchoring.models import KIND_AUDIT_HEAD
from backend.audit import log
from backend.audit.models import AuditCheckpoint
from backend.audit.verify import verify_audit_log
from backend.cli.main import app
from backend.content.store import get_content_store
from backend.db.session import session_scope
from tests.anchoring.helpers import anchor_files, flush_and_confirm
from tests.audit.test_verify_cli import anchored_log, audit_verify, record, rewrite_from, sql  # noqa: F401


def delete_manifests(settings) -> int:
    with session_scope(settings) as session:
        cids = [r[0] for r in session.execute(text("SELECT manifest_cid FROM anchor_batches")).all()]
    store = get_content_store(settings)
    for cid in cids:
        store.path_of(cid).unlink(missing_ok=True)
    return len(cids)


def test_rewrite_with_checkpoint_rows_and_manifests_deleted_is_caught(anchored_log):  # noqa: F811
    """/tmp/review_audit/test_audit_rewrite.py: it printed INTACT and exited 0."""
    settings = anchored_log
    rewrite_from(settings, 3)
    sql(settings, "DELETE FROM audit_checkpoints")
    assert delete_manifests(settings) == 2

    code, report = audit_verify()
    assert code == 1 and not report["ok"]
    assert report["first_issue"]["kind"] == "rewritten" and report["first_issue"]["seq"] == 1
    # Both heads were found from the Anchored events alone.
    assert [(c["seq"], c["status"]) for c in report["checkpoints"]] == [(6, "mismatch"), (10, "mismatch")]
    assert {("checkpoint", 6), ("checkpoint", 10)} <= {(i["kind"], i["seq"]) for i in report["issues"]}
    assert report["last_verified_anchor_seq"] is None
    human = CliRunner().invoke(app, ["audit", "verify"])
    assert human.exit_code == 1 and "TAMPERED" in human.output and "INTACT" not in human.output


def test_an_anchored_batch_whose_manifest_is_gone_makes_the_log_unverifiable(anchored_log):  # noqa: F811
    settings = anchored_log
    anchor_files(settings, [b"a loan agreement"])
    flush_and_confirm(settings)
    assert audit_verify()[0] == 0
    delete_manifests(settings)  # the head batches name their heads in the uri; the document batch does not

    code, report = audit_verify()
    assert code == 1 and not report["ok"]
    assert report["first_issue"]["kind"] == "unverifiable" and "cannot be fetched" in report["first_issue"]["detail"]
    assert report["last_verified_anchor_seq"] == 11  # what still holds is still said
    human = CliRunner().invoke(app, ["audit", "verify"])
    assert human.exit_code == 1 and "UNVERIFIABLE" in human.output and "INTACT" not in human.output


def test_heads_anchored_inside_a_manifest_before_the_change_are_still_found(chain_db_settings, use_settings):
    """A head queued as its raw entry hash (the old scheme) rides in a document batch and is
    listed in the manifest: found through it, and unverifiable once the manifest is gone."""
    settings = chain_db_settings.model_copy(update={"audit_anchor_interval": 1e9})
    record(settings, 1, 4)
    with session_scope(settings) as session:
        head = log.head(session)
        doc, _ = documents.queue_hash(session, head.entry_hash, kind=KIND_AUDIT_HEAD)
        session.add(AuditCheckpoint(seq=head.seq, entry_hash=head.entry_hash, document_id=doc.id,
                                    created_at=datetime.now(UTC)))  # fmt: skip
    anchor_files(settings, [b"schedule"])  # entry 5, checkpointed the new way by the forced flush
    flush_and_confirm(settings)
    use_settings(settings)
    code, report = audit_verify()
    assert code == 0 and [(c["seq"], c["status"]) for c in report["checkpoints"]] == [(4, "holds"), (5, "holds")]

    rewrite_from(settings, 2)
    sql(settings, "DELETE FROM audit_checkpoints")
    code, report = audit_verify()
    assert code == 1 and report["first_issue"]["kind"] == "rewritten"
    assert [(c["seq"], c["status"]) for c in report["checkpoints"]] == [(4, "mismatch"), (5, "mismatch")]

    delete_manifests(settings)
    code, report = audit_verify()
    assert code == 1 and report["first_issue"]["kind"] == "unverifiable"
    assert [(c["seq"], c["status"]) for c in report["checkpoints"]] == [(5, "mismatch")]


def test_an_old_log_no_checkpoint_holds_is_unanchored(chain_db_settings):
    settings = chain_db_settings
    record(settings, 1, 3)
    allowed = settings.audit_anchor_interval + settings.anchor_batch_interval
    with session_scope(settings) as session:
        fresh = verify_audit_log(session, settings)
        assert fresh.ok and fresh.checkpoints == []  # a fresh platform, nothing anchored yet: fine
        later = datetime.now(UTC) + timedelta(seconds=allowed + 60)
        old = verify_audit_log(session, settings, now=later)
        assert not old.ok and old.first_issue.kind == "unanchored" and old.first_issue.seq == 0
        assert verify_audit_log(session, settings, check_anchors=False, now=later).ok  # --no-chain: hash chain only

    flush_and_confirm(settings)  # now a checkpoint holds
    with session_scope(settings) as session:
        assert verify_audit_log(session, settings, now=later).ok


def test_an_empty_log_verifies(chain_db_settings):
    with session_scope(chain_db_settings) as session:
        report = verify_audit_log(session, chain_db_settings, now=datetime.now(UTC) + timedelta(days=365))
        assert report.ok and report.entries == 0
