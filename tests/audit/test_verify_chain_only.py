"""The reviewer's attack on `loanchain audit verify` (finding #2): an insider rewrites the log,
deletes the checkpoint rows *and* the batch manifests. The chain alone must still name every
anchored head; an anchor whose heads cannot be known, or an old log nothing anchors, fails."""

import json
import shutil
from datetime import UTC, datetime, timedelta

from sqlalchemy import select, text
from typer.testing import CliRunner
from web3 import Web3

from backend.anchoring import documents
from backend.anchoring.models import KIND_AUDIT_HEAD
from backend.audit import log
from backend.audit.checkpoints import checkpoint_head
from backend.audit.head_commitment import head_digest
from backend.audit.models import AuditCheckpoint, AuditEntry
from backend.audit.verify import anchoring_delay, verify_audit_log
from backend.cli.main import app
from backend.content.store import get_content_store
from backend.db.session import session_scope
from tests.anchoring.helpers import anchor_files, flush_and_confirm, point_get_settings_at
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
    allowed = anchoring_delay(settings)  # the intervals, and the slack for the workers' rounds
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


def reanchor_rewritten_heads(settings, seqs) -> dict[int, str]:
    """The insider points its checkpoint rows at the rewritten hashes and anchors those heads again
    with the platform's own key: new roots, which DocumentAnchor accepts. Returns seq -> new hash."""
    new = {}
    with session_scope(settings) as session:
        for seq in seqs:
            new[seq] = session.execute(text("SELECT entry_hash FROM audit_entries WHERE seq = :s"), {"s": seq}).scalar()
            doc, _ = documents.queue_hash(session, head_digest(seq, new[seq]), kind=KIND_AUDIT_HEAD)
            session.execute(text("UPDATE audit_checkpoints SET entry_hash = :h, document_id = :d WHERE seq = :s"),
                            {"h": new[seq], "d": doc.id, "s": seq})  # fmt: skip
    flush_and_confirm(settings)
    return new


def test_a_rewritten_log_reanchored_at_the_same_seqs_is_caught(anchored_log):  # noqa: F811
    """/tmp/audit-proofs/test_h1_audit_reanchor.py (H1): it printed INTACT, exit 0. The chain is
    append-only, so the first anchor of a seq stands; a later one naming another hash is tampering."""
    settings = anchored_log
    code, before = audit_verify()
    old = {c["seq"]: (c["entry_hash"], c["block_number"]) for c in before["checkpoints"]}
    rewrite_from(settings, 3)
    new = reanchor_rewritten_heads(settings, (6, 10))  # checkpoint rows re-pointed at the new hashes too

    code, report = audit_verify()
    assert code == 1 and not report["ok"]
    assert report["first_issue"]["kind"] == "rewritten" and report["first_issue"]["seq"] == 1
    # The first on-chain anchor of each seq is the one held against the log, whatever the rows say.
    assert [(c["seq"], c["entry_hash"], c["status"]) for c in report["checkpoints"]] == [
        (6, old[6][0], "mismatch"), (10, old[10][0], "mismatch")]  # fmt: skip
    reanchored = {i["seq"]: i["detail"] for i in report["issues"] if i["kind"] == "reanchored"}
    assert set(reanchored) == {6, 10}
    for seq in (6, 10):
        assert f"block {old[seq][1]}" in reanchored[seq] and old[seq][0] in reanchored[seq] and new[seq] in reanchored[seq]
    assert report["last_verified_anchor_seq"] is None
    human = CliRunner().invoke(app, ["audit", "verify"])
    assert human.exit_code == 1 and "INTACT" not in human.output and "reanchored at seq 6" in human.output


