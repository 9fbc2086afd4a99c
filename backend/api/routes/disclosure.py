"""Information disclosure: platform loan performance from the chain index, and the monthly
reports frozen from it (anchored documents). Public to read; publishing a month is for admins
(the servicing worker publishes each month by itself)."""

from typing import Annotated

from fastapi import APIRouter, Depends, Path, Query, Response, status

from backend.api.deps import (
    CurrentUser,
    PageLimit,
    PageOffset,
    SessionDep,
    SettingsDep,
    allow,
    chain_read_rate_limit,
)
from backend.api.downloads import CSV_RESPONSES, csv_download
from backend.disclosure import reports
from backend.disclosure.live import live_disclosure, live_tape_csv
from backend.disclosure.report_binding import served_binding
from backend.disclosure.schemas import (
    DisclosurePublic,
    DisclosurePublish,
    DisclosureReportPublic,
    MissingReportPublic,
    PeriodFlowsPublic,
    ReportBindingPublic,
)

router = APIRouter(prefix="/api/v1/disclosure", tags=["disclosure"])

Period = Annotated[str, Path(pattern=reports.PERIOD.pattern, description="YYYY-MM")]


@router.get("", dependencies=[*allow("disclosure.read"), Depends(chain_read_rate_limit)], summary="Loans, volumes, defaults and losses, as indexed")
def disclosure(session: SessionDep, settings: SettingsDep) -> DisclosurePublic:
    return live_disclosure(session, settings)


@router.get(
    "/loans.csv",
    dependencies=allow("disclosure.read"),
    summary="The loan tape now: one row per disbursed loan (terms, grade, the PD of the loan's grade, which priced "
    "it, payments, delinquency, losses); no borrower identity",
    response_class=Response,
    responses=CSV_RESPONSES,
)
def loan_tape(session: SessionDep) -> Response:
    return csv_download(live_tape_csv(session), "loanchain-loan-tape.csv")


@router.get("/flows", dependencies=allow("disclosure.read"),
            summary="What happened within a month (loans disbursed, repaid, defaulted, trades), from the chain "
            "events stamped in it; the month so far by default")  # fmt: skip
def flows(session: SessionDep, period: Annotated[str | None, Query(description="YYYY-MM")] = None) -> PeriodFlowsPublic:
    return reports.month_flows(session, period)


@router.get("/reports", dependencies=allow("disclosure.read"), summary="The monthly reports published, newest first")
def published(session: SessionDep, limit: PageLimit = 120, offset: PageOffset = 0) -> list[DisclosureReportPublic]:
    return reports.list_reports(session, limit=limit, offset=offset)


# Before /reports/{period}, which would take "missing" for a period and refuse it.
@router.get("/reports/missing", dependencies=allow("disclosure.read"),
            summary="The months that have ended with no report yet, oldest first, and why each is missing")  # fmt: skip
def missing(session: SessionDep) -> list[MissingReportPublic]:
    return reports.missing_reports(session)


@router.get(
    "/reports/{period}",
    dependencies=allow("disclosure.read"),
    summary="A month's report, byte for byte as published (check it with GET /api/v1/verify?cid=)",
    response_class=Response,
    responses={200: {"content": {"application/json": {}}}},
)
def report(period: Period, session: SessionDep, settings: SettingsDep) -> Response:
    row, data, binding = reports.served_report(session, settings, period)
    return Response(data, media_type="application/json", headers={
        "X-Content-CID": row.cid, "X-Document-Hash": row.doc_hash, "X-Report-Binding": binding.status})  # fmt: skip


@router.get(
    "/reports/{period}/binding",
    dependencies=allow("disclosure.read"),
    summary="Whether the month's report is the one the chain binds the month to (bound | replaced | pending | unbound)",
)
def report_binding(period: Period, session: SessionDep, settings: SettingsDep) -> ReportBindingPublic:
    _, data = reports.report_document(session, settings, period)
    return served_binding(session, period, data)


@router.get(
    "/reports/{period}/loans.csv",
    dependencies=allow("disclosure.read"),
    summary="The loan tape published with a month's report, byte for byte",
    response_class=Response,
    responses=CSV_RESPONSES,
)
def report_tape(period: Period, session: SessionDep, settings: SettingsDep) -> Response:
    cid, data = reports.report_loan_tape(session, settings, period)
    response = csv_download(data, f"loanchain-loan-tape-{period}.csv")
    response.headers["X-Content-CID"] = cid
    return response


@router.post(
    "/reports",
    dependencies=allow("disclosure.publish"),
    status_code=status.HTTP_201_CREATED,
    summary="Publish a month that has ended, as of its last block (once: a month already published is returned unchanged, 200)",
    responses={200: {"description": "Already published: the report as it was", "model": DisclosureReportPublic}},
)
def publish(body: DisclosurePublish, user: CurrentUser, session: SessionDep, settings: SettingsDep,
            response: Response) -> DisclosureReportPublic:  # fmt: skip
    published_report, created = reports.publish(session, settings, body.period, actor=user.wallet)
    if not created:
        response.status_code = status.HTTP_200_OK
    return published_report
