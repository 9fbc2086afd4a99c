"""Administration: roles, the KYC review queue, ID documents, reveals and erasure. Admins only."""

from typing import Annotated

from fastapi import APIRouter, Path, Query, Response

from backend.api.accepted import SCHEDULED_RESPONSE, erased_or_scheduled
from backend.api.deps import (
    CurrentUser,
    KycRecordId,
    PageLimit,
    PageOffset,
    RoleProposalId,
    SessionDep,
    SettingsDep,
    allow,
)
from backend.api.idempotency import answered
from backend.identity import role_proposals, roles
from backend.identity.kyc import service
from backend.identity.kyc.views import record_public
from backend.identity.schemas import (
    DecisionCreate,
    ErasurePublic,
    ExpiredPublic,
    KycDataPublic,
    KycPublic,
    PersonLinkCreate,
    PersonLinkPublic,
    RejectionCreate,
    RevealCreate,
    RevealReason,
    ReviewItemPublic,
    RoleChangePublic,
    RoleGrantCreate,
    RoleGrantPublic,
    RoleProposalPublic,
)

router = APIRouter(prefix="/api/v1/admin", tags=["admin"])
# Detected media type -> the file name's extension (backend/identity/checks/documents.py).
DOCUMENT_TYPES = {"image/jpeg": "jpg", "image/png": "png", "application/pdf": "pdf"}
DocumentIndex = Annotated[int, Path(ge=0, le=99, description="The document's place in the submission, from 0")]
DocumentReason = Annotated[RevealReason | None, Query(description="Why, as a reveal's: needed while the wallet's erasure "
                                                      "is scheduled (then fraud_investigation or legal_request only)")]  # fmt: skip


@router.get("/roles", dependencies=allow("admin.roles.list"), summary="Granted roles, by wallet then role, a page at a time")
def list_roles(session: SessionDep, limit: PageLimit = 100, offset: PageOffset = 0) -> list[RoleGrantPublic]:
    return roles.list_grants(session, limit=limit, offset=offset)


@router.post("/roles", dependencies=allow("admin.roles.change"), status_code=201,
             summary="Propose granting auditor, underwriter or admin (another admin confirms), or revoke one at once",
             responses={200: {"model": RoleChangePublic, "description": "Nothing new proposed: a revocation, a role "
                              "already held, or the open proposal of this grant (a retry's included)"}})  # fmt: skip
def change_role(body: RoleGrantCreate, user: CurrentUser, session: SessionDep, settings: SettingsDep,
                response: Response) -> RoleChangePublic:  # fmt: skip
    return answered(role_proposals.request_change(session, settings, user.wallet, body.wallet, body.role, body.action),
                    response)  # fmt: skip


@router.get("/roles/pending", dependencies=allow("admin.roles.pending"), summary="Role grants waiting for a second admin")
def pending_roles(session: SessionDep) -> list[RoleProposalPublic]:
    return role_proposals.pending(session)


@router.post("/roles/pending/{proposal_id}/confirm", dependencies=allow("admin.roles.confirm"),
             summary="Confirm a role grant another person proposed: it holds from now")
def confirm_role(proposal_id: RoleProposalId, user: CurrentUser, session: SessionDep, settings: SettingsDep) -> RoleChangePublic:
    return role_proposals.confirm(session, settings, user.wallet, proposal_id)


@router.post("/roles/pending/{proposal_id}/reject", dependencies=allow("admin.roles.reject"),
             summary="Reject (or, as its proposer, withdraw) a proposed role grant")
def reject_role(proposal_id: RoleProposalId, user: CurrentUser, session: SessionDep, settings: SettingsDep) -> RoleChangePublic:
    return role_proposals.reject(session, settings, user.wallet, proposal_id)


@router.get("/kyc/queue", dependencies=allow("admin.kyc.queue"), summary="Records waiting for review (masked, audited)")
def review_queue(user: CurrentUser, session: SessionDep, settings: SettingsDep, limit: PageLimit = 100,
                 offset: PageOffset = 0) -> list[ReviewItemPublic]:  # fmt: skip
    return service.queue(session, settings, user.wallet, limit=limit, offset=offset)


