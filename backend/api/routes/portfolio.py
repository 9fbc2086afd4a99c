"""An investor's portfolio, its concentration, and a plan that spreads new money over many loans."""

from fastapi import APIRouter

from backend.api.deps import CurrentUser, SessionDep, SettingsDep, allow
from backend.lending import portfolio
from backend.lending.schemas import PlanCreate, PlanPublic, PortfolioPublic, WalletTxPublic

router = APIRouter(prefix="/api/v1/portfolio", tags=["portfolio"])


@router.get("", dependencies=allow("portfolio.read"), summary="Your notes, exposure and diversification")
def mine(user: CurrentUser, session: SessionDep, settings: SettingsDep) -> PortfolioPublic:
    return portfolio.portfolio_of(session, settings, user.wallet)


@router.post(
    "/plan",
    dependencies=allow("portfolio.plan"),
    summary="Spread an amount in equal tickets over open loans; returns the wallet transactions to send",
)
def plan(request: PlanCreate, user: CurrentUser, session: SessionDep, settings: SettingsDep) -> PlanPublic:
    return portfolio.plan_investment(session, settings, user.wallet, request)


@router.post(
    "/claim",
    dependencies=allow("portfolio.claim"),
    summary="One claimMany transaction over every loan where your wallet has repayments to collect",
)
def claim(user: CurrentUser, session: SessionDep, settings: SettingsDep) -> WalletTxPublic:
    return portfolio.claim_all(session, settings, user.wallet)
