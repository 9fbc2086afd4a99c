"""Recomputing the audit hash chain and naming the first entry that was edited, inserted or
deleted. Pure: works on rows already read, so it is tested without a database.

Each row is judged by its links, not its seq alone, because a careful forger renumbers:
- a row is *authentic* when its stored hash recomputes from its fields with its original seq,
  which is its predecessor's (the row whose hash it names as prev_hash) plus one;
- a row nothing links to, whose successor links over it to its predecessor, was *inserted*;
- a row whose prev_hash names an earlier row than the one before it follows *inserted* rows;
- a row whose prev_hash names no row follows a *deleted* one, unless it is authentic in its
  original place: then the row before it was replaced (*edited*, hash recomputed);
- a row whose hash does not recompute was *edited*.
The head row catches appends and deletions at the end; on-chain checkpoints catch a log
rewritten consistently up to a point (kind `rewritten`).

`find_misdated` checks the times the entries claim (kind `misdated`): appends serialise on the
head lock, so `recorded_at` only moves forward, but for a clock step of up to CLOCK_SKEW; and an
entry cannot have been recorded after the first on-chain anchor of a head at or beyond it. The
chain gives no lower bound: entries after an anchored head may be recorded before that anchor's
block, while its transaction is under way.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Protocol

from backend.audit.hashing import entry_hash
from backend.audit.models import GENESIS_HASH


class EntryLike(Protocol):
    seq: int
    prev_hash: str
    entry_hash: str
    actor: str
    action: str
    subject: str
    payload_hash: str
    recorded_at: str


@dataclass(frozen=True)
class Issue:
    kind: str  # edited | inserted | deleted | rewritten | misdated | checkpoint, and verify.ANCHOR_KINDS
    seq: int  # the first entry concerned (for deleted: where the missing entry was)
    detail: str


class TimedEntry(Protocol):
    seq: int
    recorded_at: str


# How far back the clock of one appender may be behind another's (NTP steps, several hosts).
CLOCK_SKEW = timedelta(seconds=5)
TIME_FORMAT = "%Y-%m-%dT%H:%M:%S.%fZ"  # hashing.format_timestamp


def parse_recorded_at(text: str) -> datetime | None:
    try:
        return datetime.strptime(text, TIME_FORMAT).replace(tzinfo=UTC)
    except (TypeError, ValueError):
        return None


def find_misdated(
    rows: Iterable[TimedEntry], anchored_at: Mapping[int, datetime], skew: timedelta = CLOCK_SKEW
) -> list[Issue]:
    """Entries (ordered by seq) whose time is earlier than one before them by more than `skew`
    (held against the latest time seen, so steps within the skew do not add up), later than the
    block time of the anchor of a head at or after them (`anchored_at`: seq -> block time of the
    first anchor of that seq that holds), or not a timestamp at all."""
    issues: list[Issue] = []
    latest: tuple[int, datetime] | None = None  # (seq, time) of the latest time claimed so far
    flagged: set[int] = set()
    for row in rows:
        moment = parse_recorded_at(row.recorded_at)
        if moment is None:
            issues.append(Issue("misdated", row.seq, f"entry {row.seq}'s time {row.recorded_at!r} is not a timestamp"))
        elif latest is not None and moment < latest[1] - skew:
            issues.append(Issue("misdated", row.seq, f"entry {row.seq} claims {row.recorded_at}, "
                                f"{(latest[1] - moment).total_seconds():.0f} s before entry {latest[0]} it follows"))  # fmt: skip
        elif latest is None or moment > latest[1]:
            latest = (row.seq, moment)
        block_time = anchored_at.get(row.seq)
        if block_time is not None and latest is not None and latest[1] > block_time + skew and latest[0] not in flagged:
            flagged.add(latest[0])
            issues.append(Issue("misdated", latest[0], f"entry {latest[0]} claims {latest[1]:%Y-%m-%dT%H:%M:%S}Z, "
                                f"after the anchor of seq {row.seq} that covers it ({block_time:%Y-%m-%dT%H:%M:%S}Z)"))  # fmt: skip
    return sorted(issues, key=lambda issue: issue.seq)


def hash_with_seq(row: EntryLike, seq: int) -> str:
    return entry_hash(seq, row.prev_hash, row.actor, row.action, row.subject, row.payload_hash, row.recorded_at)


def _with_next(rows: Iterable[EntryLike]) -> Iterator[tuple[EntryLike, EntryLike | None]]:
    it = iter(rows)
    current = next(it, None)
    while current is not None:
        following = next(it, None)
        yield current, following
        current = following


def find_issues(rows: Iterable[EntryLike], head_seq: int | None, head_hash: str | None) -> list[Issue]:
    """Every break in the chain of `rows` (ordered by seq) and against the head row."""
    issues: list[Issue] = []
    original: dict[str, int] = {GENESIS_HASH: 0}  # hash -> original seq, of authentic rows
    position: dict[str, int] = {}  # hash -> index in `seqs` (the rows kept in the chain)
    seqs: list[int] = []
    prev: EntryLike | None = None
    prev_original = 0  # the original seq of `prev`
    offset = 0  # current seq - original seq, as explained by issues found so far

    for row, following in _with_next(rows):
        expected_prev = prev.entry_hash if prev else GENESIS_HASH
        candidates = [original[row.prev_hash] + 1] if row.prev_hash in original else []
        candidates += [row.seq, prev_original + 2, row.seq - offset]
        orig_seq = next((s for s in candidates if hash_with_seq(row, s) == row.entry_hash), None)
        here = prev.seq + 1 if prev else 1

        if following is not None and following.prev_hash == expected_prev and following.prev_hash != row.entry_hash:
            before = f"entry {prev.seq}" if prev else "the start"
            issues.append(Issue("inserted", row.seq, f"entry {row.seq} is not part of the chain: "
                                f"entry {following.seq} links over it to {before}"))
            offset += 1
            continue  # skip it: the rest of the chain links around it
        if row.prev_hash != expected_prev:
            if row.prev_hash in position:
                first = seqs[position[row.prev_hash] + 1]
                back_to = seqs[position[row.prev_hash]]
                issues.append(Issue("inserted", first, f"entry {row.seq} links back to entry {back_to}: "
                                    f"entries {first}..{prev.seq} were inserted"))
            elif orig_seq is not None and prev is not None and orig_seq == prev_original + 1:
                issues.append(Issue("edited", prev.seq, f"entry {prev.seq} was replaced (its hash recomputed): "
                                    f"entry {row.seq} still links to the original"))
            else:
                issues.append(Issue("deleted", here, f"the entry before {row.seq} is missing (expected at seq {here})"))
        elif orig_seq is None:
            issues.append(Issue("edited", row.seq, f"entry {row.seq}'s fields do not hash to its stored hash"))
        elif row.seq - orig_seq != offset and row.seq != here:
            issues.append(Issue("edited", row.seq, f"entry {row.seq} was renumbered (originally {orig_seq})"))

        if orig_seq is not None:
            original[row.entry_hash] = orig_seq
            offset = row.seq - orig_seq
        position[row.entry_hash] = len(seqs)
        seqs.append(row.seq)
        prev, prev_original = row, orig_seq if orig_seq is not None else (prev_original + 1)

    issues += _head_issues(prev, position, seqs, head_seq, head_hash)
    return sorted(issues, key=lambda issue: issue.seq)


def _head_issues(last, position, seqs, head_seq, head_hash) -> list[Issue]:
    if head_seq is None:
        return [Issue("edited", 0, "the audit head row is missing")] if last else []
    last_seq = last.seq if last else 0
    last_hash = last.entry_hash if last else GENESIS_HASH
    if (head_seq, head_hash) == (last_seq, last_hash):
        return []
    if head_hash in position and seqs[position[head_hash]] < last_seq:
        first = seqs[position[head_hash] + 1]
        return [Issue("inserted", first, f"entries {first}..{last_seq} were appended after the head ({head_seq})")]
    if head_seq > last_seq:
        return [Issue("deleted", last_seq + 1, f"entries {last_seq + 1}..{head_seq} are missing at the end")]
    return [Issue("edited", last_seq, f"the head row ({head_seq}, {head_hash}) does not match the last entry")]
