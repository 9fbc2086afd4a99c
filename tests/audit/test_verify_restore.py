"""`audit verify` after a restore: the entries recorded after the backup are lost with it, and the
heads anchored of them stay on chain. The restore records itself in the log (`backup.restored`,
naming the backup's head), so verify names those anchors `lost in restore` instead of reporting
the log as tampered for good; an edit after the restore is still tampering."""

from sqlalchemy import text

from backend.audit.verify import verify_audit_log
from backend.backup.service import create_backup, restore_backup
from backend.db import migrate
from backend.db.session import session_scope
from tests.anchoring.helpers import flush_and_confirm
from tests.audit.test_verify_cli import record


def test_the_anchors_a_restore_superseded_are_lost_in_restore_not_tampering(chain_db_settings, tmp_path):
    s = chain_db_settings
    record(s, 1, 6)
    flush_and_confirm(s)  # head anchored at seq 6
    backup = tmp_path / "nightly.lcbk"
    create_backup(s, backup)
    record(s, 7, 10)
    flush_and_confirm(s)  # head anchored at seq 10, after the backup: lost with the disaster

    target = s.model_copy(update={"database_url": f"sqlite:///{tmp_path / 'restored.db'}"})
    migrate.upgrade(target)
    restore_backup(target, backup)
    with session_scope(target) as session:
        right_after = verify_audit_log(session, target)
    assert right_after.ok, right_after.issues
    lost = [c for c in right_after.checkpoints if c.status == "lost in restore"]
    assert [c.seq for c in lost] == [10] and "backup.restored" in lost[0].detail

    record(target, 107, 112)  # the platform carries on; its new heads are anchored at the seqs reused
    flush_and_confirm(target)
    with session_scope(target) as session:
        later = verify_audit_log(session, target)
    assert later.ok, later.issues
    assert [c.seq for c in later.checkpoints if c.status == "lost in restore"] == [10]

    with session_scope(target) as session:  # an insider edits an entry after the restore
        session.execute(text("UPDATE audit_entries SET subject = 'loan:999' WHERE seq = 9"))
    with session_scope(target) as session:
        tampered = verify_audit_log(session, target)
    assert not tampered.ok and tampered.first_issue.seq == 9
