"""Loans as indexed from LoanBook: public, like the chain they come from."""

from typing import Annotated

from fastapi import APIRouter, Query

from backend.api.deps import CurrentUser, SessionDep, SettingsDep, allow
from backend.lending import loans, wallet_txs
from backend.lending.schemas import LoanDetailPublic, LoanListPublic, WalletTxCreate, WalletTxPublic
from backend.servicing import collections as case_log
from backend.servicing import service as servicing
from backend.servicing.schemas import CollectionActionPublic, HardshipCreate, ServicingPublic

router = APIRouter(prefix="/api/v1/loans", tags=["loans"])


@router.get("", dependencies=allow("loans.list"), summary="Loans, newest first; filter by status or borrower")
def list_loans(
    session: SessionDep,
    status: str | None = None,
    borrower: str | None = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 50,
    offset: Annotated[int, Query(ge=0)] = 0,
) -> LoanListPublic:
    return loans.list_loans(session, status=status, borrower=borrower, limit=limit, offset=offset)


@router.get("/{loan_id}", dependencies=allow("loans.read"), summary="A loan: terms, funding, schedule, agreement")
def read(loan_id: int, session: SessionDep) -> LoanDetailPublic:
    return loans.get_loan(session, loan_id)


@router.get("/{loan_id}/position", dependencies=allow("loans.read"),
            summary="An active loan's position now, from LoanBook: due now, payoff, next due date, days past due")
def position(loan_id: int, session: SessionDep, settings: SettingsDep) -> ServicingPublic:
    return servicing.position_now(session, settings, loan_id)


@router.post("/{loan_id}/hardship", dependencies=allow("loans.hardship"), status_code=201,
             summary="The loan's borrower tells the lender it cannot pay as agreed (into the collections case log)")
def hardship(loan_id: int, body: HardshipCreate, user: CurrentUser, session: SessionDep,
             settings: SettingsDep) -> CollectionActionPublic:  # fmt: skip
    return case_log.ask_for_hardship(session, settings, loan_id, body, user.wallet)


@router.post(
    "/{loan_id}/transactions",
    dependencies=allow("loans.transactions"),
    summary="Transactions for your wallet to fund, repay or claim (approve first when needed); nothing is signed here",
)
def transactions(
    loan_id: int, request: WalletTxCreate, user: CurrentUser, session: SessionDep, settings: SettingsDep
) -> WalletTxPublic:
    return wallet_txs.prepare(session, settings, user.wallet, loan_id, request)
