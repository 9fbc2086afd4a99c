"""Loans as indexed from LoanBook: public, like the chain they come from."""

from typing import Annotated

from fastapi import APIRouter, Depends, Query, Response

from backend.api.deps import (
    STAFF,
    CurrentUser,
    Idempotent,
    LoanId,
    SessionDep,
    SettingsDep,
    StatementYear,
    allow,
    chain_read_rate_limit,
)
from backend.api.downloads import CSV_RESPONSES, csv_download
from backend.bounds import DB_ID_MAX
from backend.lending import autopay, loan_statement, loans, wallet_txs
from backend.lending.autopay_schemas import (
    AutopayCancelPublic,
    AutopayDraftCreate,
    AutopayDraftPublic,
    AutopayPublic,
    AutopaySign,
)
from backend.lending.borrower_profile import borrower_profile
from backend.lending.schemas import (
    BorrowerProfilePublic,
    LoanDetailPublic,
    LoanListPublic,
    LoanStatementPublic,
    WalletTxCreate,
    WalletTxPublic,
)
from backend.servicing import collections as case_log
from backend.servicing import plans as hardship_plans
from backend.servicing import release as releases
from backend.servicing import service as servicing
from backend.servicing.schemas import (
    AgreedPlanPublic,
    CollectionActionPublic,
    HardshipCreate,
    ReleasePublic,
    ServicingPublic,
)

router = APIRouter(prefix="/api/v1/loans", tags=["loans"])


@router.get("", dependencies=allow("loans.list"), summary="Loans, newest first; filter by status or borrower")
def list_loans(
    session: SessionDep,
    status: str | None = None,
    borrower: str | None = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 50,
    offset: Annotated[int, Query(ge=0, le=DB_ID_MAX)] = 0,
) -> LoanListPublic:
    return loans.list_loans(session, status=status, borrower=borrower, limit=limit, offset=offset)


@router.get("/{loan_id}", dependencies=allow("loans.read"), summary="A loan: terms, funding, schedule, agreement")
def read_loan(loan_id: LoanId, session: SessionDep) -> LoanDetailPublic:
    return loans.get_loan(session, loan_id)


@router.get("/{loan_id}/position", dependencies=[*allow("loans.read"), Depends(chain_read_rate_limit)],
            summary="An active loan's position now, from LoanBook: due now, payoff, next due date, days past due")
def position(loan_id: LoanId, session: SessionDep, settings: SettingsDep) -> ServicingPublic:
    return servicing.position_now(session, settings, loan_id)


@router.get("/{loan_id}/statement", dependencies=allow("loans.statement"),
            summary="The loan's statement for its borrower (and staff): every movement on the debt, opening and closing balance")
def statement(loan_id: LoanId, user: CurrentUser, session: SessionDep, settings: SettingsDep,
              year: StatementYear = None) -> LoanStatementPublic:  # fmt: skip
    return loan_statement.loan_statement(session, settings, loan_id, user.wallet, bool(user.roles & STAFF), year)


@router.get("/{loan_id}/statement.csv", dependencies=allow("loans.statement"), response_class=Response,
            responses=CSV_RESPONSES, summary="The loan statement's lines as CSV (base units; cash also in tokens)")
def statement_csv(loan_id: LoanId, user: CurrentUser, session: SessionDep, settings: SettingsDep,
                  year: StatementYear = None) -> Response:  # fmt: skip
    report = loan_statement.loan_statement(session, settings, loan_id, user.wallet, bool(user.roles & STAFF), year)
    return csv_download(loan_statement.loan_statement_csv(report), f"loanchain-loan-{loan_id}-statement-{year or 'all'}.csv")


@router.get("/{loan_id}/release", dependencies=allow("loans.statement"),
            summary="The borrower's release letter once nothing more is owed: its CID, anchoring and content")
def release(loan_id: LoanId, user: CurrentUser, session: SessionDep, settings: SettingsDep) -> ReleasePublic:
    return releases.release_of(session, settings, loan_id, user.wallet, bool(user.roles & STAFF))