def test_a_conflicting_reanchor_fails_even_when_the_log_matches_the_first_anchor(anchored_log):  # noqa: F811
    """A second head for an anchored seq is evidence on its own, even with the log left alone."""
    settings = anchored_log
    with session_scope(settings) as session:
        row = session.execute(text("SELECT entry_hash, document_id FROM audit_checkpoints WHERE seq = 6")).one()
    forged = "0x" + "ab" * 32
    with session_scope(settings) as session:  # a head for seq 6 naming another hash, anchored alone
        doc, _ = documents.queue_hash(session, head_digest(6, forged), kind=KIND_AUDIT_HEAD)
        session.execute(text("UPDATE audit_checkpoints SET entry_hash = :h, document_id = :d WHERE seq = 6"),
                        {"h": forged, "d": doc.id})
    flush_and_confirm(settings)
    sql(settings, "UPDATE audit_checkpoints SET entry_hash = :h, document_id = :d WHERE seq = 6",
        h=row.entry_hash, d=row.document_id)  # and the row put back
    code, report = audit_verify()
    assert code == 1 and report["first_issue"]["kind"] == "reanchored" and report["first_issue"]["seq"] == 6
    assert [(c["seq"], c["status"]) for c in report["checkpoints"]] == [(6, "holds"), (10, "holds")]
    assert report["last_verified_anchor_seq"] == 10  # the entries still verify; the anchors do not agree


def test_an_unanchored_tail_older_than_the_anchoring_delay_is_flagged(anchored_log):  # noqa: F811
    """/tmp/audit-proofs/test_m_audit_tail_and_scanblock.py (M1): the batcher stopped after seq 10,
    and a month later the tail is rewritten: it printed INTACT."""
    settings = anchored_log
    record(settings, 11, 20)
    delay = anchoring_delay(settings)
    with session_scope(settings) as session:
        began = session.scalar(select(AuditEntry.recorded_at).where(AuditEntry.seq == 11))
        first = datetime.strptime(began, "%Y-%m-%dT%H:%M:%S.%fZ").replace(tzinfo=UTC)  # timed from the entry
        soon = verify_audit_log(session, settings, now=first + timedelta(seconds=delay - 1))
        assert soon.ok and soon.last_verified_anchor_seq == 10  # an honest batcher still has time
    human = CliRunner().invoke(app, ["audit", "verify"])
    assert human.exit_code == 0 and "INTACT" in human.output and "entries 11..20 are not anchored yet" in human.output
    with session_scope(settings) as session:
        late = verify_audit_log(session, settings, now=datetime.now(UTC) + timedelta(days=30))
        (tail,) = [i for i in late.issues if i.kind == "unanchored"]  # beside `stale`: no anchor for 30 days
        assert not late.ok and tail.seq == 11 and "entries 11..20" in tail.detail
        assert late.last_verified_anchor_seq == 10
        # A checkpoint queued but never anchored does not excuse the tail for longer.
        checkpoint_head(session, settings, force=True)
    with session_scope(settings) as session:
        pending = verify_audit_log(session, settings, now=datetime.now(UTC) + timedelta(days=30))
        (tail,) = [i for i in pending.issues if i.kind == "unanchored"]
        assert "seq 20 is queued but not anchored" in tail.detail
    flush_and_confirm(settings)  # the batcher runs again: the tail is anchored
    with session_scope(settings) as session:
        assert verify_audit_log(session, settings, now=datetime.now(UTC) + timedelta(hours=1)).ok
        # A month on with no anchor since, a running platform would have anchored its heartbeats.
        assert verify_audit_log(session, settings, now=datetime.now(UTC) + timedelta(days=30)).first_issue.kind == "stale"


def test_a_running_batcher_is_never_flagged(chain_db_settings):
    """An honest system: entries keep coming and the batcher anchors the head every round."""
    settings = chain_db_settings
    for first in (1, 4, 7):
        record(settings, first, first + 2)
        flush_and_confirm(settings)
        with session_scope(settings) as session:
            # (within a day: past it, a running platform would have anchored a heartbeat since)
            assert verify_audit_log(session, settings, now=datetime.now(UTC) + timedelta(hours=20)).ok
    record(settings, 10, 11)  # recorded just now, the next round not yet due
    with session_scope(settings) as session:
        report = verify_audit_log(session, settings)
        assert report.ok and report.last_verified_anchor_seq == 9 and report.head_seq == 11


