"""Document verification: by CID, by upload, and the proof file for offline checks. Public."""

from typing import Annotated

from fastapi import APIRouter, File, Form, Query, UploadFile

from backend.anchoring import verification
from backend.anchoring.documents import check_size
from backend.anchoring.schemas import ProofFile, VerificationPublic
from backend.api.deps import SessionDep, SettingsDep, allow
from backend.bounds import DB_ID_MAX

router = APIRouter(prefix="/api/v1/verify", tags=["verification"])
# Outer bound on the request body, so an upload is refused before it is spooled in full; the
# configured per-document limit (LOANCHAIN_ANCHOR_MAX_DOCUMENT_BYTES) is checked on the bytes.
MAX_UPLOAD_BYTES = 256 * 1024 * 1024

CidQuery = Annotated[str, Query(min_length=1, max_length=200, description="CIDv1 (base32) of the document")]


@router.get("", dependencies=allow("verify.cid"), summary="Verify the document stored under a CID")
def verify_by_cid(cid: CidQuery, session: SessionDep, settings: SettingsDep) -> VerificationPublic:
    return verification.verify_cid(session, settings, cid)


@router.post(
    "",
    max_body_size=MAX_UPLOAD_BYTES,
    dependencies=allow("verify.upload"),
    summary="Verify an uploaded document; with `cid` or `document_id`, differing bytes are 'tampered'",
)
def verify_upload(
    session: SessionDep,
    settings: SettingsDep,
    file: Annotated[UploadFile, File(description="The document to verify")],
    cid: Annotated[str | None, Form(max_length=200, description="The CID this file claims to be")] = None,
    document_id: Annotated[int | None, Form(ge=1, le=DB_ID_MAX, description="The record this file claims to be")] = None,
) -> VerificationPublic:
    data = file.file.read(settings.anchor_max_document_bytes + 1)
    check_size(settings, len(data))
    return verification.verify_bytes(session, settings, data, claimed_cid=cid or None, claimed_document_id=document_id)


@router.get(
    "/proof",
    dependencies=allow("verify.proof"),
    summary="The proof file of an anchored document: check it with `loanchain verify --offline-proof`",
)
def proof_by_cid(cid: CidQuery, session: SessionDep, settings: SettingsDep) -> ProofFile:
    return verification.export_proof(session, settings, cid=cid)
