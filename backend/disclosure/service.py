"""Platform figures for information disclosure. Most are read from the chain index (`chain_loans`,
`chain_fundings`, `chain_events`), so anyone with a node can recompute them from the contracts'
events; the reserve's balance is asked of the ReserveFund itself. Some rest on the platform's own
records: grades and PDs (credit_decisions, each read only when it hashes to the decision hash in its
loan's on-chain terms), and, not rebuildable from the chain, live delinquency (servicing_states) and
roll rates (servicing_notices). `DisclosurePublic.sources` labels each
figure (`backend/disclosure/sources.py`)."""

from __future__ import annotations

import logging
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
from backend.chain.reserve_reader import reserve_balance_at
from backend.config import Settings
from backend.disclosure.aging import aging_now
from backend.disclosure.decisions import UNRATED, UNVERIFIED, LoanDecisions, loan_decisions
from backend.disclosure.loss_rates import annualised_charge_offs, gross_charge_off, matured
from backend.disclosure.reserve import reserve_figures
from backend.disclosure.schemas import (
    ConcentrationPublic,
    DefaultsPublic,
    DelinquencyPublic,
    DisclosurePublic,
    ForbearancePublic,
    GradeOutcomePublic,
    LoanCountsPublic,
    MarketActivityPublic,
    RollRatePublic,
)
from backend.disclosure.sources import figure_sources
from backend.disclosure.vintages import DISBURSED, vintages
from backend.errors import LoanchainError
from backend.market.book import outstanding_then
from backend.servicing.plans import kept_at
from backend.servicing.roll_rates import defaulted_on_an_installment, roll_rates
from backend.servicing.schemas import ServicingPublic

log = logging.getLogger("loanchain.disclosure")


def _ratio(part: int, whole: int) -> float | None:
    return part / whole if whole else None


def platform_disclosure(session: Session, settings: Settings | None = None, *,
                        aging: dict[int, ServicingPublic] | None = None, clock: int | None = None,
                        strict: bool = False) -> DisclosurePublic:  # fmt: skip
    """The figures as the index stands, with lateness from `aging` (the last servicing pass by
    default) and orders live at `clock` (the wall clock by default). A monthly report passes both
    as of the month's last block, reading inside `index_at`. With `settings`, the ReserveFund's
    balance is asked of the node at the index's block: `strict` (a published report) fails when it
    cannot be, otherwise the balance falls back to the events, and `sources` says so."""
    lateness_from_chain = aging is not None
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
    decisions = loan_decisions(session, DISBURSED)  # checked once for the grades and the reserve's PDs
    defaulted = [loan for loan in loans if loan.status == "defaulted"]
    originated = sum(loan.principal for loan in disbursed)
    at_default = sum(loan.principal_outstanding for loan in defaulted)
    cover = sum(loan.cover for loan in defaulted)
    recovered = sum(loan.recovered for loan in defaulted)
    net_loss = sum(loan.net_loss for loan in defaulted)
    average_outstanding, charge_off_rate = annualised_charge_offs(session, disbursed, chain_clock)
    checkpoint = session.get(IndexerCheckpoint, CHECKPOINT)
    balance = _reserve_balance(settings, checkpoint, strict)
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
        by_grade=_by_grade(disbursed, decisions, chain_clock),
        vintages=vintages(session, chain_clock, disbursed),
        defaults=DefaultsPublic(
            count=len(defaulted), fee_only=sum(1 for loan in defaulted if not defaulted_on_an_installment(loan)),
            principal_at_default=at_default, reserve_cover=cover, recovered=recovered,
            gross_charge_off=sum(gross_charge_off(loan) for loan in defaulted), net_loss=net_loss,
        ),  # fmt: skip
        default_rate=_ratio(at_default, originated),
        net_loss_rate=_ratio(net_loss, originated),
        average_principal_outstanding=average_outstanding,
        gross_charge_off_rate=charge_off_rate,
        delinquency=_delinquency(loans, aging),
        forbearance=_forbearance(session, loans, aging, max(clock, chain_clock or 0)),  # live: as deadline_clock
        roll_rates=[RollRatePublic(**vars(rate)) for rate in rates.values()],
        reserve=reserve_figures(session, [loan for loan in loans if loan.status == "active"], aging=aging, rates=rates,
                                balance_on_chain=balance, decisions=decisions),  # fmt: skip
        market=_market(session, clock),
        sources=figure_sources(lateness_from_chain=lateness_from_chain, balance_read=balance is not None),
    )


def _reserve_balance(settings: Settings | None, checkpoint: IndexerCheckpoint | None, strict: bool) -> int | None:
    """ReserveFund.balance() at the index's block, the reserve's real balance: events miss plain
    transfers in, and it is what the contract pays cover from."""
    if settings is None or checkpoint is None:
        return None
    try:
        return reserve_balance_at(settings, checkpoint.block_number)
    except LoanchainError as exc:
        if strict:
            raise
        log.warning("reserve balance not read from the chain, the events' sum stands in: %s", exc)
        return None


