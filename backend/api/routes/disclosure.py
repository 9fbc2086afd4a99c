"""Information disclosure: platform loan performance from the chain index. Public."""

from fastapi import APIRouter

from backend.api.deps import SessionDep, allow
from backend.disclosure.schemas import DisclosurePublic
from backend.disclosure.service import platform_disclosure

router = APIRouter(prefix="/api/v1/disclosure", tags=["disclosure"])


@router.get("", dependencies=allow("disclosure.read"), summary="Loans, volumes, defaults and losses, as indexed")
def disclosure(session: SessionDep) -> DisclosurePublic:
    return platform_disclosure(session)
