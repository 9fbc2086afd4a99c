"""A wallet's business relationship with the lender, from the chain index: what the AML
record-keeping period (AMLD art. 40: customer due diligence records kept 5 years after the
relationship ends) counts from.

A wallet is in a relationship once it borrowed (a loan names it as borrower) or invested (it funded a
loan, notes were transferred to it, or it has held notes), or its funding mandate is funding a loan
the index does not show yet (the keeper's call queued, or mined in a block not read yet). The relationship is open while a loan it borrowed still owes
(funding, active, or defaulted with money to recover) or while it holds notes of such a loan; it
ended at the latest chain event naming the wallet (its last repayment, claim or note transfer), or
in the life of one of those loans (`LOAN_LIFE`: its funding, payments, closing, default, recoveries).
Other wallets' acts on the same loans (another investor's claim, notes changing hands between others,
market orders) are not the wallet's business and do not move its end: anyone holding a unit of a
repaid loan's notes could otherwise keep its borrower's erasure from ever coming due, a transfer at a
time (review 2026-12-01).

Only applying, being rejected or being offered a loan is no relationship: its data is erased at
once on request."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from sqlalchemy import func, or_, select
from sqlalchemy.orm import Session

from backend.chain.models import ChainEvent
from backend.chain.projection_models import EventSubjectRow, FundingRow, LoanRow, NoteBalanceRow, NoteTransferRow
from backend.config import Settings
from backend.identity.models import utcnow
from backend.lending.in_flight import mandate_fundings_in_flight, market_matches_in_flight
from backend.lending.new_loans import counted_until

# LoanBook's events of a loan's own life, whoever sends them: what ends a relationship in it.
LOAN_LIFE = ("LoanCreated", "LoanFunded", "LoanDisbursed", "LoanCancelled", "LoanRefunded", "LateFeeAssessed",
             "LoanPayment", "LoanPrepayment", "LoanRepaid", "LoanDefaulted", "LoanRecovery", "CoverRecouped")


@dataclass(frozen=True)
class Relationship:
    open: bool
    ended_at: datetime | None  # None while open
    borrowing: tuple[int, ...] = ()  # while open: the loans it borrowed that still owe
    holding: tuple[int, ...] = ()  # while open: the loans still owing whose notes it holds


@dataclass(frozen=True)
class AmlHold:
    """Why a wallet's KYC data is kept now, and until when (None: the relationship is still open)."""

    erase_after: datetime | None
    relationship_ended_at: datetime | None
    borrowing: tuple[int, ...] = ()
    holding: tuple[int, ...] = ()
    counted_until: datetime | None = None  # when its last loan leaves its person's 30-day count of new loans

    def __str__(self) -> str:
        if self.erase_after is not None and self.erase_after == self.counted_until:
            return f"a loan this wallet took counts toward its person's limit of new loans in 30 days until " \
                   f"{self.counted_until:%Y-%m-%d}: erased before, the person's other wallets would no longer count " \
                   "it"  # fmt: skip
        if self.erase_after is None:  # undated: the period starts when the loans are settled
            because = [f"borrows in loan {_listed(self.borrowing)} not yet repaid"] if self.borrowing else []
            because += [f"holds notes of loan {_listed(self.holding)} not yet repaid"] if self.holding else []
            return f"the business relationship is still open (the wallet {' and '.join(because) or 'has a loan open'}): its " \
                   "customer due diligence records are kept until the AML record-keeping period after it ends has " \
                   "passed, a date set once it ends"  # fmt: skip
        return f"the AML record-keeping period after the business relationship ended ({self.relationship_ended_at:%Y-%m-%d}) " \
               f"runs until {self.erase_after:%Y-%m-%d}"  # fmt: skip


def relationship(session: Session, wallet: str, now: datetime | None = None) -> Relationship | None:
    """The wallet's relationship as the chain index shows it; None if it never borrowed nor invested."""
    borrowed = list(session.scalars(select(LoanRow).where(LoanRow.borrower == wallet)))
    held_ids = list(session.scalars(select(NoteBalanceRow.loan_id).where(NoteBalanceRow.holder == wallet,
                                                                         NoteBalanceRow.balance != 0)))  # fmt: skip
    invested = any(session.scalar(query.limit(1)) is not None for query in (
        select(FundingRow.loan_id).where(FundingRow.investor == wallet),
        select(NoteTransferRow.id).where(NoteTransferRow.recipient == wallet),
        select(NoteBalanceRow.loan_id).where(NoteBalanceRow.holder == wallet),  # notes held once, sold since
    ))  # fmt: skip
    # Its mandate's fundings and the market keeper's matches into its bids that the index does not show
    # yet (queued, or mined in a block not read yet): notes it is buying, so a relationship already,
    # open; erased now, it would invest unidentified.
    buying = mandate_fundings_in_flight(session, wallet) + market_matches_in_flight(session, wallet)
    flying = sorted(loan_id for loan_id, amount in buying.items() if amount)
    if not (borrowed or held_ids or invested or flying):
        return None
    held = list(session.scalars(select(LoanRow).where(LoanRow.loan_id.in_(held_ids)))) if held_ids else []
    borrowing, holding = (tuple(loan.loan_id for loan in loans if loan.owes) for loans in (borrowed, held))
    holding = tuple(sorted({*holding, *flying}))
    if borrowing or holding:
        return Relationship(open=True, ended_at=None, borrowing=borrowing, holding=holding)
    loans = [loan.loan_id for loan in borrowed] + held_ids
    last = session.scalar(select(func.max(ChainEvent.block_timestamp))
                          .join(EventSubjectRow, EventSubjectRow.event_id == ChainEvent.id)
                          .where(or_(EventSubjectRow.address == wallet,
                                     EventSubjectRow.loan_id.in_(loans) & (ChainEvent.contract == "LoanBook")
                                     & ChainEvent.event.in_(LOAN_LIFE))))  # fmt: skip
    # An index without the events' times (rows written by hand, an index from before they were kept)
    # cannot date the end: counted from now, so the period is never cut short.
    ended = datetime.fromtimestamp(last, UTC) if last else (now or utcnow())
    return Relationship(open=False, ended_at=ended)


def aml_hold(session: Session, settings: Settings, wallet: str, now: datetime | None = None) -> AmlHold | None:
    """Whether the AML period keeps `wallet`'s KYC data now (an erasure asked for is scheduled), or None.
    Kept as long, too, as a loan it took counts against its person's new loans (`new_loans.py`): the
    wallet is in its person through its KYC records only, so with an AML period shorter than 30 days
    (`LOANCHAIN_AML_RETENTION_DAYS`) an erasure would otherwise let the person borrow again at once."""
    now = now or utcnow()
    found = relationship(session, wallet, now)
    if found is None:
        return None
    if found.open:
        return AmlHold(erase_after=None, relationship_ended_at=None, borrowing=found.borrowing, holding=found.holding)
    counted = counted_until(session, wallet, now)
    due = max(found.ended_at + timedelta(days=settings.aml_retention_days), counted or found.ended_at)
    return AmlHold(erase_after=due, relationship_ended_at=found.ended_at, counted_until=counted) if due > now else None


def _listed(loan_ids: tuple[int, ...]) -> str:
    return ", ".join(str(i) for i in loan_ids)
