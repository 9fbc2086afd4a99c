"""Platform figures for information disclosure, read from the chain index (`chain_loans`,
`chain_fundings`, `chain_events`), so anyone can reproduce them from the chain with `loanchain
index rebuild`; delinquency comes from the last servicing pass, and the reserve's expected-loss
comparison uses the PDs of the platform's own credit decisions."""

from __future__ import annotations

import time
from collections import defaultdict

from sqlalchemy import func, select, union
from sqlalchemy.orm import Session

from backend.chain.indexer import CHECKPOINT
from backend.chain.models import IndexedBlock, IndexerCheckpoint
from backend.chain.projection_models import (
    FundingRow,
    LoanRow,
    MarketBidRow,
    MarketListingRow,
    MarketTradeRow,
)
from backend.disclosure.aging import aging_now
from backend.disclosure.reserve import reserve_figures
from backend.disclosure.schemas import (
    ConcentrationPublic,
    DefaultsPublic,
    DelinquencyPublic,
    DisclosurePublic,
    GradeOutcomePublic,
    LoanCountsPublic,
    MarketActivityPublic,
    RollRatePublic,
)
from backend.disclosure.vintages import DISBURSED, vintages
from backend.scoring.models import CreditDecision
from backend.servicing.roll_rates import roll_rates
from backend.servicing.schemas import ServicingPublic


def _ratio(part: int, whole: int) -> float | None:
    return part / whole if whole else None


def platform_disclosure(session: Session, *, aging: dict[int, ServicingPublic] | None = None,
                        clock: int | None = None) -> DisclosurePublic:  # fmt: skip
    """The figures as the index stands, with lateness from `aging` (the last servicing pass by
    default) and orders live at `clock` (the wall clock by default). A monthly report passes both
    as of the month's last block, reading inside `index_at`."""
    aging = aging_now(session) if aging is None else aging
    rates = roll_rates(session, aging, clock)  # a report's: only the late installments due by its month's end
    latest = indexed_until(session) if clock is None else None
    chain_clock = clock if clock is not None else latest.timestamp if latest else None  # how long loans have been on book
    clock = int(time.time()) if clock is None else clock
    # Summed in Python: amounts are uint256 kept as decimal strings (exact on SQLite and PostgreSQL),
    # which the column type hands back as ints.
    loans = list(session.scalars(select(LoanRow)))
    counts = LoanCountsPublic(**{status: sum(1 for loan in loans if loan.status == status) for status in
                                 LoanCountsPublic.model_fields})  # fmt: skip
    disbursed = [loan for loan in loans if loan.status in DISBURSED]
    defaulted = [loan for loan in loans if loan.status == "defaulted"]
    originated = sum(loan.principal for loan in disbursed)
    at_default = sum(loan.principal_outstanding for loan in defaulted)
    cover = sum(loan.cover for loan in defaulted)
    recovered = sum(loan.recovered for loan in defaulted)
    net_loss = sum(loan.net_loss for loan in defaulted)
    checkpoint = session.get(IndexerCheckpoint, CHECKPOINT)
    return DisclosurePublic(
        as_of_block=checkpoint.block_number if checkpoint else None,
        as_of_block_hash=checkpoint.block_hash if checkpoint else None,
        loans=counts,
        principal_originated=originated,
        principal_outstanding=sum(loan.principal_outstanding for loan in loans if loan.status == "active"),
        principal_repaid=sum(loan.principal_paid for loan in disbursed),
        interest_paid=sum(loan.interest_paid for loan in disbursed),
        late_fees_paid=sum(loan.fees_paid for loan in disbursed),
        investors=_investors(session),
        borrowers=len({loan.borrower for loan in disbursed}),
        concentration=_concentration([loan for loan in loans if loan.status == "active"]),
        by_grade=_by_grade(session, disbursed),
        vintages=vintages(session, chain_clock, disbursed),
        defaults=DefaultsPublic(
            count=len(defaulted), principal_at_default=at_default, reserve_cover=cover, recovered=recovered,
            net_loss=net_loss,
        ),  # fmt: skip
        default_rate=_ratio(at_default, originated),
        net_loss_rate=_ratio(net_loss, originated),
        delinquency=_delinquency(loans, aging),
        roll_rates=[RollRatePublic(**vars(rate)) for rate in rates.values()],
        reserve=reserve_figures(session, [loan for loan in loans if loan.status == "active"], aging=aging, rates=rates),
        market=_market(session, clock),
    )


