"""An applicant's KYC: submit, see the status, see, export or erase their own data."""

from typing import Annotated

from fastapi import APIRouter, Depends, File, Form, Request, Response, UploadFile

from backend.api.accepted import SCHEDULED_RESPONSE, erased_or_scheduled
from backend.api.deps import CurrentUser, SessionDep, SettingsDep, allow, kyc_rate_limit
from backend.api.idempotency import answered
from backend.identity.export_schemas import KycExportPublic
from backend.identity.kyc import service
from backend.identity.kyc.views import owner_view
from backend.identity.schemas import ErasurePublic, KycDataPublic, KycForm, KycPublic, KycStatusPublic

router = APIRouter(prefix="/api/v1/kyc", tags=["kyc"])
limited = [Depends(kyc_rate_limit)]
# Outer bound on a submission's body (413 beyond it), so an upload is never spooled to disk in
# full before the per-document checks (LOANCHAIN_KYC_MAX_DOCUMENT_BYTES, 422) can refuse it.
MAX_SUBMISSION_BYTES = 25 * 1024 * 1024


def _read_bounded(upload: UploadFile, limit: int) -> bytes:
    # One byte past the limit is enough to know the file is too large, without reading all of it.
    return upload.file.read(limit + 1)


@router.post(
    "",
    status_code=201,
    max_body_size=MAX_SUBMISSION_BYTES,
    dependencies=[*allow("kyc.submit"), *limited],
    summary="Submit identity data (form fields) and optional ID documents (JPEG, PNG, PDF)",
    responses={200: {"model": KycPublic, "description": "The same data and documents as the wallet's record waiting "
                     "for review, or approved within the day: that record (a retry), nothing written"}},
)
def submit(
    data: Annotated[KycForm, Form()],
    user: CurrentUser,
    session: SessionDep,
    settings: SettingsDep,
    request: Request,
    response: Response,
    documents: Annotated[list[UploadFile], File(description="ID document images")] = [],  # noqa: B006
) -> KycPublic:
    contents = [_read_bounded(d, settings.kyc_max_document_bytes) for d in documents if d.filename or d.size]
    # The client's address as uvicorn sees it: behind a reverse proxy listed in FORWARDED_ALLOW_IPS,
    # the X-Forwarded-For address (uvicorn's proxy headers), never a header anyone can set.
    client_address = request.client.host if request.client else None
    submitted = service.submit_once(session, settings, user.wallet, data, contents, client_address=client_address)
    return owner_view(session, answered(submitted, response))


@router.get("/me", dependencies=allow("kyc.status"), summary="Status, reasons and attestation of the caller's KYC")
def status(user: CurrentUser, session: SessionDep, settings: SettingsDep) -> KycStatusPublic:
    return service.my_status(session, settings, user.wallet)


@router.get("/me/data", dependencies=[*allow("kyc.data"), *limited], summary="The caller's own decrypted record, with its salt")
def my_data(user: CurrentUser, session: SessionDep, settings: SettingsDep) -> KycDataPublic:
    return service.my_data(session, settings, user.wallet)


@router.get("/me/export", dependencies=[*allow("kyc.export"), *limited],
            summary="All of the caller's own personal data: KYC records with their documents, credit applications, "
            "hardship requests and case log, notices (audited)")  # fmt: skip
def my_export(user: CurrentUser, session: SessionDep, settings: SettingsDep) -> KycExportPublic:
    return service.export(session, settings, user.wallet)


@router.delete("/me", dependencies=[*allow("kyc.erase"), *limited], summary="Erase the caller's personal data (crypto-shredding)",
               responses=SCHEDULED_RESPONSE)
def erase_mine(user: CurrentUser, session: SessionDep, settings: SettingsDep) -> ErasurePublic:
    return erased_or_scheduled(service.erase_wallet(session, settings, user.wallet, actor=user.wallet))
