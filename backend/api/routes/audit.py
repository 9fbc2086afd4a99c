"""The audit log, for auditors and admins: its entries and its verification."""

from typing import Annotated

from fastapi import APIRouter, Query

from backend.api.deps import SessionDep, SettingsDep, allow
from backend.audit import log
from backend.audit.schemas import AuditEntryPublic, AuditReportPublic
from backend.audit.verify import verify_audit_log

router = APIRouter(prefix="/api/v1/audit", tags=["audit"])


@router.get("/entries", dependencies=allow("audit.entries"), summary="Audit entries in order, after a seq")
def list_entries(
    session: SessionDep,
    after_seq: Annotated[int, Query(ge=0)] = 0,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
) -> list[AuditEntryPublic]:
    return [AuditEntryPublic.model_validate(e) for e in log.entries(session, after_seq=after_seq, limit=limit)]


@router.get(
    "/verify",
    dependencies=allow("audit.verify"),
    summary="Recompute the hash chain and check it against its on-chain anchors",
)
def verify(session: SessionDep, settings: SettingsDep) -> AuditReportPublic:
    return AuditReportPublic.of(verify_audit_log(session, settings))
