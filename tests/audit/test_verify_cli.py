"""`loanchain audit verify` against a log anchored on-chain, after an insider edits, deletes or
inserts rows with SQL."""

import json
from datetime import datetime, timedelta

import pytest
from sqlalchemy import text
from typer.testing import CliRunner

from backend import audit
from backend.audit.hashing import entry_hash, format_timestamp, payload_hash
from backend.cli.main import app
from backend.db.session import session_scope
from tests.anchoring.helpers import flush_and_confirm


def record(settings, first: int, last: int) -> None:
    with session_scope(settings) as session:
        for n in range(first, last + 1):
            audit.record(session, f"user:{n}", "loan.fund", f"loan:{n}", {"amount": n * 100})


@pytest.fixture
def anchored_log(chain_db_settings, use_settings):
    """Ten entries; the head anchored on-chain at seq 6 and at seq 10."""
    settings = chain_db_settings
    record(settings, 1, 6)
    flush_and_confirm(settings)
    record(settings, 7, 10)
    flush_and_confirm(settings)
    use_settings(settings)
    return settings


def audit_verify() -> tuple[int, dict]:
    result = CliRunner().invoke(app, ["audit", "verify", "--json"], catch_exceptions=False)
    return result.exit_code, json.loads(result.output)


def sql(settings, statement: str, **params) -> None:
    with session_scope(settings) as session:
        session.execute(text(statement), params)


def test_intact_log_verifies_up_to_the_last_anchor(anchored_log):
    code, report = audit_verify()
    assert code == 0 and report["ok"] and report["entries"] == 10
    assert [(c["seq"], c["status"]) for c in report["checkpoints"]] == [(6, "holds"), (10, "holds")]
    assert report["last_verified_anchor_seq"] == 10
    human = CliRunner().invoke(app, ["audit", "verify"])
    assert human.exit_code == 0 and "INTACT" in human.output


def test_edited_row(anchored_log):
    sql(anchored_log, "UPDATE audit_entries SET actor = 'mallory' WHERE seq = 8")
    code, report = audit_verify()
    assert code == 1 and report["first_issue"]["kind"] == "edited" and report["first_issue"]["seq"] == 8
    assert report["last_verified_anchor_seq"] == 6
    human = CliRunner().invoke(app, ["audit", "verify"])
    assert "first edited entry: seq 8" in human.output and "still verifies: 6" in human.output


def test_deleted_row(anchored_log):
    sql(anchored_log, "DELETE FROM audit_entries WHERE seq = 4")
    code, report = audit_verify()
    assert code == 1 and (report["first_issue"]["kind"], report["first_issue"]["seq"]) == ("deleted", 4)
    assert report["last_verified_anchor_seq"] is None
    human = CliRunner().invoke(app, ["audit", "verify"])
    assert "None" not in human.output and "no anchored entry verifies yet" in human.output


def test_inserted_row(anchored_log):
    settings = anchored_log
    for seq in range(10, 7, -1):  # make room at seq 8, as a careful forger would
        sql(settings, "UPDATE audit_entries SET seq = :new WHERE seq = :old", new=seq + 1, old=seq)
    prev, at, payload = "0x" + "22" * 32, "2026-01-01T00:00:00.000000Z", payload_hash({"amount": 1})
    sql(settings,
        "INSERT INTO audit_entries (seq, prev_hash, entry_hash, actor, action, subject, payload_hash, recorded_at) "
        "VALUES (8, :prev, :hash, 'mallory', 'loan.fund', 'loan:666', :payload, :at)",
        prev=prev, hash=entry_hash(8, prev, "mallory", "loan.fund", "loan:666", payload, at), payload=payload, at=at)  # fmt: skip
    code, report = audit_verify()
    assert code == 1 and (report["first_issue"]["kind"], report["first_issue"]["seq"]) == ("inserted", 8)
    assert report["last_verified_anchor_seq"] == 6


def test_appended_row_beyond_the_head(anchored_log):
    settings = anchored_log
    with session_scope(settings) as session:
        last = session.execute(text("SELECT entry_hash FROM audit_entries WHERE seq = 10")).scalar()
    payload, at = payload_hash({}), "2026-01-01T00:00:00.000000Z"
    sql(settings,
        "INSERT INTO audit_entries (seq, prev_hash, entry_hash, actor, action, subject, payload_hash, recorded_at) "
        "VALUES (11, :prev, :hash, 'mallory', 'loan.fund', 'loan:666', :payload, :at)",
        prev=last, hash=entry_hash(11, last, "mallory", "loan.fund", "loan:666", payload, at), payload=payload, at=at)  # fmt: skip
    code, report = audit_verify()
    assert code == 1 and (report["first_issue"]["kind"], report["first_issue"]["seq"]) == ("inserted", 11)
    assert report["last_verified_anchor_seq"] == 10