def indexed_until(session: Session) -> IndexedBlock | None:
    """The latest block the index has confirmed (its hash and timestamp are kept beside it)."""
    checkpoint = session.get(IndexerCheckpoint, CHECKPOINT)
    return session.get(IndexedBlock, checkpoint.block_number) if checkpoint else None


def _investors(session: Session) -> int:
    # UNION drops duplicates: a wallet that funded one loan and bought notes of another counts once.
    wallets = union(select(FundingRow.investor).where(FundingRow.kind == "fund"), select(MarketTradeRow.buyer))
    return session.scalar(select(func.count()).select_from(wallets.subquery())) or 0


def _open_notes(session: Session, model: type, clock: int) -> list[int]:
    """Notes left in the open orders of one side of the market unexpired at `clock`, for active loans
    (the live figures use the wall clock: a public figure needs no chain call, and block times
    track it)."""
    return list(session.scalars(select(model.notes_left).join(LoanRow, LoanRow.loan_id == model.loan_id)
                                .where(model.status == "open", model.live_at(clock),
                                       LoanRow.status == "active")))  # fmt: skip


def _market(session: Session, clock: int) -> MarketActivityPublic:
    offered, wanted = _open_notes(session, MarketListingRow, clock), _open_notes(session, MarketBidRow, clock)
    trades = list(session.execute(select(MarketTradeRow.notes, MarketTradeRow.cost, MarketTradeRow.listing_id,
                                         MarketTradeRow.bid_id)))  # fmt: skip
    traded, volume = sum(t.notes for t in trades), sum(t.cost for t in trades)
    matched = sum(1 for t in trades if t.listing_id is not None and t.bid_id is not None)  # named both orders
    return MarketActivityPublic(open_listings=len(offered), notes_offered=sum(offered), open_bids=len(wanted),
                                notes_wanted=sum(wanted), trades=len(trades), matched=matched, notes_traded=traded,
                                volume=volume, average_price_bps=10_000 * volume / traded if traded else None)  # fmt: skip


def _concentration(active: list[LoanRow]) -> ConcentrationPublic:
    owed: dict[str, int] = defaultdict(int)
    for loan in active:
        owed[loan.borrower] += loan.principal_outstanding
    total, largest = sum(owed.values()), sorted(owed.values(), reverse=True)
    return ConcentrationPublic(largest_borrower_share=_ratio(sum(largest[:1]), total),
                               top10_borrowers_share=_ratio(sum(largest[:10]), total))  # fmt: skip


def _by_grade(session: Session, disbursed: list[LoanRow]) -> list[GradeOutcomePublic]:
    grades = dict(session.execute(select(CreditDecision.decision_hash, CreditDecision.grade)
                                  .join(LoanRow, LoanRow.decision_hash == CreditDecision.decision_hash)
                                  .where(LoanRow.status.in_(DISBURSED))).all())  # fmt: skip
    groups: dict[str, list[LoanRow]] = defaultdict(list)
    for loan in disbursed:
        groups[grades.get(loan.decision_hash, "unrated")].append(loan)
    out = []
    for grade in sorted(groups, key=lambda g: (g == "unrated", g)):
        originated = sum(loan.principal for loan in groups[grade])
        at_default = sum(loan.principal_outstanding for loan in groups[grade] if loan.status == "defaulted")
        out.append(GradeOutcomePublic(grade=grade, loans=len(groups[grade]), principal_originated=originated,
                                      principal_at_default=at_default, default_rate=at_default / originated))  # fmt: skip
    return out


def _delinquency(loans: list[LoanRow], aging: dict[int, ServicingPublic]) -> DelinquencyPublic:
    pairs = [(aging[loan.loan_id], loan.principal_outstanding) for loan in loans if loan.loan_id in aging]
    over_15 = [(s, p) for s, p in pairs if s.days_past_due > 15]
    over_90 = [(s, p) for s, p in over_15 if s.days_past_due > 90]
    return DelinquencyPublic(
        as_of=max((s.as_of for s, _ in pairs), default=None),
        loans_16_plus=len(over_15),
        principal_16_plus=sum(p for _, p in over_15),
        loans_91_plus=len(over_90),
        principal_91_plus=sum(p for _, p in over_90),
        amount_overdue=sum(s.due_now for s, _ in pairs if s.days_past_due > 0),
    )
