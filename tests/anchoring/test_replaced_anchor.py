"""A redeploy of DocumentAnchor (a new compiler, an edit to the contract) leaves every root anchored
before on the old contract. The deployment manifest records it in its `history`, and what was
anchored there stays verified: by the database's records, by a proof file, and in the audit log's
anchors, which `audit verify` also finds on the old contract's events."""

from __future__ import annotations

import json
import shutil

from sqlalchemy import text

from backend.anchoring.verification import export_proof, verify_cid, verify_with_proof_file
from backend.audit.verify import verify_audit_log
from backend.chain.deploy import deploy_all, manifest_path
from backend.content.cid import cid_of
from backend.db.session import session_scope
from tests.anchoring.helpers import anchor_files, flush_and_confirm

BEFORE = b'{"document":"loanchain loan agreement","terms":{"principal":1000}}'
AFTER = b'{"document":"loanchain loan agreement","terms":{"principal":2000}}'


def _replace_document_anchor(settings, tmp_path):
    """Redeploy DocumentAnchor as `loanchain deploy` does when its bytecode changed, on a copy of the
    deployment manifest (the session chain's stays as it was)."""
    deployments = tmp_path / "deployments"
    shutil.copytree(settings.deployments_dir, deployments)
    moved = settings.model_copy(update={"deployments_dir": deployments})
    path = manifest_path(moved, moved.chain_id)
    manifest = json.loads(path.read_text())
    old = manifest["contracts"]["DocumentAnchor"]["address"]
    manifest["contracts"]["DocumentAnchor"]["fingerprint"] = "a new compiler's"
    path.write_text(json.dumps(manifest))
    assert deploy_all(moved).deployed == ["DocumentAnchor"]
    new = json.loads(path.read_text())["contracts"]["DocumentAnchor"]["address"]
    assert new != old
    return moved, old, new


def test_what_was_anchored_before_document_anchor_was_replaced_stays_verified(settings, tmp_path):
    anchor_files(settings, [BEFORE])
    flush_and_confirm(settings)
    moved, old, new = _replace_document_anchor(settings, tmp_path)
    anchor_files(moved, [AFTER])
    flush_and_confirm(moved)

    with session_scope(moved) as session:
        before, after = verify_cid(session, moved, cid_of(BEFORE)), verify_cid(session, moved, cid_of(AFTER))
        proof = export_proof(session, moved, cid=cid_of(BEFORE))
        audit = verify_audit_log(session, moved)
    assert (before.status, before.contract) == ("verified", old), before.reason
    assert "history" in before.checked_against and "code hash matches" in before.checked_against
    assert (after.status, after.contract) == ("verified", new), after.reason
    offline = verify_with_proof_file(moved, BEFORE, proof)  # the proof names the old contract
    assert (offline.status, offline.contract) == ("verified", old), offline.reason
    assert audit.ok, [i.detail for i in audit.issues]
    holding = [c for c in audit.checkpoints if c.status == "holds"]
    assert len(holding) >= 2 and audit.last_verified_anchor_seq == max(c.seq for c in holding)

    # Deleting the checkpoint rows hides nothing: the chain's events name the heads, the old contract's too.
    with session_scope(moved) as session:
        session.execute(text("DELETE FROM audit_checkpoints"))
    with session_scope(moved) as session:
        scanned = verify_audit_log(session, moved)
    assert [(c.seq, c.status, c.block_number) for c in scanned.checkpoints] == [
        (c.seq, c.status, c.block_number) for c in holding]