@router.get("/{loan_id}/plans", dependencies=allow("loans.plans"),
            summary="The hardship plans agreed on the loan, newest first, each judged by the chain's repayments: what "
                    "it asks by when (for the loan's borrower, and staff)")
def plans(loan_id: LoanId, user: CurrentUser, session: SessionDep, settings: SettingsDep) -> list[AgreedPlanPublic]:
    return hardship_plans.agreed_plans(session, settings, loan_id, user.wallet, bool(user.roles & STAFF))


@router.get("/{loan_id}/borrower", dependencies=allow("loans.borrower"),
            summary="The loan's borrower as investors may see it while it funds (later, its note holders): banded "
                    "facts and the credit decision, never identity")
def borrower(loan_id: LoanId, user: CurrentUser, session: SessionDep, settings: SettingsDep) -> BorrowerProfilePublic:
    return borrower_profile(session, settings, loan_id, user.wallet, bool(user.roles & STAFF))


@router.post("/{loan_id}/hardship", dependencies=allow("loans.hardship"), status_code=201,
             summary="The loan's borrower tells the lender it cannot pay as agreed (into the collections case log)")
def hardship(loan_id: LoanId, body: HardshipCreate, user: CurrentUser, session: SessionDep, settings: SettingsDep,
             response: Response, once: Idempotent) -> CollectionActionPublic:  # fmt: skip
    return once.answer(response, lambda: case_log.ask_for_hardship(session, settings, loan_id, body, user.wallet),
                       lambda action_id: case_log.entry(session, settings, loan_id, int(action_id)))  # fmt: skip


@router.post(
    "/{loan_id}/transactions",
    dependencies=allow("loans.transactions"),
    summary="Transactions for your wallet to fund, repay or claim (approve first when needed); nothing is signed here",
)
def transactions(
    loan_id: LoanId, request: WalletTxCreate, user: CurrentUser, session: SessionDep, settings: SettingsDep
) -> WalletTxPublic:
    return wallet_txs.prepare(session, settings, user.wallet, loan_id, request)


@router.post("/{loan_id}/autopay/draft", dependencies=allow("loans.autopay"),
             summary="Autopay for the loan's borrower: the repayment mandate to sign (EIP-712) and the approval to send")  # fmt: skip
def draft_autopay(loan_id: LoanId, request: AutopayDraftCreate, user: CurrentUser, session: SessionDep,
                  settings: SettingsDep) -> AutopayDraftPublic:  # fmt: skip
    return autopay.draft_autopay(session, settings, user.wallet, loan_id, request)


@router.put("/{loan_id}/autopay", dependencies=allow("loans.autopay"),
            summary="Give the signed repayment mandate: the keeper pays each installment with it as it falls due")  # fmt: skip
def sign_autopay(loan_id: LoanId, request: AutopaySign, user: CurrentUser, session: SessionDep,
                 settings: SettingsDep) -> AutopayPublic:  # fmt: skip
    return autopay.sign_autopay(session, settings, user.wallet, loan_id, request)


@router.get("/{loan_id}/autopay", dependencies=allow("loans.statement"),
            summary="The loan's autopay (its borrower and staff): the mandate, its payments, warnings")  # fmt: skip
def get_autopay(loan_id: LoanId, user: CurrentUser, session: SessionDep, settings: SettingsDep) -> AutopayPublic:
    return autopay.get_autopay(session, settings, user.wallet, loan_id, bool(user.roles & STAFF))


@router.delete("/{loan_id}/autopay", dependencies=allow("loans.autopay"),
               summary="Withdraw autopay: the keeper stops now; send the transaction to end it on chain")  # fmt: skip
def withdraw_autopay(loan_id: LoanId, user: CurrentUser, session: SessionDep, settings: SettingsDep) -> AutopayCancelPublic:
    return autopay.withdraw_autopay(session, settings, user.wallet, loan_id)
