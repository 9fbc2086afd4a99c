"""For auditors and admins: the audit log, its verification, and end-to-end traces with proofs."""

from typing import Annotated

from fastapi import APIRouter, Query, Response

from backend.api.deps import (
    CurrentUser,
    LoanId,
    NotesShown,
    PageLimit,
    PageOffset,
    SessionDep,
    SettingsDep,
    StatementYear,
    allow,
)
from backend.api.idempotency import answered
from backend.audit import log, monitoring, trace
from backend.audit.schemas import (
    AddressTracePublic,
    AlertPublic,
    AlertReviewCreate,
    AuditEntryPublic,
    AuditReportPublic,
    LoanTracePublic,
    TxTracePublic,
)
from backend.audit.verify import verify_audit_log
from backend.bounds import DB_ID_MAX
from backend.identity.kyc import service as kyc
from backend.identity.roles import checksum
from backend.identity.schemas import RevealPublic
from backend.lending import mandates, portfolio, statement
from backend.lending.mandate_schemas import MandatePublic
from backend.lending.schemas import PortfolioPublic, StatementPublic

router = APIRouter(prefix="/api/v1/audit", tags=["audit"])


@router.get("/entries", dependencies=allow("audit.entries"), summary="Audit entries in order, after a seq")
def list_entries(
    session: SessionDep,
    after_seq: Annotated[int, Query(ge=0, le=DB_ID_MAX)] = 0,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
) -> list[AuditEntryPublic]:
    return [AuditEntryPublic.model_validate(e) for e in log.entries(session, after_seq=after_seq, limit=limit)]


@router.get(
    "/verify",
    dependencies=allow("audit.verify"),
    summary="Recompute the hash chain and check it against its on-chain anchors",
)
def verify(session: SessionDep, settings: SettingsDep) -> AuditReportPublic:
    return AuditReportPublic.of(verify_audit_log(session, settings))


@router.get(
    "/trace/loan/{loan_id}",
    dependencies=allow("audit.trace"),
    summary="A loan end to end: its events, offer, createLoan transaction, decision proof, agreement anchor, checks "
    "(case-log notes only for a sign-in of the last minutes)",
)
def trace_loan(loan_id: LoanId, session: SessionDep, settings: SettingsDep, notes: NotesShown,
               user: CurrentUser) -> LoanTracePublic:  # fmt: skip
    return trace.trace_loan(session, settings, loan_id, with_notes=notes, reader=user.wallet)


@router.get(
    "/trace/tx/{tx_hash}",
    dependencies=allow("audit.trace"),
    summary="A transaction: its events and outbox intent, checked against the node's receipt (422: not 0x and 64 hex "
    "digits)",
)
def trace_tx(tx_hash: str, session: SessionDep, settings: SettingsDep) -> TxTracePublic:
    return trace.trace_tx(session, settings, tx_hash)  # trace.tx_hash_of refuses a malformed hash first


@router.get(
    "/trace/address/{address}",
    dependencies=allow("audit.trace"),
    summary="An address: attestation, loans as borrower, notes, its ledger of money in and out, transactions, "
    "each held against the node's logs, LoanBook.balanceOf and KYCRegistry",
)
def trace_address(address: str, session: SessionDep, settings: SettingsDep) -> AddressTracePublic:
    return trace.trace_address(session, settings, address)


@router.get(
    "/statement/{address}",
    dependencies=allow("audit.trace"),
    summary="An investor's statement, as the investor sees it: every movement with LoanBook, with its transaction, "
    "from the chain index (the address trace holds its rows against the node)",
)
def investor_statement(address: str, session: SessionDep, settings: SettingsDep, year: StatementYear = None) -> StatementPublic:
    return statement.statement_of(session, settings, checksum(address, field="address"), year)


@router.get(
    "/portfolio/{address}",
    dependencies=allow("audit.trace"),
    summary="An investor's portfolio, as the investor sees it: positions, exposure, claimable, net annual return",
)
def investor_portfolio(address: str, session: SessionDep, settings: SettingsDep) -> PortfolioPublic:
    return portfolio.portfolio_of(session, settings, checksum(address, field="address"))


@router.get(
    "/mandates/{address}",
    dependencies=allow("audit.trace"),
    summary="An investor's funding mandates, newest first: the bounds it signed, what each funded, what is left",
)
def investor_mandates(address: str, session: SessionDep, settings: SettingsDep) -> list[MandatePublic]:
    return mandates.mandates_of(session, settings, checksum(address, field="address"))


@router.get(
    "/kyc/reveals",
    dependencies=allow("audit.kyc_reveals"),
    summary="Reveals of KYC personal data, newest first (or one record's): who revealed which record, when and why "
    "(audited; the reason is null once the record was erased)",
)
def kyc_reveals(
    user: CurrentUser,
    session: SessionDep,
    settings: SettingsDep,
    record_id: Annotated[str | None, Query(max_length=36, description="Only this record's")] = None,
    limit: PageLimit = 100,
    offset: PageOffset = 0,
) -> list[RevealPublic]:
    return kyc.reveal_reasons(session, settings, user.wallet, record_id, limit=limit, offset=offset)


@router.get(
    "/alerts",
    dependencies=allow("audit.trace"),
    summary="Transaction monitoring of notes: round trips, off-market prices, large gifts, newest first, a page at a "
    "time (review notes only for a sign-in of the last minutes)",
)
def alerts(
    session: SessionDep,
    settings: SettingsDep,
    notes: NotesShown,
    user: CurrentUser,
    since: Annotated[int, Query(ge=0, le=DB_ID_MAX, description="Only movements at or after this block time (Unix seconds, UTC)")] = 0,
    rule: Annotated[str | None, Query(description="round_trip, cycle, off_market_price, large_gift, structured_gifts, first_payment_default, early_payment_default, related_party_funding, role_change, pause, reserve_outflow, promise_chain, answers_changed or collection_wallet")] = None,
    open_only: Annotated[bool, Query(alias="open", description="Only alerts nobody has reviewed yet")] = False,
    limit: PageLimit = 100,
    offset: PageOffset = 0,
) -> list[AlertPublic]:
    return monitoring.alerts(session, settings, since, rule, open_only, with_notes=notes, reader=user.wallet,
                             limit=limit, offset=offset, shared=True)  # fmt: skip


@router.post("/alerts/{alert_key}/review", dependencies=allow("audit.review"), status_code=201,
             summary="Clear or escalate a monitoring alert, with a note: once per alert, in the audit log",
             responses={200: {"model": AlertPublic, "description": "The same review sent again by its reviewer (a "
                              "retry): the stored one, nothing written"}})  # fmt: skip
def review_alert(alert_key: str, request: AlertReviewCreate, user: CurrentUser, session: SessionDep,
                 settings: SettingsDep, response: Response) -> AlertPublic:  # fmt: skip
    return answered(monitoring.review_alert(session, settings, alert_key, request, user.wallet), response)
