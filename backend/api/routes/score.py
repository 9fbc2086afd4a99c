"""Credit scoring endpoints. Thin: validation is the schema's, rules are the service's."""

from __future__ import annotations

from datetime import datetime

from fastapi import APIRouter, Depends, Response, status

from backend.api.deps import (
    CurrentUser,
    DecisionHash,
    DecisionId,
    Idempotent,
    NotesShown,
    PageLimit,
    PageOffset,
    SessionDep,
    SettingsDep,
    allow,
    score_rate_limit,
)
from backend.api.idempotency import answered
from backend.scoring import fair_lending_checks, review_retry, service
from backend.scoring.fair_lending import live_fairness
from backend.scoring.referral_reads import read_referrals
from backend.scoring.schemas import (
    ApplicationCreate,
    DecisionProofPublic,
    DecisionPublic,
    FairLendingCheckPublic,
    FairLendingPublic,
    ReferralPublic,
    ReviewCreate,
)

router = APIRouter(prefix="/api/v1", tags=["scoring"])


@router.post(
    "/score",
    response_model=DecisionPublic,
    status_code=status.HTTP_201_CREATED,
    dependencies=[*allow("score.create"), Depends(score_rate_limit)],
    summary="Score an application: points, grade, PD, decision, reason codes and price (recorded)",
)
def score(application: ApplicationCreate, user: CurrentUser, db: SessionDep, settings: SettingsDep, response: Response,
          once: Idempotent) -> DecisionPublic:  # fmt: skip
    return once.answer(response, lambda: service.score_application(db, application, wallet=user.wallet, settings=settings),
                       lambda decision_id: service.get_decision(db, decision_id, settings))  # fmt: skip


@router.get(
    "/score/decisions/{decision_hash}/proof",
    response_model=DecisionProofPublic,
    dependencies=allow("score.proof"),
    summary="Prove which model and inputs produced a decision hash (as found in a loan's on-chain terms)",
)
def prove_decision(decision_hash: DecisionHash, db: SessionDep) -> DecisionProofPublic:
    return service.prove_decision(db, decision_hash)


@router.get(
    "/score/mine",
    response_model=list[DecisionPublic],
    dependencies=allow("score.mine"),
    summary="Your own credit decisions, newest first, a page at a time, with any underwriter's review",
)
def my_decisions(user: CurrentUser, db: SessionDep, settings: SettingsDep, limit: PageLimit = 20,
                 offset: PageOffset = 0) -> list[DecisionPublic]:  # fmt: skip
    return service.decisions_of(db, user.wallet, settings, limit=limit, offset=offset)


@router.get(
    "/score/fairness",
    response_model=FairLendingPublic,
    dependencies=allow("score.fairness"),
    summary="Approval rates by age band on live decisions and the adverse impact ratio (four-fifths rule)",
)
def fairness(user: CurrentUser, db: SessionDep, settings: SettingsDep, since: datetime | None = None,
             until: datetime | None = None) -> FairLendingPublic:  # fmt: skip
    return live_fairness(db, settings, user.wallet, since, until)


@router.get(
    "/score/fairness/checks",
    response_model=list[FairLendingCheckPublic],
    dependencies=allow("score.fairness"),
    summary="The daily fair-lending checks of live decisions, newest first, a page at a time",
)
def fairness_checks(db: SessionDep, limit: PageLimit = 30, offset: PageOffset = 0) -> list[FairLendingCheckPublic]:
    return fair_lending_checks.checks(db, limit=limit, offset=offset)


@router.get(
    "/score/referrals",
    response_model=list[ReferralPublic],
    dependencies=allow("score.referrals"),
    summary="Referred decisions waiting for an underwriter's review, oldest first, with their applications (audited)",
)
def referrals(user: CurrentUser, db: SessionDep, limit: PageLimit = 100, offset: PageOffset = 0) -> list[ReferralPublic]:
    return read_referrals(db, user.wallet, limit=limit, offset=offset)


@router.get(
    "/score/{decision_id}",
    response_model=DecisionPublic,
    dependencies=allow("score.read"),
    summary="A recorded credit decision (any review note only for a sign-in of the last minutes)",
)
def get_decision(decision_id: DecisionId, db: SessionDep, settings: SettingsDep, notes: NotesShown) -> DecisionPublic:
    return service.get_decision(db, decision_id, settings, with_note=notes)


@router.post(
    "/score/{decision_id}/review",
    response_model=DecisionPublic,
    dependencies=allow("score.review"),
    status_code=201,
    summary="An underwriter approves or declines a referred decision (once; never their own)",
    responses={200: {"model": DecisionPublic, "description": "The same review (outcome and note) sent again by its "
                     "reviewer (a retry): the stored one, nothing written"}},
)
def review(decision_id: DecisionId, request: ReviewCreate, user: CurrentUser, db: SessionDep, settings: SettingsDep,
           response: Response) -> DecisionPublic:  # fmt: skip
    return answered(review_retry.review_once(db, settings, user.wallet, decision_id, request), response)