def test_moving_the_manifests_deploy_block_forward_hides_no_head(anchored_log, tmp_path, monkeypatch):  # noqa: F811
    """/tmp/audit-proofs/test_m_audit_tail_and_scanblock.py (M2): the scan started at the block the
    operator's deployments/<chainId>.json names, so moving it past the old heads hid them."""
    settings = anchored_log
    rewrite_from(settings, 3)
    sql(settings, "DELETE FROM audit_checkpoints")
    with session_scope(settings) as session:
        checkpoint_head(session, settings, force=True)  # one fresh checkpoint of the rewritten log
    flush_and_confirm(settings)
    assert audit_verify()[0] == 1

    deployments = tmp_path / "deployments"
    shutil.copytree(settings.deployments_dir, deployments)
    path = deployments / f"{settings.chain_id}.json"
    manifest = json.loads(path.read_text())
    latest = Web3(Web3.HTTPProvider(settings.rpc_url)).eth.block_number
    for tx_hash in (manifest["contracts"]["DocumentAnchor"]["txHash"], None):  # with and without the deploy tx
        manifest["contracts"]["DocumentAnchor"]["block"] = latest
        if tx_hash is None:
            del manifest["contracts"]["DocumentAnchor"]["txHash"]
        path.write_text(json.dumps(manifest))
        point_get_settings_at(monkeypatch, settings.model_copy(update={"deployments_dir": deployments}))
        code, report = audit_verify()
        assert code == 1 and report["first_issue"]["kind"] == "rewritten", tx_hash
        assert [(c["seq"], c["status"]) for c in report["checkpoints"]][:2] == [(6, "mismatch"), (10, "mismatch")]

    # The auditor who knows better can name the start block; a later one is theirs to answer for.
    result = CliRunner().invoke(app, ["audit", "verify", "--json", "--from-block", str(latest)])
    assert result.exit_code == 0 and json.loads(result.output)["ok"]


def test_a_tail_rewritten_with_young_times_after_anchoring_stopped_is_stale(anchored_log):  # noqa: F811
    """README's gap: an operator stops anchoring after seq 10, and two days later rewrites the tail with
    times of that moment, within the anchoring delay: it verified INTACT. A running platform anchors a
    heartbeat at least daily, so a newest anchor two days old says anchoring stopped."""
    settings = anchored_log
    record(settings, 11, 15)
    later = datetime.now(UTC) + timedelta(days=2)
    rewrite_from(settings, 11, retimed_from=later)
    with session_scope(settings) as session:
        report = verify_audit_log(session, settings, now=later + timedelta(seconds=60))
        assert not report.ok and [i.kind for i in report.issues] == ["stale"]
        assert report.first_issue.seq == 10 and "anchoring stopped" in report.first_issue.detail
        assert report.last_verified_anchor_seq == 10  # the anchored entries still verify
        quiet = verify_audit_log(session, settings.model_copy(update={"audit_heartbeat_interval": 0}),
                                 now=later + timedelta(seconds=60))  # fmt: skip
        assert quiet.ok  # without heartbeats, as before: nothing tells the two apart


def test_an_idle_log_gets_a_heartbeat_entry_that_is_anchored(anchored_log):  # noqa: F811
    from backend.anchoring.batcher import run_batcher_once
    from backend.audit.checkpoints import HEARTBEAT, heartbeat_if_idle

    settings = anchored_log
    with session_scope(settings) as session:
        assert not heartbeat_if_idle(session, settings)  # the last checkpoint is seconds old
    report = run_batcher_once(settings, now=datetime.now(UTC) + timedelta(days=1, seconds=1))
    assert report.checkpoint_seq == 11
    with session_scope(settings) as session:
        assert session.scalar(select(AuditEntry.action).where(AuditEntry.seq == 11)) == HEARTBEAT
    flush_and_confirm(settings)
    with session_scope(settings) as session:
        verified = verify_audit_log(session, settings)
        assert verified.ok and verified.last_verified_anchor_seq == 11
