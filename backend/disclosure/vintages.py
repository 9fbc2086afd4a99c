"""Vintage analysis, as marketplace lenders publish it: loans grouped by the month they were paid
out, and how each group has done as it aged. Investors compare vintages at the same age (months on
book) to see whether newer loans default sooner than older ones did, which a platform-wide default
rate hides while the book grows.

A month on book is 30 days from disbursal (LoanBook's installment period and the aging buckets');
a loan's default falls in the month on book its `LoanDefaulted` event is stamped in. Everything is
read from the chain index (`chain_loans`, `chain_events`), so anyone can rebuild it from the chain."""

from __future__ import annotations

from collections import defaultdict
from datetime import UTC, datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from backend.chain.models import ChainEvent
from backend.chain.projection_models import LoanRow
from backend.disclosure.schemas import VintagePublic
from backend.servicing.roll_rates import defaulted_on_an_installment

MONTH_ON_BOOK = 30 * 86_400
DISBURSED = ("active", "repaid", "defaulted")  # paid out: what the disclosure's loan figures count


def vintage_of(start_time: int) -> str:
    return datetime.fromtimestamp(start_time, UTC).strftime("%Y-%m")


def default_times(session: Session, loan_ids: set[int]) -> dict[int, int]:
    events = session.execute(select(ChainEvent.args, ChainEvent.block_timestamp)
                             .where(ChainEvent.contract == "LoanBook", ChainEvent.event == "LoanDefaulted"))  # fmt: skip
    return {int(args["loanId"]): stamp for args, stamp in events if int(args["loanId"]) in loan_ids and stamp is not None}


def vintages(session: Session, as_of: int | None, loans: list[LoanRow] | None = None) -> list[VintagePublic]:
    """Each month's disbursed loans (of `loans`, every loan indexed by default) and their record as
    of chain time `as_of` (the latest block indexed), the oldest month first."""
    if loans is None:
        loans = list(session.scalars(select(LoanRow).where(LoanRow.status.in_(DISBURSED))))
    loans = [loan for loan in loans if loan.status in DISBURSED and loan.start_time is not None]
    if not loans or as_of is None:
        return []
    defaulted_at = default_times(session, {loan.loan_id for loan in loans if loan.status == "defaulted"})
    groups: dict[str, list[LoanRow]] = defaultdict(list)
    for loan in loans:
        groups[vintage_of(loan.start_time)].append(loan)
    return [_vintage(name, group, defaulted_at, as_of) for name, group in sorted(groups.items())]


def _vintage(name: str, group: list[LoanRow], defaulted_at: dict[int, int], as_of: int) -> VintagePublic:
    originated = sum(loan.principal for loan in group)
    first = min(loan.start_time for loan in group)
    age = max(0, as_of - first) // MONTH_ON_BOOK + 1  # months on book its oldest loan has begun
    # Months on book every loan has completed: only those points compare with another vintage at the
    # same age (a later point still misses defaults to come, the last one for every loan).
    complete = max(0, as_of - max(loan.start_time for loan in group)) // MONTH_ON_BOOK
    by_month = [0] * age
    defaulted = [loan for loan in group if loan.status == "defaulted"]
    for loan in defaulted:
        stamp = defaulted_at.get(loan.loan_id, as_of)
        by_month[min(age - 1, max(0, stamp - loan.start_time) // MONTH_ON_BOOK)] += loan.principal_outstanding
    curve, running = [], 0
    for amount in by_month:
        running += amount
        curve.append(running / originated)
    at_default = sum(loan.principal_outstanding for loan in defaulted)
    net_loss = sum(loan.net_loss for loan in defaulted)
    return VintagePublic(
        vintage=name, loans=len(group), principal_originated=originated,
        principal_repaid=sum(loan.principal_paid for loan in group),
        repaid_loans=sum(1 for loan in group if loan.status == "repaid"), defaulted_loans=len(defaulted),
        fee_only_defaults=sum(1 for loan in defaulted if not defaulted_on_an_installment(loan)),
        principal_at_default=at_default, default_rate=at_default / originated, net_loss_rate=net_loss / originated,
        months_on_book=age, complete_months=min(complete, age), cumulative_default_rate=curve,
    )  # fmt: skip
