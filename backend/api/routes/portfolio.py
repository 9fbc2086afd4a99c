"""An investor's portfolio, its concentration, a plan that spreads new money over many loans,
and the statement of every movement with LoanBook."""

from fastapi import APIRouter, Response, status

from backend.api.deps import CurrentUser, SessionDep, SettingsDep, StatementYear, allow
from backend.api.downloads import CSV_RESPONSES, csv_download
from backend.lending import mandates, portfolio, rules, statement
from backend.lending.mandate_schemas import (
    MandateCancelPublic,
    MandateDraftCreate,
    MandateDraftPublic,
    MandatePublic,
    MandateSign,
)
from backend.lending.schemas import (
    InvestmentRuleCreate,
    InvestmentRulePublic,
    PlanCreate,
    PlanPublic,
    PortfolioPublic,
    StatementPublic,
    WalletTxPublic,
)

router = APIRouter(prefix="/api/v1/portfolio", tags=["portfolio"])


@router.get("", dependencies=allow("portfolio.read"), summary="Your notes, exposure and diversification")
def my_portfolio(user: CurrentUser, session: SessionDep, settings: SettingsDep) -> PortfolioPublic:
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


@router.get(
    "/statement",
    dependencies=allow("portfolio.statement"),
    summary="Every movement between your wallet and LoanBook in a year, with the transaction proving it",
)
def my_statement(user: CurrentUser, session: SessionDep, settings: SettingsDep, year: StatementYear = None) -> StatementPublic:
    return statement.statement_of(session, settings, user.wallet, year)


@router.get(
    "/statement.csv",
    dependencies=allow("portfolio.statement"),
    summary="The statement's lines as CSV (amounts in base units and in tokens)",
    response_class=Response,
    responses=CSV_RESPONSES,
)
def my_statement_csv(user: CurrentUser, session: SessionDep, settings: SettingsDep, year: StatementYear = None) -> Response:
    body = statement.statement_csv(statement.statement_of(session, settings, user.wallet, year))
    return csv_download(body, f"loanchain-statement-{user.wallet}-{year or 'all'}.csv")


@router.get(
    "/earnings.csv",
    dependencies=allow("portfolio.statement"),
    summary="What your notes earned, one row per loan event: interest, late fees, principal, cover, recoveries, "
    "write-offs and trading results (base units)",
    response_class=Response,
    responses=CSV_RESPONSES,
)
def my_earnings_csv(user: CurrentUser, session: SessionDep, settings: SettingsDep, year: StatementYear = None) -> Response:
    body = statement.earnings_csv(statement.statement_of(session, settings, user.wallet, year))
    return csv_download(body, f"loanchain-earnings-{user.wallet}-{year or 'all'}.csv")



@router.put(
    "/rule",
    dependencies=allow("portfolio.rule.set"),
    summary="Set your standing instruction: be told of every new loan like this, and fund each with one click",
)
def set_rule(request: InvestmentRuleCreate, user: CurrentUser, session: SessionDep, settings: SettingsDep) -> InvestmentRulePublic:
    return rules.set_rule(session, settings, user.wallet, request)


@router.get("/rule", dependencies=allow("portfolio.rule.read"), summary="Your standing instruction and the loans it matches now")
def get_rule(user: CurrentUser, session: SessionDep, settings: SettingsDep) -> InvestmentRulePublic:
    return rules.get_rule(session, settings, user.wallet)


@router.delete("/rule", dependencies=allow("portfolio.rule.read"), status_code=status.HTTP_204_NO_CONTENT,
               summary="Drop your standing instruction (no more match notices)")  # fmt: skip
def delete_rule(user: CurrentUser, session: SessionDep) -> None:
    rules.delete_rule(session, user.wallet)


@router.post(
    "/rule/plan",
    dependencies=allow("portfolio.rule.set"),
    summary="The wallet transactions that bring every loan matching your instruction up to its amount",
)
def rule_plan(user: CurrentUser, session: SessionDep, settings: SettingsDep) -> PlanPublic:
    return rules.rule_plan(session, settings, user.wallet)


@router.post(
    "/rule/mandate/draft",
    dependencies=allow("portfolio.rule.set"),
    summary="A funding mandate that lets the platform carry out your instruction, for your wallet to sign (EIP-712)",
)
def draft_mandate(request: MandateDraftCreate, user: CurrentUser, session: SessionDep, settings: SettingsDep) -> MandateDraftPublic:
    return mandates.draft_mandate(session, settings, user.wallet, request)


@router.put(
    "/rule/mandate",
    dependencies=allow("portfolio.rule.set"),
    summary="Give your signed funding mandate: the platform's keeper funds your instruction's matches with it",
)
def sign_mandate(request: MandateSign, user: CurrentUser, session: SessionDep, settings: SettingsDep) -> MandatePublic:
    return mandates.sign_mandate(session, settings, user.wallet, request)


@router.get("/rule/mandate", dependencies=allow("portfolio.rule.read"),
            summary="Your funding mandate: its bounds, what it has funded (on chain) and what is left")  # fmt: skip
def get_mandate(user: CurrentUser, session: SessionDep, settings: SettingsDep) -> MandatePublic:
    return mandates.get_mandate(session, settings, user.wallet)


@router.delete("/rule/mandate", dependencies=allow("portfolio.rule.read"),
               summary="Withdraw your funding mandate: the keeper stops now; send the transaction to end it on chain")  # fmt: skip
def withdraw_mandate(user: CurrentUser, session: SessionDep, settings: SettingsDep) -> MandateCancelPublic:
    return mandates.withdraw_mandate(session, settings, user.wallet)
