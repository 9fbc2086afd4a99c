"""An investor's statement: every movement between the wallet and LoanBook or NoteMarket in a
period (money paid in, taken back, repayments and reserve cover collected, notes bought and sold
on the secondary market, notes given to or received from another wallet), each with the block
and transaction that prove it, and totals per loan.

Amounts are the events' own, read from the chain index, so the statement's net cash is exactly
the wallet's token flow with the two contracts over the period; nothing is estimated. The index is
taken on trust here (a statement is read on every portfolio view, and the node is not asked); the
address trace (backend/audit/address_chain.py) holds the same rows against the node's logs. Beside the
cash, the statement gives what the notes earned in the period (interest, fees, principal back,
cover, write-offs, trading results; see `earnings`), which a claim's cash does not tell. A period
is a calendar year in UTC, by block time, or everything indexed."""

from __future__ import annotations

import csv
import io
from collections import defaultdict
from datetime import UTC, datetime
from decimal import Decimal

from sqlalchemy import or_, select
from sqlalchemy.orm import Session

from backend.chain.loan_book import loan_book_domain
from backend.chain.models import ChainEvent
from backend.chain.projection_models import (
    EventSubjectRow,
    FundingRow,
    LoanRow,
    MarketTradeRow,
    NoteBalanceRow,
    NoteTransferRow,
)
from backend.chain.wallet_calls import LoanBookWallet
from backend.config import Settings
from backend.lending import earnings
from backend.lending.loans import decision_facts
from backend.lending.schemas import (
    EarningLinePublic,
    StatementLinePublic,
    StatementLoanPublic,
    StatementPublic,
)
from backend.market.book import outstanding_then, trade_transfers

CASH_SIGN = {"fund": -1, "refund": 1, "claim": 1, "purchase": -1, "sale": 1}
NOTES_SIGN = {"fund": 1, "refund": -1, "claim": 0}
TOTALS = {"fund": "funded", "refund": "refunded", "claim": "collected", "purchase": "bought", "sale": "sold"}
CSV_COLUMNS = ("date", "block_number", "tx_hash", "loan_id", "kind", "cash", "cash_tokens", "notes")
EARNINGS_CSV_COLUMNS = ("date", "block_number", "tx_hash", "loan_id", "kind", *earnings.PARTS)


def year_bounds(year: int | None) -> tuple[int | None, int | None]:
    if year is None:
        return None, None
    return (int(datetime(year, 1, 1, tzinfo=UTC).timestamp()), int(datetime(year + 1, 1, 1, tzinfo=UTC).timestamp()))


def _rows_of(db: Session, model: type, wallet: str, *sides) -> list:
    """(row, block time) of the index rows of `model` with the wallet on any of `sides`."""
    query = (select(model, ChainEvent.block_timestamp).join(ChainEvent, ChainEvent.id == model.event_id)
             .where(or_(*(side == wallet for side in sides))))  # fmt: skip
    return list(db.execute(query))


def _line(r, ts: int | None, kind: str, cash: int, notes: int) -> StatementLinePublic:
    return StatementLinePublic(timestamp=ts, block_number=r.block_number, tx_hash=r.tx_hash, log_index=r.log_index,
                               loan_id=r.loan_id, kind=kind, cash=cash, notes=notes)  # fmt: skip


def _money_lines(db: Session, wallet: str) -> list[StatementLinePublic]:
    return [_line(r, ts, r.kind, CASH_SIGN[r.kind] * r.amount, NOTES_SIGN[r.kind] * r.amount)
            for r, ts in _rows_of(db, FundingRow, wallet, FundingRow.investor)]  # fmt: skip


def _trade_rows(db: Session, wallet: str) -> list:
    return _rows_of(db, MarketTradeRow, wallet, MarketTradeRow.seller, MarketTradeRow.buyer)