def rewrite_from(settings, seq_edited: int, *, retimed_from: datetime | None = None) -> None:
    """The insider's rewrite: entry `seq_edited`'s actor made "mallory" or, `retimed_from` given, it and
    every later entry recorded a second apart from that time; every later hash and the head recomputed,
    self-consistent again."""
    with session_scope(settings) as session:
        rows = session.execute(text("SELECT seq, actor, action, subject, payload_hash, recorded_at "
                                    "FROM audit_entries ORDER BY seq")).all()  # fmt: skip
        session.execute(text("UPDATE audit_entries SET prev_hash = 'x' || seq, entry_hash = 'y' || seq"))
        prev = "0x" + "00" * 32
        for seq, actor, action, subject, payload, at in rows:
            if retimed_from is None and seq == seq_edited:
                actor = "mallory"
            if retimed_from is not None and seq >= seq_edited:
                at = format_timestamp(retimed_from + timedelta(seconds=seq - seq_edited))
            new = entry_hash(seq, prev, actor, action, subject, payload, at)
            session.execute(text("UPDATE audit_entries SET prev_hash = :p, entry_hash = :h, actor = :a, recorded_at = :r "
                                 "WHERE seq = :s"), {"p": prev, "h": new, "a": actor, "r": at, "s": seq})  # fmt: skip
            prev = new
        session.execute(text("UPDATE audit_head SET entry_hash = :h"), {"h": prev})


def test_a_consistently_rewritten_log_is_caught_by_its_anchors(anchored_log):
    """The insider edits entry 3 and recomputes every later hash and the head: the chain is
    self-consistent again, but no longer the one anchored on-chain."""
    rewrite_from(anchored_log, 3)
    code, report = audit_verify()
    assert code == 1 and report["first_issue"]["kind"] == "rewritten" and report["first_issue"]["seq"] == 1
    assert {c["status"] for c in report["checkpoints"]} == {"mismatch"}
    assert report["last_verified_anchor_seq"] is None


def test_deleting_the_checkpoint_rows_hides_nothing(anchored_log):
    """The insider cuts the last entries *and* deletes the checkpoint records: the chain's batch
    manifests still name the anchored heads."""
    settings = anchored_log
    sql(settings, "DELETE FROM audit_checkpoints")
    with session_scope(settings) as session:
        rows = session.execute(text("SELECT seq, prev_hash, actor, action, subject, payload_hash, recorded_at "
                                    "FROM audit_entries WHERE seq >= 9 ORDER BY seq")).all()  # fmt: skip
    # Drop entries 9 and 10 and move the head back, as if they had never been written.
    sql(settings, "DELETE FROM audit_entries WHERE seq >= 9")
    with session_scope(settings) as session:
        eight = session.execute(text("SELECT entry_hash FROM audit_entries WHERE seq = 8")).scalar()
    sql(settings, "UPDATE audit_head SET seq = 8, entry_hash = :h", h=eight)
    assert rows  # they existed

    code, report = audit_verify()
    assert code == 1
    kinds = [(i["kind"], i["seq"]) for i in report["issues"]]
    assert ("checkpoint", 6) in kinds and ("checkpoint", 10) in kinds
    assert [(c["seq"], c["status"]) for c in report["checkpoints"]] == [(6, "holds"), (10, "mismatch")]
    assert report["last_verified_anchor_seq"] == 6
    assert report["first_issue"]["kind"] == "checkpoint" and ("deleted", 9) in kinds

    without_scan = CliRunner().invoke(app, ["audit", "verify", "--json", "--no-chain-scan"])
    assert without_scan.exit_code == 0  # what the database alone can no longer show


def test_a_backdated_entry_anchored_afterwards_is_caught(anchored_log):
    """/tmp/audit-proofs/test_l_backdated_entry.py (L2): entry 11 claims 2020, after entries of this
    year, properly chained and anchored: it printed INTACT."""
    settings = anchored_log
    with session_scope(settings) as session:
        last = session.execute(text("SELECT entry_hash FROM audit_entries WHERE seq = 10")).scalar()
    at, payload = "2020-01-01T00:00:00.000000Z", payload_hash({"outcome": "approve"})
    new = entry_hash(11, last, "underwriter:0xabc", "decision.review", "decision:42", payload, at)
    sql(settings, "INSERT INTO audit_entries (seq, prev_hash, entry_hash, actor, action, subject, payload_hash, "
        "recorded_at) VALUES (11, :p, :h, 'underwriter:0xabc', 'decision.review', 'decision:42', :pl, :at)",
        p=last, h=new, pl=payload, at=at)  # fmt: skip
    sql(settings, "UPDATE audit_head SET seq = 11, entry_hash = :h", h=new)
    flush_and_confirm(settings)
    code, report = audit_verify()
    assert code == 1 and (report["first_issue"]["kind"], report["first_issue"]["seq"]) == ("misdated", 11)
    assert [(c["seq"], c["status"]) for c in report["checkpoints"]] == [(6, "holds"), (10, "holds"), (11, "holds")]
    assert report["last_verified_anchor_seq"] == 10


def test_a_log_with_nothing_anchored_yet_reads_in_words(chain_db_settings, use_settings):
    """A fresh platform printed `INTACT  last anchored seq that verifies: None`."""
    use_settings(chain_db_settings)
    human = CliRunner().invoke(app, ["audit", "verify"])
    assert human.exit_code == 0 and "INTACT" in human.output, human.output
    assert "None" not in human.output and "no anchored entry verifies yet" in human.output