def indexed_until(session: Session) -> IndexedBlock | None:
    """The latest block the index has confirmed (its hash and timestamp are kept beside it)."""
    checkpoint = session.get(IndexerCheckpoint, CHECKPOINT)
    return session.get(IndexedBlock, checkpoint.block_number) if checkpoint else None


def _investors(session: Session) -> int:
    # Funders of loans that were paid out, as the borrowers and principal figures count: a wallet whose
    # only funding was refunded from a cancelled loan (or still waits on one funding) never held a note.
    # UNION drops duplicates: a wallet that funded one loan and bought notes of another counts once.
    funders = (select(FundingRow.investor).join(LoanRow, LoanRow.loan_id == FundingRow.loan_id)
               .where(FundingRow.kind == "fund", LoanRow.status.in_(DISBURSED)))  # fmt: skip
    wallets = union(funders, select(MarketTradeRow.buyer))
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
                                         MarketTradeRow.bid_id, LoanRow.principal, outstanding_then().label("then"))
                                  .join(LoanRow, LoanRow.loan_id == MarketTradeRow.loan_id)))  # fmt: skip
    traded, volume = sum(t.notes for t in trades), sum(t.cost for t in trades)
    # Prices are of the principal the notes stood for when they traded, as NoteMarket prices them.
    stood_for = sum(t.notes * t.then / t.principal for t in trades)
    matched = sum(1 for t in trades if t.listing_id is not None and t.bid_id is not None)  # named both orders
    return MarketActivityPublic(open_listings=len(offered), notes_offered=sum(offered), open_bids=len(wanted),
                                notes_wanted=sum(wanted), trades=len(trades), matched=matched, notes_traded=traded,
                                volume=volume, average_price_bps=10_000 * volume / stood_for if stood_for else None)  # fmt: skip


def _concentration(active: list[LoanRow]) -> ConcentrationPublic:
    owed: dict[str, int] = defaultdict(int)
    for loan in active:
        owed[loan.borrower] += loan.principal_outstanding
    total, largest = sum(owed.values()), sorted(owed.values(), reverse=True)
    return ConcentrationPublic(largest_borrower_share=_ratio(sum(largest[:1]), total),
                               top10_borrowers_share=_ratio(sum(largest[:10]), total))  # fmt: skip


def _by_grade(disbursed: list[LoanRow], decisions: LoanDecisions, as_of: int | None) -> list[GradeOutcomePublic]:
    groups: dict[str, list[LoanRow]] = defaultdict(list)
    for loan in disbursed:
        groups[decisions.grade(loan.decision_hash)].append(loan)
    out = []
    for grade in sorted(groups, key=lambda g: (g in (UNRATED, UNVERIFIED), g)):
        originated = sum(loan.principal for loan in groups[grade])
        at_default = sum(loan.principal_outstanding for loan in groups[grade] if loan.status == "defaulted")
        ran_their_course = [loan for loan in groups[grade] if matured(loan, as_of)]
        # Like a PD and the roll rates, a credit default: a loan that repaid every installment and was
        # marked defaulted for late fees alone is counted apart (matured_fee_only_defaults).
        defaults = sum(1 for loan in ran_their_course if defaulted_on_an_installment(loan))
        fee_only = sum(1 for loan in ran_their_course if loan.status == "defaulted") - defaults
        out.append(GradeOutcomePublic(grade=grade, loans=len(groups[grade]), principal_originated=originated,
                                      principal_at_default=at_default, default_rate=at_default / originated,
                                      matured_loans=len(ran_their_course), matured_defaulted=defaults,
                                      matured_fee_only_defaults=fee_only,
                                      matured_default_rate=_ratio(defaults, len(ran_their_course))))  # fmt: skip
    return out


def _forbearance(session: Session, loans: list[LoanRow], aging: dict[int, ServicingPublic],
                 at: int) -> ForbearancePublic:  # fmt: skip
    """Active loans under a plan on track at chain time `at` (live, the later of the wall clock and
    the index's latest block, the time a plan is agreed at; in a report, the month's last block),
    judged by the repayments indexed by then."""
    active = {loan.loan_id: loan for loan in loans if loan.status == "active"}
    kept = kept_at(session, at, active) if active else {}
    outstanding = sum(loan.principal_outstanding for loan in active.values())
    principal = sum(active[loan_id].principal_outstanding for loan_id in kept)
    return ForbearancePublic(
        as_of=at, loans=len(kept), principal=principal, share_of_outstanding=_ratio(principal, outstanding),
        loans_16_plus=sum(1 for loan_id in kept if loan_id in aging and aging[loan_id].days_past_due > 15),
    )  # fmt: skip


def _delinquency(loans: list[LoanRow], aging: dict[int, ServicingPublic]) -> DelinquencyPublic:
    # Active loans only, by the chain index's status, as the tape: the last servicing pass may still
    # hold a loan that has since defaulted (the pass queues markDefault itself) or been repaid, whose
    # principal would count again beside its default, or as late with nothing outstanding.
    pairs = [(aging[loan.loan_id], loan.principal_outstanding) for loan in loans
             if loan.status == "active" and loan.loan_id in aging]  # fmt: skip
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
