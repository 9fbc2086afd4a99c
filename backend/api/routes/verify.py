"""Document verification: by CID, by upload, and the proof file for offline checks. Public."""

from typing import Annotated

from fastapi import APIRouter, Depends, File, Form, Query, UploadFile

from backend.anchoring import verification
from backend.anchoring.documents import digests_of_stream
from backend.anchoring.schemas import ProofFile, VerificationPublic
from backend.api.deps import SessionDep, SettingsDep, allow, chain_read_rate_limit, verify_rate_limit
from backend.bounds import DB_ID_MAX
from backend.config import Settings

router = APIRouter(prefix="/api/v1/verify", tags=["verification"])
# Outer bound on the request body (413 past it), so a larger upload is refused before it is
# spooled in full: the per-document limit's default plus room for the multipart envelope. The
# bound is fixed when the route is built; the configured per-document limit
# (LOANCHAIN_ANCHOR_MAX_DOCUMENT_BYTES) is checked on the bytes as they are hashed, and a limit
# raised past the default needs this raised with it.
MULTIPART_SLACK = 64 * 1024
MAX_UPLOAD_BYTES = Settings.model_fields["anchor_max_document_bytes"].default + MULTIPART_SLACK

CidQuery = Annotated[str, Query(min_length=1, max_length=200, description="CIDv1 (base32) of the document")]


@router.get("", dependencies=[*allow("verify.cid"), Depends(chain_read_rate_limit)], summary="Verify the document stored under a CID")
def verify_by_cid(cid: CidQuery, session: SessionDep, settings: SettingsDep) -> VerificationPublic:
    return verification.verify_cid(session, settings, cid)


@router.post(
    "",
    max_body_size=MAX_UPLOAD_BYTES,
    dependencies=[*allow("verify.upload"), Depends(verify_rate_limit)],
    summary="Verify an uploaded document; with `cid` or `document_id`, differing bytes are 'tampered'",
)
def verify_upload(
    session: SessionDep,
    settings: SettingsDep,
    file: Annotated[UploadFile, File(description="The document to verify")],
    cid: Annotated[str | None, Form(max_length=200, description="The CID this file claims to be")] = None,
    document_id: Annotated[int | None, Form(ge=1, le=DB_ID_MAX, description="The record this file claims to be")] = None,
) -> VerificationPublic:
    doc_hash, file_cid = digests_of_stream(settings, file.file)  # a chunk at a time, never whole in memory
    return verification.verify_digests(session, settings, doc_hash, file_cid, claimed_cid=cid or None,
                                       claimed_document_id=document_id)  # fmt: skip


@router.get(
    "/proof",
    dependencies=[*allow("verify.proof"), Depends(chain_read_rate_limit)],
    summary="The proof file of an anchored document: check it with `loanchain verify --offline-proof`",
)
def proof_by_cid(cid: CidQuery, session: SessionDep, settings: SettingsDep) -> ProofFile:
    return verification.export_proof(session, settings, cid=cid)
