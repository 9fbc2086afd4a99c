"""Public shapes of the audit log (API, CLI --json)."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict

from backend.audit.verify import AuditReport


class AuditEntryPublic(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    seq: int
    prev_hash: str
    entry_hash: str
    actor: str
    action: str
    subject: str
    payload_hash: str
    recorded_at: str


class IssuePublic(BaseModel):
    kind: str
    seq: int
    detail: str


class CheckpointPublic(BaseModel):
    seq: int
    entry_hash: str
    status: str
    detail: str
    block_number: int | None = None
    tx_hash: str | None = None


class AuditReportPublic(BaseModel):
    ok: bool
    entries: int
    head_seq: int | None
    first_issue: IssuePublic | None
    issues: list[IssuePublic]
    checkpoints: list[CheckpointPublic]
    last_verified_anchor_seq: int | None
    warnings: list[str] = []

    @classmethod
    def of(cls, report: AuditReport) -> AuditReportPublic:
        issues = [IssuePublic(kind=i.kind, seq=i.seq, detail=i.detail) for i in report.issues]
        return cls(
            ok=report.ok, entries=report.entries, head_seq=report.head_seq, first_issue=issues[0] if issues else None,
            issues=issues, checkpoints=[CheckpointPublic(**vars(c)) for c in report.checkpoints],
            last_verified_anchor_seq=report.last_verified_anchor_seq, warnings=report.warnings,
        )  # fmt: skip
