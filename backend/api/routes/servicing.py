"""Post-loan management: the portfolio's aging, the collections queue, a borrower's notices."""

from fastapi import APIRouter, Response

from backend.api.deps import (
    CurrentUser,
    LoanId,
    NotesShown,
    PageLimit,
    PageOffset,
    PlanId,
    SessionDep,
    SettingsDep,
    allow,
)
from backend.api.idempotency import IdempotencyKey, answered
from backend.servicing import collections as case_log
from backend.servicing import plans, preferences, service
from backend.servicing.schemas import (
    AgingPublic,
    CollectionActionCreate,
    CollectionActionPublic,
    CollectionItemPublic,
    HardshipPlanCreate,
    HardshipPlanPublic,
    NoticePreferencesPublic,
    NoticePreferencesUpdate,
    NoticePublic,
)

router = APIRouter(prefix="/api/v1/servicing", tags=["servicing"])


@router.get("/aging", dependencies=allow("servicing.aging"), summary="Active loans by days past due (last pass)")
def aging(session: SessionDep) -> AgingPublic:
    return service.aging_report(session)


@router.get(
    "/collections",
    dependencies=allow("servicing.collections"),
    summary="Loans 16+ days past due, defaulted loans still recovering and hardship requests, most in need of a person first, "
    "a page at a time (case-log notes only for a sign-in of the last minutes)",
)
def collections(session: SessionDep, settings: SettingsDep, notes: NotesShown, user: CurrentUser, limit: PageLimit = 100,
                offset: PageOffset = 0) -> list[CollectionItemPublic]:  # fmt: skip
    return service.collections_queue(session, settings, with_notes=notes, reader=user.wallet, limit=limit, offset=offset)


@router.post(
    "/collections/{loan_id}/actions",
    dependencies=allow("servicing.collections.act"),
    status_code=201,
    summary="Add to a late loan's case log: a contact, a promise to pay (amount and days), a dispute, hardship, a note",
    responses={200: {"model": CollectionActionPublic, "description": "A retry (the same Idempotency-Key, or without "
                     "one the same entry by the caller within a minute): the entry the first attempt recorded"}},
)
def collection_action(loan_id: LoanId, body: CollectionActionCreate, user: CurrentUser, session: SessionDep,
                      settings: SettingsDep, response: Response,
                      idempotency_key: IdempotencyKey = None) -> CollectionActionPublic:  # fmt: skip
    return answered(case_log.record_action(session, settings, loan_id, body, user.wallet, idempotency_key), response)


@router.post(
    "/collections/{loan_id}/plans",
    dependencies=allow("servicing.collections.act"),
    status_code=201,
    summary="Propose a hardship plan for a loan in collections: a payment every period for a few periods; another "
    "person confirms it",
    responses={200: {"model": HardshipPlanPublic, "description": "A retry: the same proposal by the caller, still open"}},
)
def propose_plan(loan_id: LoanId, body: HardshipPlanCreate, user: CurrentUser, session: SessionDep, settings: SettingsDep,
                 response: Response) -> HardshipPlanPublic:  # fmt: skip
    return answered(plans.propose(session, settings, loan_id, body, user.wallet), response)


@router.post("/collections/{loan_id}/plans/{plan_id}/confirm", dependencies=allow("servicing.collections.act"),
             summary="Confirm a proposed hardship plan (another person than its proposer): it starts now")
def confirm_plan(loan_id: LoanId, plan_id: PlanId, user: CurrentUser, session: SessionDep,
                 settings: SettingsDep) -> HardshipPlanPublic:  # fmt: skip
    return plans.decide(session, settings, loan_id, plan_id, user.wallet, confirm=True)


@router.post("/collections/{loan_id}/plans/{plan_id}/reject", dependencies=allow("servicing.collections.act"),
             summary="Reject a proposed hardship plan (its proposer too)")
def reject_plan(loan_id: LoanId, plan_id: PlanId, user: CurrentUser, session: SessionDep,
                settings: SettingsDep) -> HardshipPlanPublic:  # fmt: skip
    return plans.decide(session, settings, loan_id, plan_id, user.wallet, confirm=False)


@router.get("/collections/{loan_id}/plans", dependencies=allow("servicing.collections"),
            summary="A loan's hardship plans, newest first, each judged by the chain's repayments now")
def loan_plans(loan_id: LoanId, session: SessionDep, settings: SettingsDep) -> list[HardshipPlanPublic]:
    return plans.plans_of(session, settings, loan_id)


@router.get("/notices", dependencies=allow("servicing.notices"), summary="Reminders and notices to the caller, newest first")
def notices(user: CurrentUser, session: SessionDep, limit: PageLimit = 100, offset: PageOffset = 0) -> list[NoticePublic]:
    return service.notices_of(session, user.wallet, limit, offset)


@router.get("/notices/preferences", dependencies=allow("servicing.notices"),
            summary="How the caller takes its notices beyond the in-app list: e-mail, text messages")
def notice_preferences(user: CurrentUser, session: SessionDep) -> NoticePreferencesPublic:
    return preferences.preferences_of(session, user.wallet)


@router.put("/notices/preferences", dependencies=allow("servicing.notices"),
            summary="Turn e-mail or text-message notices on or off (late and default notices are always e-mailed)")
def set_notice_preferences(body: NoticePreferencesUpdate, user: CurrentUser, session: SessionDep) -> NoticePreferencesPublic:
    return preferences.set_preferences(session, user.wallet, body)
