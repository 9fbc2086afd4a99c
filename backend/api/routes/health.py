from fastapi import APIRouter, Depends
from fastapi.responses import JSONResponse

from backend.api.deps import SettingsDep, allow, health_rate_limit
from backend.services.health import HealthPublic, health_report

router = APIRouter(tags=["health"])
GUARDS = [*allow("health.report"), Depends(health_rate_limit)]
REPORT = {200: {"model": HealthPublic, "description": "Every part is ok"},
          503: {"model": HealthPublic, "description": "A part is down: the same report, naming it in `failing`"}}


@router.get("/health", summary="Chain, contracts, database and content store status", dependencies=GUARDS,
            responses=REPORT)
# Under the API's prefix too, where a client of the rest of the API looks for it first.
@router.get("/api/v1/health", summary="Chain, contracts, database and content store status (alias of /health)",
            dependencies=GUARDS, name="health_v1", responses=REPORT)
def health(settings: SettingsDep) -> JSONResponse:
    report = health_report(settings)
    return JSONResponse(report, status_code=200 if report["status"] == "ok" else 503)
