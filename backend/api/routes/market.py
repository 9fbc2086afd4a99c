"""The notes' secondary market: what is for sale and what is wanted (public), and the wallet
transactions to list, buy or withdraw notes, and to bid, sell into a bid or cancel one."""

from typing import Annotated

from fastapi import APIRouter, Depends, Query

from backend.api.deps import (
    BidId,
    CurrentUser,
    ListingId,
    LoanFilterId,
    PageLimit,
    PageOffset,
    SessionDep,
    SettingsDep,
    allow,
    chain_read_rate_limit,
)
from backend.bounds import AMOUNT_LIMIT, DB_ID_MAX
from backend.market import service
from backend.market.book import trade_tape
from backend.market.schemas import (
    MAX_PRICE_BPS,
    BidCreate,
    BidPublic,
    ExitCreate,
    ListingCreate,
    ListingPublic,
    MarketQuotePublic,
    MarketTxPublic,
    PurchaseCreate,
    RepriceCreate,
    SaleCreate,
    TradePublic,
)

router = APIRouter(prefix="/api/v1/market", tags=["market"])


@router.get("", dependencies=allow("market.read"), summary="Open listings of active loans, cheapest first")
def listings(
    session: SessionDep,
    settings: SettingsDep,
    loan_id: LoanFilterId = None,
    limit: PageLimit = 100,
    offset: PageOffset = 0,
) -> list[ListingPublic]:
    return service.open_listings(session, settings, loan_id, limit, offset)


@router.get("/trades", dependencies=allow("market.read"), summary="The trade tape: the latest trades, newest first")
def trades(
    session: SessionDep,
    loan_id: LoanFilterId = None,
    limit: PageLimit = 100,
    offset: PageOffset = 0,
) -> list[TradePublic]:
    return trade_tape(session, loan_id, limit, offset)


@router.get("/quote", dependencies=[*allow("market.read"), Depends(chain_read_rate_limit)], summary="What notes would fetch at a price, and the buyer's yield")
def quote(
    session: SessionDep,
    settings: SettingsDep,
    loan_id: Annotated[int, Query(ge=1, le=DB_ID_MAX)],
    notes: Annotated[int, Query(gt=0, lt=AMOUNT_LIMIT)],
    price_bps: Annotated[int, Query(ge=1, le=MAX_PRICE_BPS)],
) -> MarketQuotePublic:
    return service.quote(session, settings, loan_id, notes, price_bps)


@router.post("/listings", dependencies=allow("market.list"), summary="Offer notes for sale: the transactions to send")
def create_listing(request: ListingCreate, user: CurrentUser, session: SessionDep, settings: SettingsDep) -> MarketTxPublic:
    return service.plan_listing(session, settings, user.wallet, request)


@router.post("/listings/{listing_id}/buy", dependencies=allow("market.buy"), summary="Buy notes: the transactions to send")
def buy(listing_id: ListingId, request: PurchaseCreate, user: CurrentUser, session: SessionDep, settings: SettingsDep) -> MarketTxPublic:
    return service.plan_purchase(session, settings, user.wallet, listing_id, request)


@router.post("/listings/{listing_id}/delist", dependencies=allow("market.delist"), summary="Withdraw your listing")
def delist(listing_id: ListingId, user: CurrentUser, session: SessionDep, settings: SettingsDep) -> MarketTxPublic:
    return service.plan_delisting(session, settings, user.wallet, listing_id)


@router.get("/bids", dependencies=allow("market.read"), summary="Open bids for notes of active loans, best paying first")
def bids(
    session: SessionDep,
    settings: SettingsDep,
    loan_id: LoanFilterId = None,
    limit: PageLimit = 100,
    offset: PageOffset = 0,
) -> list[BidPublic]:
    return service.open_bids(session, settings, loan_id, limit, offset)


@router.post("/bids", dependencies=allow("market.bid"), summary="Bid for notes: the transactions to send")
def create_bid(request: BidCreate, user: CurrentUser, session: SessionDep, settings: SettingsDep) -> MarketTxPublic:
    return service.plan_bid(session, settings, user.wallet, request)


@router.post("/bids/{bid_id}/sell", dependencies=allow("market.sell"), summary="Sell notes into a bid: the transactions to send")
def sell(bid_id: BidId, request: SaleCreate, user: CurrentUser, session: SessionDep, settings: SettingsDep) -> MarketTxPublic:
    return service.plan_sale(session, settings, user.wallet, bid_id, request)


@router.post("/sell-now", dependencies=allow("market.sell"), summary="Leave a loan now: sell into the best bids")
def sell_now(request: ExitCreate, user: CurrentUser, session: SessionDep, settings: SettingsDep) -> MarketTxPublic:
    return service.plan_exit(session, settings, user.wallet, request)


@router.post("/bids/{bid_id}/cancel", dependencies=allow("market.cancel"), summary="Cancel your bid")
def cancel_bid(bid_id: BidId, user: CurrentUser, session: SessionDep, settings: SettingsDep) -> MarketTxPublic:
    return service.plan_bid_cancel(session, settings, user.wallet, bid_id)


@router.post("/listings/{listing_id}/reprice", dependencies=allow("market.list"), summary="Change your listing's price")
def reprice_listing(listing_id: ListingId, request: RepriceCreate, user: CurrentUser, session: SessionDep,
                    settings: SettingsDep) -> MarketTxPublic:  # fmt: skip
    return service.plan_reprice(session, settings, user.wallet, "listing", listing_id, request)


@router.post("/bids/{bid_id}/reprice", dependencies=allow("market.bid"), summary="Change your bid's price")
def reprice_bid(bid_id: BidId, request: RepriceCreate, user: CurrentUser, session: SessionDep,
                settings: SettingsDep) -> MarketTxPublic:  # fmt: skip
    return service.plan_reprice(session, settings, user.wallet, "bid", bid_id, request)