def _trade_lines(db: Session, wallet: str, trades: list | None = None) -> list[StatementLinePublic]:
    lines = []
    for r, ts in _trade_rows(db, wallet) if trades is None else trades:
        kind = "sale" if r.seller == wallet else "purchase"
        lines.append(_line(r, ts, kind, CASH_SIGN[kind] * r.cost, -CASH_SIGN[kind] * r.notes))
    return lines


def cash_lines(db: Session, wallet: str) -> list[StatementLinePublic]:
    """Every line that moved money between the wallet and the two contracts, all time."""
    return _money_lines(db, wallet) + _trade_lines(db, wallet)


def _gift_rows(db: Session, wallet: str, trades: list) -> list:
    """(row, block time) of the notes the wallet gave or was given: moved between wallets (mints and
    burns are the fund and refund lines already), not by one of its `trades` (whose sale or purchase
    line is that movement)."""
    moves = [(r, ts) for r, ts in _rows_of(db, NoteTransferRow, wallet, NoteTransferRow.sender, NoteTransferRow.recipient)
             if r.sender != r.recipient]  # a self-transfer moves nothing  # fmt: skip
    by_trade = trade_transfers([r for r, _ in trades], [r for r, _ in moves])
    gifts = [move for i, move in enumerate(moves) if i not in by_trade]
    return sorted(gifts, key=lambda move: (move[0].block_number, move[0].log_index))


def gift_flows(db: Session, wallet: str) -> list[tuple[int, int]]:
    """(block time, amount) of the notes the wallet was given (negative, as if it had paid for them)
    or gave away (positive), valued at what the portfolio counts such notes at: the principal
    outstanding they stood for then (their face while the loan funded, or once cancelled, when they
    are money to take back), nothing once the loan had defaulted (worth nothing until recovered).
    So notes moved between an investor's own wallets carry their value with them, and neither
    wallet's net annual return counts them as a gain or a loss."""
    gifts = [(r, ts) for r, ts in _gift_rows(db, wallet, _trade_rows(db, wallet)) if ts is not None]
    if not gifts:
        return []
    loan_ids = {r.loan_id for r, _ in gifts}
    then = {row_id: (principal, outstanding) for row_id, principal, outstanding in db.execute(
        select(NoteTransferRow.id, LoanRow.principal, outstanding_then(NoteTransferRow))
        .join(LoanRow, LoanRow.loan_id == NoteTransferRow.loan_id)
        .where(NoteTransferRow.id.in_([r.id for r, _ in gifts])))}  # fmt: skip
    defaulted = {loan_id: (block, log_index) for loan_id, block, log_index in db.execute(
        select(EventSubjectRow.loan_id, ChainEvent.block_number, ChainEvent.log_index)
        .join(EventSubjectRow, EventSubjectRow.event_id == ChainEvent.id)
        .where(ChainEvent.event == "LoanDefaulted", EventSubjectRow.loan_id.in_(loan_ids)))}  # fmt: skip
    flows = []
    for r, ts in gifts:
        principal, outstanding = then[r.id]
        written_off = r.loan_id in defaulted and (r.block_number, r.log_index) > defaulted[r.loan_id]
        value = 0 if written_off else r.amount * outstanding // principal
        flows.append((ts, -value if r.recipient == wallet else value))
    return flows


def _transfer_lines(moves: list, wallet: str) -> list[StatementLinePublic]:
    return [_line(r, ts, "notes_in", 0, r.amount) if r.recipient == wallet else _line(r, ts, "notes_out", 0, -r.amount)
            for r, ts in moves]  # fmt: skip


def _in_period(line: StatementLinePublic | EarningLinePublic, start: int | None, end: int | None) -> bool:
    if start is None:
        return True
    return line.timestamp is not None and start <= line.timestamp < end


