"""`loanchain audit verify`: the hash chain recomputed, then held against its on-chain anchors.

Besides entries edited, inserted, deleted or rewritten, the log fails as a whole (seq 0) when
its anchors cannot be checked: an anchored batch whose audit heads cannot be known
(`unverifiable`), or a log older than the anchoring interval that no checkpoint holds
(`unanchored`). Nothing anchored yet is fine only while the log is young enough for that.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from backend.anchoring.models import Document
from backend.anchoring.verification import platform_reader, verify_record
from backend.audit import log
from backend.audit.head_commitment import head_digest
from backend.audit.integrity import Issue, find_issues
from backend.audit.models import AuditCheckpoint, AuditEntry
from backend.config import Settings

# Issues about the anchors as a whole rather than about an entry of the log.
ANCHOR_KINDS = frozenset({"checkpoint", "unverifiable", "unanchored"})


@dataclass(frozen=True)
class CheckpointCheck:
    seq: int
    entry_hash: str
    status: str  # holds | pending | mismatch | tampered
    detail: str
    block_number: int | None = None
    tx_hash: str | None = None


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
            result.block_number, result.tx_hash,
        )  # fmt: skip
    return CheckpointCheck(cp.seq, cp.entry_hash, "holds", result.reason, result.block_number, result.tx_hash)


def verify_audit_log(
    session: Session,
    settings: Settings,
    *,
    rpc_url: str | None = None,
    check_anchors: bool = True,
    scan_chain: bool = True,
    now: datetime | None = None,
) -> AuditReport:
    """Recompute the chain; with `check_anchors`, hold it against the checkpoints the database
    records, and (`scan_chain`) those the chain names, so deleting checkpoint rows hides nothing."""
    rows = session.scalars(select(AuditEntry).order_by(AuditEntry.seq).execution_options(yield_per=1000))
    head = log.head(session)
    count = 0
    began: str | None = None

    def counted():
        nonlocal count, began
        for row in rows:
            count += 1
            began = began or row.recorded_at
            yield row

    issues = find_issues(counted(), head.seq if head else None, head.entry_hash if head else None)
    report = AuditReport(entries=count, head_seq=head.seq if head else None, issues=list(issues))
    if not check_anchors:
        return report

    def stored_hash(seq: int) -> str | None:
        return session.scalar(select(AuditEntry.entry_hash).where(AuditEntry.seq == seq))

    reader = None

    def verify(doc: Document):
        nonlocal reader
        reader = reader or platform_reader(settings, rpc_url)  # the contract's code checked once
        return verify_record(session, settings, doc, rpc_url=rpc_url, reader=reader)

    checks: dict[int, CheckpointCheck] = {}
    for cp in session.scalars(select(AuditCheckpoint).order_by(AuditCheckpoint.seq)).all():
        checks[cp.seq] = _check_checkpoint(session, cp, stored_hash(cp.seq), verify)
        if checks[cp.seq].status == "tampered":
            report.issues.append(Issue("checkpoint", cp.seq, f"checkpoint at seq {cp.seq}: {checks[cp.seq].detail}"))
    if scan_chain:
        from backend.audit.chain_checkpoints import scan_chain as scan

        found = scan(settings, rpc_url=rpc_url)
        report.issues += [Issue("unverifiable", 0, problem) for problem in found.unverifiable]
        for ccp in found.checkpoints:
            known = checks.get(ccp.seq)
            if known is not None and known.entry_hash == ccp.entry_hash and known.status != "tampered":
                continue
            stored = stored_hash(ccp.seq)
            status = "holds" if stored == ccp.entry_hash else "mismatch"
            checks[ccp.seq] = CheckpointCheck(
                ccp.seq, ccp.entry_hash, status, f"found on-chain in the batch manifest of root {ccp.root}",
                ccp.block_number, ccp.tx_hash,
            )  # fmt: skip
            if known is None:
                report.issues.append(Issue("checkpoint", ccp.seq, f"the head at seq {ccp.seq} was anchored in block "
                                           f"{ccp.block_number}, but the database has no such checkpoint (deleted)"))

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
    unanchored = _unanchored(settings, began, report.checkpoints, now or datetime.now(UTC))
    if unanchored is not None:
        report.issues.append(unanchored)
    report.issues.sort(key=lambda issue: issue.seq)
    return report


def _unanchored(settings: Settings, began: str | None, checks: list[CheckpointCheck], now: datetime) -> Issue | None:
    """A log that should have been anchored by now, and no checkpoint of which holds: either the
    anchors were never made or the checks cannot find them, and neither can vouch for the log."""
    if began is None or any(c.status == "holds" for c in checks):
        return None
    try:
        first = datetime.strptime(began, "%Y-%m-%dT%H:%M:%S.%fZ").replace(tzinfo=UTC)
    except ValueError:
        return None  # an edited timestamp: find_issues has reported that entry already
    # The first head is queued at once; its batch waits at most the batch interval.
    allowed = settings.audit_anchor_interval + settings.anchor_batch_interval
    age = (now - first).total_seconds()
    if age <= allowed:
        return None
    return Issue("unanchored", 0, f"the log began {age:.0f} s ago ({began}), more than the {allowed:.0f} s it may "
                 "go unanchored, and no on-chain checkpoint of it holds")  # fmt: skip
