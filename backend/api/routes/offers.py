"""Loan offers: a borrower turns an approved decision into terms, signs them, and the platform
countersigns and submits them to LoanBook (through the outbox)."""

from typing import Annotated

from fastapi import APIRouter, Depends, Query, Response, status

from backend.api.deps import STAFF, CurrentUser, Idempotent, OfferId, SessionDep, SettingsDep, allow, offer_rate_limit
from backend.bounds import DB_ID_MAX
from backend.lending import exposure, offers
from backend.lending.schemas import BorrowingPublic, OfferAccept, OfferCreate, OfferPublic

router = APIRouter(prefix="/api/v1/offers", tags=["offers"])


@router.post(
    "",
    status_code=status.HTTP_201_CREATED,
    dependencies=[*allow("offers.create"), Depends(offer_rate_limit)],
    summary="Turn an approved credit decision into loan terms to sign (EIP-712 typed data)",
)
def create(request: OfferCreate, user: CurrentUser, session: SessionDep, settings: SettingsDep, response: Response,
           once: Idempotent) -> OfferPublic:  # fmt: skip
    return once.answer(response, lambda: offers.create_offer(session, settings, user.wallet, request),
                       lambda offer_id: offers.get_offer(session, user.wallet, offer_id))  # fmt: skip


@router.post(
    "/{offer_id}/accept",
    dependencies=allow("offers.accept"),
    summary="Accept an offer with the borrower's signature; the loan is created on-chain through the outbox",
)
def accept(
    offer_id: OfferId, request: OfferAccept, user: CurrentUser, session: SessionDep, settings: SettingsDep
) -> OfferPublic:
    return offers.accept_offer(session, settings, user.wallet, offer_id, request)


@router.get("", dependencies=allow("offers.list"), summary="The caller's offers, newest first, a page at a time")
def my_offers(
    user: CurrentUser,
    session: SessionDep,
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
    offset: Annotated[int, Query(ge=0, le=DB_ID_MAX)] = 0,
    decision_id: Annotated[str | None, Query(max_length=64, description="Only this credit decision's offers")] = None,
) -> list[OfferPublic]:
    return offers.list_offers(session, user.wallet, limit=limit, offset=offset, decision_id=decision_id)


@router.get("/borrowing", dependencies=allow("offers.list"),
            summary="What the ledger shows of the caller's borrowing here, which a new application is checked against")
def borrowing(user: CurrentUser, session: SessionDep, settings: SettingsDep) -> BorrowingPublic:
    return exposure.borrowing_of(session, settings, user.wallet)


@router.get("/{offer_id}", dependencies=allow("offers.read"), summary="An offer: its terms, state and loan")
def read_offer(offer_id: OfferId, user: CurrentUser, session: SessionDep) -> OfferPublic:
    return offers.get_offer(session, user.wallet, offer_id, staff=bool(user.roles & STAFF))


@router.get(
    "/{offer_id}/agreement",
    dependencies=allow("offers.read"),
    summary="The offer's agreement document, to read before signing (its keccak-256 is agreementHash)",
)
def agreement(offer_id: OfferId, user: CurrentUser, session: SessionDep, settings: SettingsDep) -> dict:
    return offers.agreement_of(session, settings, user.wallet, offer_id, staff=bool(user.roles & STAFF))
