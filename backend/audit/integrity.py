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
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass
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
    kind: str  # edited | inserted | deleted | rewritten | checkpoint
    seq: int  # the first entry concerned (for deleted: where the missing entry was)
    detail: str


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
