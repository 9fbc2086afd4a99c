"""`loanchain audit verify`: the hash chain recomputed, then held against its on-chain anchors."""

from __future__ import annotations

from dataclasses import dataclass, field

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from backend.anchoring.models import Document
from backend.anchoring.verification import verify_record
from backend.audit import log
from backend.audit.integrity import Issue, find_issues
from backend.audit.models import AuditCheckpoint, AuditEntry
from backend.config import Settings


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
    warnings: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.issues

    @property
    def first_issue(self) -> Issue | None:
        return self.issues[0] if self.issues else None

    @property
    def last_verified_anchor_seq(self) -> int | None:
        """The newest anchored seq whose entry, and every entry before it, still verifies."""
        entry_issues = [i.seq for i in self.issues if i.kind != "checkpoint"]
        first_bad = min(entry_issues, default=None)
        holding = [c.seq for c in self.checkpoints if c.status == "holds" and (first_bad is None or c.seq < first_bad)]
        return max(holding, default=None)


def _check_checkpoint(
    session: Session, settings: Settings, cp: AuditCheckpoint, stored: str | None, rpc_url: str | None
) -> CheckpointCheck:
    doc = session.get(Document, cp.document_id)
    if doc is None or doc.doc_hash != cp.entry_hash:
        return CheckpointCheck(cp.seq, cp.entry_hash, "tampered", "its anchored-document record is missing or altered")
    result = verify_record(session, settings, doc, rpc_url=rpc_url)
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
) -> AuditReport:
    """Recompute the chain; with `check_anchors`, hold it against the checkpoints the database
    records, and (`scan_chain`) those the chain's batch manifests name, so deleting checkpoint
    rows hides nothing."""
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
        return report

    def stored_hash(seq: int) -> str | None:
        return session.scalar(select(AuditEntry.entry_hash).where(AuditEntry.seq == seq))

    checks: dict[int, CheckpointCheck] = {}
    for cp in session.scalars(select(AuditCheckpoint).order_by(AuditCheckpoint.seq)).all():
        checks[cp.seq] = _check_checkpoint(session, settings, cp, stored_hash(cp.seq), rpc_url)
        if checks[cp.seq].status == "tampered":
            report.issues.append(Issue("checkpoint", cp.seq, f"checkpoint at seq {cp.seq}: {checks[cp.seq].detail}"))
    if scan_chain:
        from backend.audit.chain_checkpoints import scan_chain as scan

        found = scan(settings, rpc_url=rpc_url)
        report.warnings += found.warnings
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
    report.issues.sort(key=lambda issue: issue.seq)
    return report
