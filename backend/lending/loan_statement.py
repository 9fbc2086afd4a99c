"""A loan's statement for its borrower: every movement on the debt, in chain order, from LoanBook's
own events (paid out net of the origination fee, late fees charged, each payment split into late
fees, interest and principal with the balance after it, prepayments, the payoff, a default with the
reserve's cover, what stays owed and the interest and late fees folded into it, recoveries), each with the block and transaction that prove
it; then the period's totals between an opening and a closing balance. A period is a calendar year
in UTC by block time (interest paid in a tax year), or the loan's whole life.

Nothing is estimated: the amounts are the events'. It is read by the loan's borrower and by staff;
everything in it is public on-chain already, but a statement is addressed to one debtor."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

from backend.chain.loan_book import loan_book_domain
from backend.chain.models import ChainEvent
from backend.chain.projection_models import EventSubjectRow, LoanRow
from backend.config import Settings
from backend.errors import Forbidden, NotFound
from backend.lending.schemas import LoanStatementLinePublic, LoanStatementPublic
from backend.lending.statement import csv_text, in_tokens, iso_date, year_bounds

CSV_COLUMNS = ("date", "block_number", "tx_hash", "kind", "installment", "cash", "cash_tokens", "origination_fee",
               "late_fee_charged", "late_fee_paid", "interest_paid", "principal_paid", "charged_at_default",
               "principal_outstanding", "recoverable", "payer")  # fmt: skip
PARTS = ("origination_fee", "late_fee_charged", "late_fee_paid", "interest_paid", "principal_paid", "charged_at_default")


def _line(ev: ChainEvent) -> LoanStatementLinePublic | None:
    """The statement line of one LoanBook event about the loan; None for events that move nothing
    on the debt (creation, funding, claims)."""
    a = {k: int(v) if isinstance(v, str) and v.isdigit() else v for k, v in ev.args.items()}
    ref = dict(timestamp=ev.block_timestamp, block_number=ev.block_number, tx_hash=ev.tx_hash, log_index=ev.log_index)
    match ev.event:
        case "LoanDisbursed":
            principal = a["netAmount"] + a["originationFee"]
            return LoanStatementLinePublic(**ref, kind="disbursed", cash=a["netAmount"], origination_fee=a["originationFee"],
                                           principal_outstanding=principal)  # fmt: skip
        case "LateFeeAssessed":
            return LoanStatementLinePublic(**ref, kind="late_fee", installment=a["throughInstallment"],
                                           late_fee_charged=a["amount"])  # fmt: skip
        case "LoanPayment":
            paid = a["feePaid"] + a["interestPaid"] + a["principalPaid"]
            return LoanStatementLinePublic(**ref, kind="payment", installment=a["installment"], cash=-paid,
                                           late_fee_paid=a["feePaid"], interest_paid=a["interestPaid"],
                                           principal_paid=a["principalPaid"], principal_outstanding=a["principalOutstanding"],
                                           payer=a["payer"])  # fmt: skip
        case "LoanPrepayment":
            return LoanStatementLinePublic(**ref, kind="prepayment", cash=-(a["feePaid"] + a["principalPaid"]),
                                           late_fee_paid=a["feePaid"], principal_paid=a["principalPaid"],
                                           principal_outstanding=a["principalOutstanding"], payer=a["payer"])  # fmt: skip
        case "LoanRepaid":
            return LoanStatementLinePublic(**ref, kind="paid_off", installment=a["installmentsPaid"], principal_outstanding=0)
        case "LoanDefaulted":
            return LoanStatementLinePublic(**ref, kind="defaulted", principal_outstanding=a["principalOutstanding"],
                                           reserve_cover=a["cover"], recoverable=a["recoverable"],
                                           charged_at_default=a["debt"] - a["principalOutstanding"])  # fmt: skip
        case "LoanRecovery":
            return LoanStatementLinePublic(**ref, kind="recovery", cash=-a["amount"], recoverable=a["recoverableLeft"],
                                           payer=a["payer"])  # fmt: skip
    return None


def _lines(db: Session, loan_id: int) -> list[LoanStatementLinePublic]:
    about = select(EventSubjectRow.event_id).where(EventSubjectRow.loan_id == loan_id)
    events = db.scalars(select(ChainEvent).where(ChainEvent.id.in_(about), ChainEvent.contract == "LoanBook")
                        .order_by(ChainEvent.block_number, ChainEvent.log_index))  # fmt: skip
    return [line for line in map(_line, events) if line is not None]


def _balance(lines: list[LoanStatementLinePublic]) -> int:
    """Principal outstanding after the last line that tells it (0 before the payout, and once
    defaulted: what stays owed is then `recoverable`)."""
    told = [line for line in lines if line.principal_outstanding is not None or line.kind == "defaulted"]
    return 0 if not told or told[-1].kind == "defaulted" else told[-1].principal_outstanding


def _recoverable(lines: list[LoanStatementLinePublic]) -> int:
    told = [line.recoverable for line in lines if line.recoverable is not None]
    return told[-1] if told else 0


def borrowers_loan(db: Session, loan_id: int, viewer: str, staff: bool, what: str) -> LoanRow:
    """The loan, for a record addressed to its borrower (`what`): 404 when it is not indexed, 403
    to anyone but its borrower and staff."""
    loan = db.get(LoanRow, loan_id)
    if loan is None:
        raise NotFound(f"no loan {loan_id} in the chain index", field="loan_id", loan_id=loan_id)
    if not staff and loan.borrower.lower() != viewer.lower():
        raise Forbidden(f"loan {loan_id}'s {what} is for its borrower (and staff)", loan_id=loan_id)
    return loan


def loan_statement(db: Session, settings: Settings, loan_id: int, viewer: str, staff: bool,
                   year: int | None = None) -> LoanStatementPublic:  # fmt: skip
    loan = borrowers_loan(db, loan_id, viewer, staff, "statement")
    start, end = year_bounds(year)
    every = _lines(db, loan_id)
    before = [line for line in every if start is not None and (line.timestamp or 0) < start]
    lines = [line for line in every if start is None or start <= (line.timestamp or 0) < end]
    after = before + lines
    totals = {name: sum(getattr(line, name) for line in lines) for name in PARTS}
    totals["received"] = sum(line.cash for line in lines if line.cash > 0)
    totals["paid"] = -sum(line.cash for line in lines if line.cash < 0)
    totals["recovered"] = -sum(line.cash for line in lines if line.kind == "recovery")
    return LoanStatementPublic(
        loan_id=loan_id, borrower=loan.borrower, status=loan.status, principal=loan.principal, apr_bps=loan.apr_bps,
        installments=loan.installments, period_start=start, period_end=end,
        decimals=loan_book_domain(settings).asset_decimals, opening_principal=_balance(before),
        closing_principal=_balance(after), opening_recoverable=_recoverable(before), closing_recoverable=_recoverable(after),
        lines=lines, **totals,
    )  # fmt: skip


def loan_statement_csv(statement: LoanStatementPublic) -> str:
    """The statement's lines, one row each (amounts in base units; cash also in tokens)."""
    return csv_text(CSV_COLUMNS, ((iso_date(line.timestamp), line.block_number, line.tx_hash, line.kind, _blank(line.installment),
                                   line.cash, in_tokens(line.cash, statement.decimals), line.origination_fee,
                                   line.late_fee_charged, line.late_fee_paid, line.interest_paid, line.principal_paid,
                                   line.charged_at_default, _blank(line.principal_outstanding), _blank(line.recoverable), _blank(line.payer))
                                  for line in statement.lines))  # fmt: skip


def _blank(value):
    return "" if value is None else value
