"""`loanchain audit verify`: the hash chain recomputed, then held against its on-chain anchors.

The chain is append-only, so the first on-chain anchor of a seq is the one the log is held
against, whatever the checkpoint rows say; a later anchor naming another hash for that seq is
evidence of a rewrite in itself (`reanchored`, naming both blocks). Besides entries edited,
inserted, deleted, rewritten or misdated (a time out of order, or after its anchor), the log
fails when its anchors cannot vouch for it: an anchored batch whose audit heads cannot be known
(`unverifiable`, seq 0), or entries no holding checkpoint covers, older than the anchoring delay
(`unanchored`: seq 0 when nothing holds, else the first entry after the last holding checkpoint).
A checkpoint queued but not on chain yet does not extend the delay: the delay already allows for
the batcher's and the outbox's rounds, so one still pending after it means they are stopped or
stuck, and the issue names it.

A restore from a backup loses the entries after the backup's head, while the heads anchored of
them stay on chain. The restore appends a `backup.restored` entry naming that head; an anchor of a
seq past it, mined before that entry was recorded, is reported `lost in restore` (not an issue),
and the log is held against the anchors after it. Such anchors are shown, never hidden: an
insider able to rewrite the log could forge the entry too, so check them against the restores the
operators know they made.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from datetime import UTC, datetime
from functools import cache

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from backend.anchoring.models import Document
from backend.anchoring.verification import platform_reader, verify_record
from backend.audit import log
from backend.audit.head_commitment import head_digest
from backend.audit.integrity import Issue, find_issues, find_misdated, parse_recorded_at
from backend.audit.models import AuditCheckpoint, AuditEntry
from backend.config import Settings

# A restore from a backup appends this entry, its subject naming the backup's head: heads anchored
# past that seq before the entry was recorded are of entries lost with the restore, not tampering.
RESTORED = "backup.restored"
LOST = "lost in restore"


def restored_subject(head_seq: int) -> str:
    return f"backup-head:{head_seq}"


@dataclass(frozen=True)
class _Restore:
    seq: int  # of the backup.restored entry
    backup_head: int
    at: datetime


def _restores(session: Session) -> list[_Restore]:
    found = []
    for entry in session.scalars(select(AuditEntry).where(AuditEntry.action == RESTORED, AuditEntry.actor == "system")):
        kind, _, head = entry.subject.partition(":")
        if kind == "backup-head" and head.isdigit():
            found.append(_Restore(entry.seq, int(head), parse_recorded_at(entry.recorded_at)))
    return found


def _lost_in(restores: list[_Restore], check: CheckpointCheck) -> _Restore | None:
    """The restore that superseded this on-chain anchor: one of a seq past the backup's head,
    mined before the restore was recorded. An anchor mined after it is held against the log."""
    if check.block_time is None or check.status == "holds":
        return None
    return next((r for r in restores if check.seq > r.backup_head and check.block_time <= r.at), None)


# Issues about the anchors as a whole rather than about an entry of the log.
ANCHOR_KINDS = frozenset({"checkpoint", "unverifiable", "unanchored", "reanchored", "stale"})

# Beyond the audit and batch intervals, for the workers' polls and the anchor transaction to be
# sent and confirmed: an honest platform whose anchor-batcher runs is never flagged `unanchored`.
ANCHORING_SLACK = 300.0


def anchoring_delay(settings: Settings) -> float:
    """Seconds after an entry is recorded by which a holding on-chain checkpoint must cover it."""
    return settings.audit_anchor_interval + settings.anchor_batch_interval + ANCHORING_SLACK


@dataclass(frozen=True)
class CheckpointCheck:
    seq: int
    entry_hash: str
    status: str  # holds | pending | mismatch | tampered
    detail: str
    block_number: int | None = None
    tx_hash: str | None = None
    block_time: datetime | None = None


@dataclass
class AuditReport:
    entries: int
    head_seq: int | None
    issues: list[Issue] = field(default_factory=list)
    checkpoints: list[CheckpointCheck] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.issues

    @property
    def first_issue(self) -> Issue | None:
        return self.issues[0] if self.issues else None

    @property
    def last_verified_anchor_seq(self) -> int | None:
        """The newest anchored seq whose entry, and every entry before it, still verifies."""
        entry_issues = [i.seq for i in self.issues if i.kind not in ANCHOR_KINDS]
        first_bad = min(entry_issues, default=None)
        holding = [c.seq for c in self.checkpoints if c.status == "holds" and (first_bad is None or c.seq < first_bad)]
        return max(holding, default=None)


def _check_checkpoint(session: Session, cp: AuditCheckpoint, stored: str | None, verify) -> CheckpointCheck:
    doc = session.get(Document, cp.document_id)
    # The raw entry hash is how heads were queued before they were anchored alone.
    if doc is None or doc.doc_hash not in (head_digest(cp.seq, cp.entry_hash), cp.entry_hash):
        return CheckpointCheck(cp.seq, cp.entry_hash, "tampered", "its anchored-document record is missing or altered")
    result = verify(doc)
    if result.status == "pending":
        return CheckpointCheck(cp.seq, cp.entry_hash, "pending", result.reason)
    if result.status != "verified":
        return CheckpointCheck(cp.seq, cp.entry_hash, "tampered", result.reason)
    if stored != cp.entry_hash:
        found = "no entry" if stored is None else f"entry hash {stored}"
        return CheckpointCheck(
            cp.seq, cp.entry_hash, "mismatch", f"anchored hash {cp.entry_hash}, the log now has {found}",
            result.block_number, result.tx_hash, result.timestamp,
        )  # fmt: skip
    return CheckpointCheck(
        cp.seq, cp.entry_hash, "holds", result.reason, result.block_number, result.tx_hash, result.timestamp
    )


def verify_audit_log(
    session: Session,
    settings: Settings,
    *,
    rpc_url: str | None = None,
    check_anchors: bool = True,
    scan_chain: bool = True,
    from_block: int | None = None,
    now: datetime | None = None,
) -> AuditReport:
    """Recompute the chain; with `check_anchors`, hold it against the checkpoints the database
    records, and (`scan_chain`, from `from_block` or DocumentAnchor's creation) those the chain
    names, so deleting or re-pointing checkpoint rows hides nothing."""
    rows = session.scalars(select(AuditEntry).order_by(AuditEntry.seq).execution_options(yield_per=1000))
    head = log.head(session)
    count = 0

    def counted():
        nonlocal count
        for row in rows:
            count += 1
            yield row

    issues = find_issues(counted(), head.seq if head else None, head.entry_hash if head else None)
    report = AuditReport(entries=count, head_seq=head.seq if head else None, issues=list(issues))
    if not check_anchors:
        report.issues += _misdated(session, {})
        report.issues.sort(key=lambda issue: issue.seq)
        return report

    @cache
    def stored_hash(seq: int) -> str | None:
        return session.scalar(select(AuditEntry.entry_hash).where(AuditEntry.seq == seq))

    reader = None

    def verify(doc: Document):
        nonlocal reader
        reader = reader or platform_reader(settings, rpc_url)  # the contract's code checked once
        return verify_record(session, settings, doc, rpc_url=rpc_url, reader=reader)

    restores = _restores(session)
    recorded: dict[int, CheckpointCheck] = {}  # the database's checkpoints
    anchorings: dict[int, list[CheckpointCheck]] = defaultdict(list)  # every on-chain anchor of each seq
    for cp in session.scalars(select(AuditCheckpoint).order_by(AuditCheckpoint.seq)).all():
        check = recorded[cp.seq] = _check_checkpoint(session, cp, stored_hash(cp.seq), verify)
        if check.status == "tampered":
            report.issues.append(Issue("checkpoint", cp.seq, f"checkpoint at seq {cp.seq}: {check.detail}"))
        elif check.block_number is not None:
            anchorings[cp.seq].append(check)
    if scan_chain:
        from backend.audit.chain_checkpoints import scan_chain as scan

        found = scan(settings, rpc_url=rpc_url, from_block=from_block)
        report.issues += [Issue("unverifiable", 0, problem) for problem in found.unverifiable]
        for ccp in found.checkpoints:
            if stored_hash(ccp.seq) != ccp.entry_hash:
                lost = CheckpointCheck(ccp.seq, ccp.entry_hash, "mismatch", "", ccp.block_number, ccp.tx_hash, ccp.block_time)
                if (restore := _lost_in(restores, lost)) is not None:  # not a deleted checkpoint either
                    report.checkpoints.append(_lost(lost, restore))
                    continue
            if ccp.seq not in recorded and ccp.seq not in anchorings:
                report.issues.append(Issue("checkpoint", ccp.seq, f"the head at seq {ccp.seq} was anchored in block "
                                           f"{ccp.block_number}, but the database has no such checkpoint (deleted)"))
            anchorings[ccp.seq].append(CheckpointCheck(
                ccp.seq, ccp.entry_hash, "holds" if stored_hash(ccp.seq) == ccp.entry_hash else "mismatch",
                f"found on-chain in the batch manifest of root {ccp.root}", ccp.block_number, ccp.tx_hash,
                ccp.block_time,
            ))  # fmt: skip

    checks = {seq: check for seq, check in recorded.items() if check.block_number is None}  # pending, tampered
    for seq, found_anchors in list(anchorings.items()):
        for check in list(found_anchors):
            if (restore := _lost_in(restores, check)) is not None:
                found_anchors.remove(check)
                if not any(c.seq == seq and c.status == LOST for c in report.checkpoints):
                    report.checkpoints.append(_lost(check, restore))
        if not found_anchors:
            continue
        checks[seq] = _first_anchor(found_anchors, report.issues)

    holding = 0
    for seq in sorted(checks):
        check = checks[seq]
        report.checkpoints.append(check)
        if check.status == "holds" and not any(i.seq <= seq and i.kind != "checkpoint" for i in issues):
            holding = seq
        elif check.status == "mismatch" and not any(i.seq <= seq for i in issues):
            last = session.scalar(select(func.max(AuditEntry.seq))) or 0
            if last < seq:  # the log ends before a head that was anchored: its tail was cut
                report.issues.append(Issue("deleted", last + 1, f"entries {last + 1}..{seq} are missing: the head at "
                                           f"seq {seq} was anchored in block {check.block_number}"))
                continue
            # The chain is self-consistent but not the one anchored: rewritten wholesale.
            report.issues.append(
                Issue("rewritten", holding + 1, f"entries {holding + 1}..{seq} differ from the log anchored at seq "
                      f"{seq} (block {check.block_number}): rewritten with recomputed hashes")
            )  # fmt: skip
    anchored_at = {c.seq: c.block_time for c in report.checkpoints if c.status == "holds" and c.block_time}
    report.issues += _misdated(session, anchored_at)
    unanchored = _unanchored(session, settings, report.checkpoints, now or datetime.now(UTC))
    if unanchored is not None:
        report.issues.append(unanchored)
    stale = _stale(settings, report.checkpoints, now or datetime.now(UTC))
    if stale is not None:
        report.issues.append(stale)
    report.issues.sort(key=lambda issue: issue.seq)
    report.checkpoints.sort(key=lambda check: check.seq)
    return report


def _lost(check: CheckpointCheck, restore: _Restore) -> CheckpointCheck:
    return CheckpointCheck(check.seq, check.entry_hash, LOST,
                           f"anchored before the log was restored from a backup whose head was seq {restore.backup_head} "
                           f"({RESTORED} at seq {restore.seq}): its entries were lost with the restore",
                           check.block_number, check.tx_hash, check.block_time)  # fmt: skip


def _first_anchor(anchors: list[CheckpointCheck], issues: list[Issue]) -> CheckpointCheck:
    """The first on-chain anchor of one seq (the database's own check first within a block): the
    one that stands. Each later anchor naming another entry hash is an issue of its own."""
    first = min(anchors, key=lambda check: check.block_number)
    named = {first.entry_hash}
    for other in sorted(anchors, key=lambda check: check.block_number):
        if other.entry_hash not in named:
            named.add(other.entry_hash)
            issues.append(Issue(
                "reanchored", first.seq, f"the head at seq {first.seq} was anchored in block {first.block_number} as "
                f"{first.entry_hash}, and again in block {other.block_number} as {other.entry_hash}: the chain is "
                "append-only, so the first stands, and a second head for one seq means the log was rewritten",
            ))  # fmt: skip
    return first


def _misdated(session: Session, anchored_at: dict[int, datetime]) -> list[Issue]:
    times = session.execute(select(AuditEntry.seq, AuditEntry.recorded_at).order_by(AuditEntry.seq)
                            .execution_options(yield_per=5000))  # fmt: skip
    return find_misdated(times, anchored_at)


def _stale(settings: Settings, checks: list[CheckpointCheck], now: datetime) -> Issue | None:
    """The newest checkpoint that holds was mined longer ago than an idle platform's heartbeat plus the
    anchoring delay allow (`checkpoints.heartbeat_if_idle`): anchoring stopped (or the platform was down)
    since, and the entries after it are dated by their own recorded_at only, which whoever stopped it
    could have written with recent times (see README: *Audit log*)."""
    if not settings.audit_heartbeat_interval:
        return None
    newest = max((c for c in checks if c.status == "holds" and c.block_time), key=lambda c: c.seq, default=None)
    if newest is None:
        return None  # nothing anchored yet: `_unanchored` judges the log by its first entry's age
    allowed = settings.audit_heartbeat_interval + anchoring_delay(settings)
    age = (now - newest.block_time).total_seconds()
    if age <= allowed:
        return None
    return Issue("stale", newest.seq, f"the newest on-chain checkpoint (seq {newest.seq}, block {newest.block_number}) "
                 f"was mined {age:.0f} s ago, more than the {allowed:.0f} s a running platform leaves between two (a "
                 "heartbeat entry when idle, then the anchoring delay): anchoring stopped, or the platform was down, "
                 "since then, and the entries after it are dated by their own recorded times only")  # fmt: skip


def _unanchored(session: Session, settings: Settings, checks: list[CheckpointCheck], now: datetime) -> Issue | None:
    """Entries after the last checkpoint that holds, the first of them older than the anchoring
    delay: either their anchors were never made or the checks cannot find them, and neither
    vouches for them. Their age is their own recorded_at (see README: *Audit log*)."""
    covered = max((c.seq for c in checks if c.status == "holds"), default=0)
    first = session.execute(select(AuditEntry.seq, AuditEntry.recorded_at).where(AuditEntry.seq > covered)
                            .order_by(AuditEntry.seq).limit(1)).first()  # fmt: skip
    since = parse_recorded_at(first.recorded_at) if first else None
    if since is None:
        return None  # nothing after the last anchor, or a time find_misdated reports
    allowed = anchoring_delay(settings)
    age = (now - since).total_seconds()
    if age <= allowed:
        return None
    queued = [c for c in checks if c.status == "pending" and c.seq > covered]
    stuck = f"; the checkpoint at seq {queued[-1].seq} is queued but not anchored ({queued[-1].detail})" if queued else ""
    if covered == 0:
        return Issue("unanchored", 0, f"the log began {age:.0f} s ago ({first.recorded_at}), more than the "
                     f"{allowed:.0f} s it may go unanchored, and no on-chain checkpoint of it holds{stuck}")  # fmt: skip
    last = session.scalar(select(func.max(AuditEntry.seq)))
    return Issue("unanchored", first.seq, f"entries {first.seq}..{last} are not anchored: the first was recorded "
                 f"{age:.0f} s ago ({first.recorded_at}), more than the {allowed:.0f} s allowed, and the last "
                 f"checkpoint that holds is at seq {covered}{stuck}")  # fmt: skip