@router.get("/kyc/{record_id}", dependencies=allow("admin.kyc.record"), summary="One record (masked, audited)")
def record(record_id: KycRecordId, user: CurrentUser, session: SessionDep, settings: SettingsDep) -> ReviewItemPublic:
    return service.review_item(session, settings, record_id, user.wallet)


@router.post("/kyc/{record_id}/approve", dependencies=allow("admin.kyc.approve"), summary="Approve a flagged record and attest it")
def approve(record_id: KycRecordId, body: DecisionCreate, user: CurrentUser, session: SessionDep, settings: SettingsDep) -> KycPublic:
    return record_public(session, service.approve(session, settings, record_id, user.wallet, body.note))


@router.post("/kyc/{record_id}/reject", dependencies=allow("admin.kyc.reject"), summary="Reject a record (revokes its attestation)")
def reject(record_id: KycRecordId, body: RejectionCreate, user: CurrentUser, session: SessionDep, settings: SettingsDep) -> KycPublic:
    return record_public(session, service.reject(session, settings, record_id, user.wallet, body.note, body.ground))


@router.post("/kyc/{record_id}/person-links", dependencies=allow("admin.kyc.person_link"), status_code=201,
             summary="Propose that this record and another sharing its contact data are one person, or confirm it",
             responses={200: {"model": PersonLinkPublic, "description": "Confirmed: another admin had proposed it (or a "
                              "retry of a confirmed link); the two records' wallets are now one borrower"}})  # fmt: skip
def link_person(record_id: KycRecordId, body: PersonLinkCreate, user: CurrentUser, session: SessionDep,
                settings: SettingsDep, response: Response) -> PersonLinkPublic:  # fmt: skip
    linked, proposed = service.link_person(session, settings, record_id, body.other_record_id, user.wallet, body.note)
    if not proposed:
        response.status_code = 200
    return linked


@router.post("/kyc/{record_id}/reveal", dependencies=allow("admin.kyc.reveal"), summary="Unmasked personal data (audited)")
def reveal(record_id: KycRecordId, body: RevealCreate, user: CurrentUser, session: SessionDep, settings: SettingsDep) -> KycDataPublic:
    return service.reveal(session, settings, record_id, user.wallet, body.reason)


@router.get("/kyc/{record_id}/documents/{index}", dependencies=allow("admin.kyc.document"), response_class=Response,
            responses={200: {"content": {t: {} for t in DOCUMENT_TYPES}, "description": "The file as uploaded"}},
            summary="Open one ID document of a record for review (audited; approving the record needs each opened)")  # fmt: skip
def document(record_id: KycRecordId, index: DocumentIndex, user: CurrentUser, session: SessionDep, settings: SettingsDep,
             reason: DocumentReason = None) -> Response:  # fmt: skip
    opened = service.open_document(session, settings, record_id, index, user.wallet, reason)
    name = f"kyc-{opened.record_id[:8]}-{opened.index}.{DOCUMENT_TYPES[opened.media_type]}"
    # A file from an applicant: shown as what it was detected to be, never sniffed as anything else,
    # and with no scripts should a browser open it on its own.
    headers = {"Content-Disposition": f'inline; filename="{name}"', "X-Content-Type-Options": "nosniff",
               "Content-Security-Policy": "sandbox"}  # fmt: skip
    return Response(opened.content, media_type=opened.media_type, headers=headers)


@router.delete("/kyc/wallets/{wallet}", dependencies=allow("admin.kyc.erase"), summary="Erase a wallet's personal data",
               responses=SCHEDULED_RESPONSE)
def erase_wallet(wallet: str, user: CurrentUser, session: SessionDep, settings: SettingsDep) -> ErasurePublic:
    return erased_or_scheduled(service.erase_wallet(session, settings, roles.checksum(wallet), actor=user.wallet))


@router.post("/kyc/expire", dependencies=allow("admin.kyc.expire"), summary="Expire due verifications now and revoke them")
def expire(session: SessionDep, settings: SettingsDep) -> ExpiredPublic:
    return ExpiredPublic(expired=service.expire_due(session, settings))