def statement_of(db: Session, settings: Settings, wallet: str, year: int | None = None) -> StatementPublic:
    start, end = year_bounds(year)
    trade_rows = _trade_rows(db, wallet)
    trades, transfers = _trade_lines(db, wallet, trade_rows), _transfer_lines(_gift_rows(db, wallet, trade_rows), wallet)
    every_line, every_earning = _money_lines(db, wallet) + trades + transfers, earnings.earnings_of(db, wallet)
    lines = [line for line in every_line if _in_period(line, start, end)]
    lines.sort(key=lambda line: (line.block_number, line.log_index))
    earned = [line for line in every_earning if _in_period(line, start, end)]
    years = sorted({datetime.fromtimestamp(line.timestamp, UTC).year for line in every_line + every_earning
                    if line.timestamp is not None}, reverse=True)  # fmt: skip
    held = dict(db.execute(select(NoteBalanceRow.loan_id, NoteBalanceRow.balance).where(NoteBalanceRow.holder == wallet)).all())
    loan_ids = sorted({line.loan_id for line in lines + earned} | set(held))
    rows = {r.loan_id: r for r in db.scalars(select(LoanRow).where(LoanRow.loan_id.in_(loan_ids)))}
    grades = {h: f.grade for h, f in decision_facts(db, {r.decision_hash for r in rows.values()}).items()}
    book = LoanBookWallet(settings, wallet) if loan_ids else None
    claims = book.claimable_of([loan_id for loan_id in loan_ids if loan_id in rows]) if book else {}
    sums: dict[int, dict[str, int]] = defaultdict(lambda: defaultdict(int))
    earned_by_loan = defaultdict(list)
    for line in earned:
        earned_by_loan[line.loan_id].append(line)
    for line in lines:
        if line.kind in TOTALS:
            sums[line.loan_id][TOTALS[line.kind]] += abs(line.cash)
    loans = []
    for loan_id in loan_ids:
        row, s = rows.get(loan_id), sums[loan_id]
        loans.append(StatementLoanPublic(
            loan_id=loan_id, status=row.status if row else "unknown", grade=grades.get(row.decision_hash) if row else None,
            **{total: s[total] for total in TOTALS.values()},
            net_cash=s["refunded"] + s["collected"] + s["sold"] - s["funded"] - s["bought"],
            notes_held=held.get(loan_id, 0), claimable=claims.get(loan_id, 0),
            earnings=earnings.total(earned_by_loan[loan_id]),
        ))  # fmt: skip
    return StatementPublic(
        wallet=wallet, period_start=start, period_end=end, decimals=loan_book_domain(settings).asset_decimals,
        lines=lines, loans=loans, **{total: sum(getattr(l, total) for l in loans) for total in TOTALS.values()},
        net_cash=sum(line.cash for line in lines), earnings=earnings.total(earned), earning_lines=earned, years=years,
    )  # fmt: skip


def iso_date(timestamp: int | None) -> str:
    return datetime.fromtimestamp(timestamp, UTC).isoformat() if timestamp is not None else ""


def csv_text(columns: tuple[str, ...], rows) -> str:
    """A header and rows as CSV text, for a spreadsheet or an accountant."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(columns)
    writer.writerows(rows)
    return out.getvalue()


def in_tokens(amount: int, decimals: int) -> Decimal:
    return Decimal(amount).scaleb(-decimals)  # exact: never through a float


def statement_csv(statement: StatementPublic) -> str:
    """The statement's lines, one row each."""
    return csv_text(CSV_COLUMNS, ((iso_date(line.timestamp), line.block_number, line.tx_hash, line.loan_id, line.kind,
                                   line.cash, in_tokens(line.cash, statement.decimals), line.notes)
                                  for line in statement.lines))  # fmt: skip


def earnings_csv(statement: StatementPublic) -> str:
    """What the notes earned, one row per event (amounts in base units), for a tax return."""
    return csv_text(EARNINGS_CSV_COLUMNS, ((iso_date(line.timestamp), line.block_number, line.tx_hash, line.loan_id,
                                            line.kind, *(getattr(line, part) for part in earnings.PARTS))
                                           for line in statement.earning_lines))  # fmt: skip
