from fastapi import APIRouter
from fastapi.responses import JSONResponse

from backend.api.deps import SettingsDep
from backend.services.health import health_report

router = APIRouter(tags=["health"])


@router.get("/health", summary="Chain, contracts, database and content store status")
def health(settings: SettingsDep) -> JSONResponse:
    report = health_report(settings)
    return JSONResponse(report, status_code=200 if report["status"] == "ok" else 503)
