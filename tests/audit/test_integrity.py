"""The chain check names the first edited, inserted or deleted entry, even when the forger
renumbers or recomputes hashes (pure: no database)."""

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from backend.audit.hashing import format_timestamp, payload_hash
from backend.audit.integrity import CLOCK_SKEW, find_issues, find_misdated, hash_with_seq
from backend.audit.models import GENESIS_HASH


@dataclass
class Row:
    seq: int
    prev_hash: str
    entry_hash: str
    actor: str
    action: str
    subject: str
    payload_hash: str
    recorded_at: str


def chain(n: int = 8) -> list[Row]:
    rows, prev = [], GENESIS_HASH
    for seq in range(1, n + 1):
        row = Row(seq, prev, "", f"user:{seq}", "loan.fund", f"loan:{seq}", payload_hash({"n": seq}), "2026-01-01T00:00:00.000000Z")
        row.entry_hash = hash_with_seq(row, seq)
        rows.append(row)
        prev = row.entry_hash
    return rows


def forged(seq: int, prev_hash: str) -> Row:
    row = Row(seq, prev_hash, "", "mallory", "loan.fund", "loan:666", payload_hash({"n": 666}), "2026-01-01T00:00:00.000000Z")
    row.entry_hash = hash_with_seq(row, seq)
    return row


def check(rows, head_seq=None, head_hash=None):
    rows = sorted(rows, key=lambda r: r.seq)
    last = rows[-1] if rows else None
    issues = find_issues(rows, head_seq if head_seq is not None else last.seq, head_hash or last.entry_hash)
    return [(i.kind, i.seq) for i in issues]


def test_an_intact_chain_has_no_issue():
    assert check(chain()) == []
    assert find_issues([], 0, GENESIS_HASH) == []


def test_edited_field():
    rows = chain()
    rows[3].actor = "someone else"
    assert check(rows) == [("edited", 4)]


def test_edited_with_recomputed_hash():
    rows = chain()
    rows[3].subject = "loan:999"
    rows[3].entry_hash = hash_with_seq(rows[3], 4)
    assert check(rows) == [("edited", 4)]


def test_deleted_in_the_middle_with_and_without_renumbering():
    rows = chain()
    del rows[3]
    assert check(rows) == [("deleted", 4)]
    for row in rows[3:]:
        row.seq -= 1
    assert check(rows) == [("deleted", 4)]


def test_deleted_first_and_last():
    rows = chain()
    assert check(rows[1:]) == [("deleted", 1)]
    assert check(rows[:-1], head_seq=8, head_hash=rows[-1].entry_hash) == [("deleted", 8)]


def test_inserted_in_the_middle_with_renumbering():
    rows = chain()
    for row in rows[4:]:
        row.seq += 1
    rows.insert(4, forged(5, "0x" + "11" * 32))
    assert check(rows) == [("inserted", 5)]


def test_inserted_linked_to_its_predecessor():
    rows = chain()
    for row in rows[4:]:
        row.seq += 1
    rows.insert(4, forged(5, rows[3].entry_hash))
    assert check(rows) == [("inserted", 5)]


def test_appended_after_the_head():
    rows = chain()
    head = rows[-1]
    rows.append(forged(9, head.entry_hash))
    assert check(rows, head_seq=8, head_hash=head.entry_hash) == [("inserted", 9)]


def test_the_first_of_several_issues_comes_first():
    rows = chain()
    rows[6].actor = "x"
    del rows[2]
    assert check(rows)[0] == ("deleted", 3)


# --- recorded_at: entries are appended under the head lock, so their times only move forward ---


def timed(*times: str) -> list[Row]:
    rows = chain(len(times))
    for row, at in zip(rows, times):
        row.recorded_at = at
    return rows


def at(seconds: float) -> str:
    return format_timestamp(datetime(2026, 11, 30, 12, 0, tzinfo=UTC) + timedelta(seconds=seconds))


def misdated(rows, anchored_at=None):
    return [(i.kind, i.seq) for i in find_misdated(rows, anchored_at or {})]


def test_times_in_order_and_a_small_clock_step_back_are_fine():
    assert misdated(timed(at(0), at(1), at(1), at(30))) == []
    assert misdated(timed(at(0), at(10), at(10 - CLOCK_SKEW.total_seconds()), at(11))) == []


def test_an_entry_older_than_one_before_it_is_misdated():
    """/tmp/audit-proofs/test_l_backdated_entry.py (L2): entry 11 claimed 2020, after entries of 2026."""
    assert misdated(timed(at(0), at(10), "2020-01-01T00:00:00.000000Z", at(20))) == [("misdated", 3)]
    # Many steps each within the skew do not add up to a backdating: held against the latest time seen.
    steps = [at(100 - 4 * n) for n in range(5)]
    assert misdated(timed(*steps)) == [("misdated", 3), ("misdated", 4), ("misdated", 5)]


def test_an_entry_later_than_the_anchor_that_covers_it_is_misdated():
    rows = timed(at(0), at(10), at(20), at(3600), at(3601))
    anchored = {3: datetime(2026, 11, 30, 12, 0, 25, tzinfo=UTC), 5: datetime(2026, 11, 30, 13, 5, tzinfo=UTC)}
    assert misdated(rows, anchored) == []
    anchored[3] = datetime(2026, 11, 30, 12, 0, 12, tzinfo=UTC)  # entry 3 claims 20 s, anchored at 12 s
    issues = find_misdated(rows, anchored)
    assert [(i.kind, i.seq) for i in issues] == [("misdated", 3)] and "after the anchor of seq 3" in issues[0].detail
    anchored[3] = datetime(2026, 11, 30, 12, 0, 20, tzinfo=UTC) - CLOCK_SKEW  # within the skew
    assert misdated(rows, anchored) == []


def test_a_time_that_is_not_a_timestamp_is_misdated():
    assert misdated(timed(at(0), "yesterday", at(2))) == [("misdated", 2)]
