"""audit.record appends one linked entry in the caller's transaction, never forking."""

import threading
from contextlib import nullcontext

import pytest
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from backend import audit
from backend.audit.log import HEAD_ID, head, recompute
from backend.audit.models import GENESIS_HASH, AuditEntry, AuditHead
from backend.audit.verify import verify_audit_log
from backend.db.session import session_scope
from backend.errors import ValidationFailed


def test_entries_link_and_the_head_follows(db_settings):
    with session_scope(db_settings) as session:
        first = audit.record(session, "user:1", "kyc.submit", "kyc:1", {"level": 2})
        second = audit.record(session, actor="admin:2", action="kyc.approve", subject="kyc:1", payload={"level": 2})
    assert (first.seq, first.prev_hash) == (1, GENESIS_HASH)
    assert (second.seq, second.prev_hash) == (2, first.entry_hash)
    with session_scope(db_settings) as session:
        assert all(recompute(e) == e.entry_hash for e in session.scalars(select(AuditEntry)))
        assert (head(session).seq, head(session).entry_hash) == (2, second.entry_hash)


def test_an_entry_rolls_back_with_its_action(db_settings):
    with pytest.raises(RuntimeError), session_scope(db_settings) as session:
        audit.record(session, "user:1", "loan.create", "loan:1", {})
        raise RuntimeError("the business action failed")
    with session_scope(db_settings) as session:
        assert session.scalars(select(AuditEntry)).all() == [] and head(session).seq == 0


@pytest.mark.parametrize("field", ["actor", "action", "subject"])
def test_blank_fields_are_refused(db_settings, field):
    values = {"actor": "a", "action": "b", "subject": "c", field: " "}
    with session_scope(db_settings) as session, pytest.raises(ValidationFailed):
        audit.record(session, payload={}, **values)


def test_concurrent_appends_never_fork(db_settings):
    """Several API workers appending at once (threads with their own connections)."""
    errors = []

    def worker(n: int) -> None:
        try:
            for i in range(8):
                with session_scope(db_settings) as session:
                    audit.record(session, f"worker:{n}", "loan.fund", f"loan:{i}", {"i": i})
        except Exception as exc:  # surfaced below
            errors.append(exc)

    threads = [threading.Thread(target=worker, args=(n,)) for n in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    with session_scope(db_settings) as session:
        seqs = list(session.scalars(select(AuditEntry.seq).order_by(AuditEntry.seq)))
        assert seqs == list(range(1, 49))
        report = verify_audit_log(session, db_settings, check_anchors=False)
        assert report.ok and report.entries == 48


def test_deferred_entries_are_appended_at_its_close_in_order_and_the_head_stays_free_until_then(db_settings):
    from sqlalchemy import text

    def head_is_free() -> bool:  # another API worker's append would not wait now
        if not db_settings.database_url.startswith("postgresql"):
            return True  # SQLite has one write lock for the whole database: nothing finer to probe
        from sqlalchemy.exc import OperationalError

        with session_scope(db_settings) as other:
            try:
                other.execute(text("SELECT seq FROM audit_head FOR UPDATE NOWAIT"))
                return True
            except OperationalError:
                return False

    with session_scope(db_settings) as session:
        with audit.deferred(session):
            assert audit.record(session, "servicing", "notice.due_soon", "loan:1", {"n": 1}) is None
            with audit.deferred(session):  # nested: the outermost appends
                audit.record(session, "servicing", "notice.overdue", "loan:2", {"n": 2})
            assert session.scalars(select(AuditEntry)).all() == [] and head_is_free()  # the slow part of a job runs here
        appended = session.scalars(select(AuditEntry).order_by(AuditEntry.seq)).all()
        assert [(e.seq, e.subject) for e in appended] == [(1, "loan:1"), (2, "loan:2")]
        assert not head_is_free() or db_settings.database_url.startswith("sqlite")  # from its close to the commit
    with pytest.raises(RuntimeError), session_scope(db_settings) as session, audit.deferred(session):
        audit.record(session, "servicing", "notice.late", "loan:3", {})
        raise RuntimeError("the pass failed")
    with session_scope(db_settings) as session:
        assert head(session).seq == 2 and verify_audit_log(session, db_settings, check_anchors=False).ok


def test_a_commit_inside_deferred_appends_what_is_pending_first(db_settings):
    """An entry never misses the transaction of what it records, even when a step commits early
    (a refresh-token reuse commits its revocation before refusing the request)."""
    with pytest.raises(RuntimeError), session_scope(db_settings) as session, audit.deferred(session):
        audit.record(session, "user:1", "session.end", "wallet:1", {})
        session.commit()
        audit.record(session, "user:1", "loan.create", "loan:1", {})
        raise RuntimeError("refused after the commit")
    with session_scope(db_settings) as session:
        assert [e.action for e in session.scalars(select(AuditEntry).order_by(AuditEntry.seq))] == ["session.end"]


def test_a_savepoint_rolled_back_drops_the_entries_recorded_in_it_deferred_or_not(db_settings):
    """What a rolled-back savepoint undid (a document stored by a publisher that lost a race) is not
    audited as done: not at once, nor when `deferred` closes; its neighbours' entries stay."""
    for deferring in (True, False):
        with session_scope(db_settings) as session, (audit.deferred(session) if deferring else nullcontext()):
            audit.record(session, "servicing", "before", "loan:1", {})
            with pytest.raises(RuntimeError), session.begin_nested():
                audit.record(session, "servicing", "undone", "loan:2", {})
                with session.begin_nested():  # released inside the one rolled back: undone too
                    audit.record(session, "servicing", "undone.inner", "loan:3", {})
                raise RuntimeError("lost the race")
            with pytest.raises(IntegrityError), session.begin_nested():  # a failed flush rolls it back
                audit.record(session, "servicing", "undone.flush", "loan:4", {})
                session.add(AuditHead(id=HEAD_ID, seq=0, entry_hash=GENESIS_HASH))
                session.flush()
            with session.begin_nested():  # released: kept
                audit.record(session, "servicing", "kept", "loan:5", {})
    with session_scope(db_settings) as session:
        actions = [e.action for e in session.scalars(select(AuditEntry).order_by(AuditEntry.seq))]
        assert actions == ["before", "kept"] * 2 and verify_audit_log(session, db_settings, check_anchors=False).ok


def test_a_requests_entries_are_appended_when_its_handler_returns(db_settings):
    from backend.api.deps import get_db

    requests = get_db(db_settings)
    session = next(requests)
    assert audit.record(session, "0xabc", "mandate.sign", "wallet:0xabc", {}) is None  # queued: the handler's reads go on
    assert session.scalars(select(AuditEntry)).all() == []
    with pytest.raises(StopIteration):
        next(requests)  # the handler returned: appended, then committed
    with session_scope(db_settings) as session:
        assert [e.action for e in session.scalars(select(AuditEntry))] == ["mandate.sign"]
