"""What an investor earned, event by event: the share of each repayment, reserve cover and
recovery that the wallet's notes were entitled to, split into interest, late fees and principal,
the principal written off when a loan defaulted, and the discount or premium of notes traded on
the secondary market. This is the accrual view an investor's tax return asks for; the statement's
lines are the cash view (a claim mixes all of these and can come years later).

Shares are not estimated: the wallet's notes are replayed through LoanBook's own accumulator
({DistributionMath}: points per share rounded up from the cumulative distribution, each holder's
entitlement rounded down, corrections moved with notes), so the shares of all events add up to
exactly what the contract lets the wallet claim (`claimedOf + claimableOf`). Only the split of one
event's share between its parts is rounded here: interest and fees down, principal the rest.

A trade's discount or premium is measured against the principal outstanding on the notes traded.
A seller's is earned when it sells (with whatever it had not yet earned of its own purchases); a
buyer's is earned as the principal it bought comes back: each payment returning a part of the
principal outstanding earns that part of the discount (a premium, negative), the rest when the
notes are sold, the loan repaid or written off at a default. Held notes carry one average gap, so
notes funded at par and notes bought mix; a gift carries its share away. Over the notes' life the
total is the same as counting it all at the trade; only the timing is the accrual one."""

from __future__ import annotations

from dataclasses import dataclass, field

from sqlalchemy import select
from sqlalchemy.orm import Session

from backend.chain.models import ChainEvent
from backend.chain.projection_models import (
    EventSubjectRow,
    FundingRow,
    LoanRow,
    MarketTradeRow,
    NoteTransferRow,
    RepaymentRow,
)
from backend.lending.schemas import EarningLinePublic, EarningsPublic
from backend.market.book import trade_transfers

MAGNITUDE = 2**128  # DistributionMath.MAGNITUDE
NOTE_MOVES = ("fund", "refund", "transfer")
TRADES = ("sale", "purchase")
PARTS = ("interest", "late_fees", "principal", "cover", "recovered", "written_off", "market_result")
PAID = ("interest", "late_fees", "principal", "cover", "recovered")  # what LoanBook pays the notes


@dataclass
class _Event:
    """One event of a loan that changes the wallet's notes, the loan's distributions or its balance."""

    ref: object  # a projection row (or ChainEvent) carrying block_number, log_index, tx_hash
    timestamp: int | None
    kind: str
    notes: int = 0  # change in the wallet's notes
    amount: int = 0  # distributed to all notes
    split: dict[str, int] = field(default_factory=dict)  # the amount's parts
    outstanding: int | None = None  # the loan's principal outstanding after the event
    traded: int = 0  # notes the wallet bought (positive) or sold (negative) in a trade
    cost: int = 0  # the trade's price
    by_trade: bool = False  # a transfer that moved a trade's notes: the trade prices them

    @property
    def order(self) -> tuple[int, int]:
        return self.ref.block_number, self.ref.log_index


class Accumulator:
    """One holder's entitlement on one loan, computed as LoanBook computes it."""

    def __init__(self, supply: int) -> None:
        self.supply, self.distributed, self.notes, self.correction, self.entitled = supply, 0, 0, 0, 0

    def pps(self) -> int:
        # ceil(distributed * 2^128 / supply), as DistributionMath.pointsPerShare
        return -(-self.distributed * MAGNITUDE // self.supply) if self.supply else 0

    def move(self, notes: int) -> None:
        self.correction -= self.pps() * notes
        self.notes += notes

    def distribute(self, amount: int) -> int:
        """Adds `amount` to the loan's distributions; returns the holder's part of it."""
        self.distributed += amount
        entitled = (self.pps() * self.notes + self.correction) // MAGNITUDE
        part, self.entitled = entitled - self.entitled, entitled
        return part


def _wallet_events(db: Session, wallet: str) -> dict[int, list[_Event]]:
    """The wallet's note movements per loan (fund, refund, transfers, trades)."""
    events: dict[int, list[_Event]] = {}
    fundings = select(FundingRow, ChainEvent.block_timestamp).join(ChainEvent, ChainEvent.id == FundingRow.event_id)
    for r, ts in db.execute(fundings.where(FundingRow.investor == wallet, FundingRow.kind != "claim")):
        events.setdefault(r.loan_id, []).append(_Event(r, ts, r.kind, notes=r.amount if r.kind == "fund" else -r.amount))
    trades = select(MarketTradeRow, ChainEvent.block_timestamp).join(ChainEvent, ChainEvent.id == MarketTradeRow.event_id)
    trades = list(db.execute(trades.where((MarketTradeRow.seller == wallet) | (MarketTradeRow.buyer == wallet))))
    for r, ts in trades:
        kind, traded = ("sale", -r.notes) if r.seller == wallet else ("purchase", r.notes)
        # the notes themselves move by the trade's transfer (below); this event only prices them
        events.setdefault(r.loan_id, []).append(_Event(r, ts, kind, traded=traded, cost=r.cost))
    transfers = select(NoteTransferRow, ChainEvent.block_timestamp).join(ChainEvent, ChainEvent.id == NoteTransferRow.event_id)
    mine = (NoteTransferRow.sender == wallet) | (NoteTransferRow.recipient == wallet)
    # A self-transfer moves nothing (an index built before it was skipped may still hold one).
    transfers = list(db.execute(transfers.where(mine, NoteTransferRow.sender != NoteTransferRow.recipient)))
    by_trade = trade_transfers([r for r, _ in trades], [r for r, _ in transfers])
    for i, (r, ts) in enumerate(transfers):
        events.setdefault(r.loan_id, []).append(_Event(r, ts, "transfer", notes=r.amount if r.recipient == wallet else -r.amount,
                                                       by_trade=i in by_trade))  # fmt: skip
    return events


def _loan_events(db: Session, loan_ids: list[int]) -> dict[int, list[_Event]]:
    """What each loan distributed to its notes: payments, prepayments, recoveries and the cover."""
    events: dict[int, list[_Event]] = {}
    # A recovery's part that LoanBook sent back to the reserve (its cover recouped) is not the notes'.
    # LoanBook emits each CoverRecouped right after its own LoanRecovery: paired by log index, as one
    # transaction (a contract wallet's, a collector's) may hold several recoveries of a loan.
    recouped = {(loan_id, ev.tx_hash, ev.log_index - 1): int(ev.args["amount"]) for ev, loan_id in db.execute(
        select(ChainEvent, EventSubjectRow.loan_id).join(EventSubjectRow, EventSubjectRow.event_id == ChainEvent.id)
        .where(ChainEvent.event == "CoverRecouped", EventSubjectRow.loan_id.in_(loan_ids)))}  # fmt: skip
    repayments = select(RepaymentRow, ChainEvent.block_timestamp).join(ChainEvent, ChainEvent.id == RepaymentRow.event_id)
    for r, ts in db.execute(repayments.where(RepaymentRow.loan_id.in_(loan_ids))):
        amount = r.amount - recouped.get((r.loan_id, r.tx_hash, r.log_index), 0) if r.kind == "recovery" else r.amount
        if amount == 0:  # a recovery that went to the reserve alone distributed nothing
            continue
        split = ({"recovered": amount} if r.kind == "recovery"
                 else {"late_fees": r.fee_paid, "interest": r.interest_paid, "principal": r.principal_paid})  # fmt: skip
        events.setdefault(r.loan_id, []).append(_Event(r, ts, r.kind, amount=amount, split=split,
                                                       outstanding=r.principal_outstanding))  # fmt: skip
    defaults = (select(ChainEvent, EventSubjectRow.loan_id).join(EventSubjectRow, EventSubjectRow.event_id == ChainEvent.id)
                .where(ChainEvent.event == "LoanDefaulted", EventSubjectRow.loan_id.in_(loan_ids)))  # fmt: skip
    for ev, loan_id in db.execute(defaults):
        cover, outstanding = int(ev.args["cover"]), int(ev.args["principalOutstanding"])
        events.setdefault(loan_id, []).append(_Event(ev, ev.block_timestamp, "default", amount=cover,
                                                     split={"cover": cover}, outstanding=outstanding))  # fmt: skip
    return events


def _line(e: _Event, loan_id: int, **parts: int) -> EarningLinePublic:
    return EarningLinePublic(timestamp=e.timestamp, block_number=e.ref.block_number, tx_hash=e.ref.tx_hash,
                             log_index=e.ref.log_index, loan_id=loan_id, kind=e.kind, **(dict.fromkeys(PARTS, 0) | parts))  # fmt: skip


def _share_parts(share: int, amount: int, split: dict[str, int], held: int, notes: int) -> dict[str, int]:
    """`share` of an event split like its `amount`; the last part (principal, cover, recovered)
    takes the rounding. The accumulator may give a holder a unit more than its exact share of one
    event (made up in others): the other parts never exceed the exact share of `held` of `notes`,
    so a payment of fees alone never credits more fees than were paid."""
    names = list(split)
    parts = {name: min(share * split[name] // amount, held * split[name] // notes) for name in names[:-1]}
    parts[names[-1]] = share - sum(parts.values())
    return parts


def _replay(loan: LoanRow, events: list[_Event]) -> list[EarningLinePublic]:
    acc, outstanding, lines = Accumulator(loan.funded), loan.principal, []
    gap = 0  # the discount (premium, negative) on the notes held, bought from others, not yet earned
    for e in sorted(events, key=lambda e: e.order):
        if e.kind in NOTE_MOVES:
            if e.notes < 0 and not e.by_trade:  # a gift takes its share of the gap away
                gap -= gap * -e.notes // acc.notes
            acc.move(e.notes)
        elif e.kind in TRADES:
            value = abs(e.traded) * outstanding // loan.funded  # only active (funded) loans trade
            if e.traded > 0:
                gap += value - e.cost  # earned as the principal comes back
            else:
                # NoteMarket emits the trade before it moves the notes: `acc.notes` still counts those sold.
                carried = gap * -e.traded // acc.notes
                gap -= carried
                lines.append(_line(e, loan.loan_id, market_result=e.cost - value + carried))
        else:
            held, share = acc.notes, acc.distribute(e.amount)
            parts = _share_parts(share, e.amount, e.split, held, loan.funded) if e.amount else {}
            if e.kind == "default":
                parts["written_off"] = max(held * e.outstanding // loan.funded - share, 0)
                parts["market_result"], gap = gap, 0
            elif gap and e.outstanding is not None and outstanding:
                earned = gap * (outstanding - e.outstanding) // outstanding  # the part of the principal back
                parts["market_result"], gap = earned, gap - earned
            if held:
                lines.append(_line(e, loan.loan_id, **parts))
        if e.outstanding is not None:
            outstanding = e.outstanding
    return lines


def earnings_of(db: Session, wallet: str) -> list[EarningLinePublic]:
    """Every event that earned the wallet something (or cost it principal), oldest first."""
    mine = _wallet_events(db, wallet)
    if not mine:
        return []
    loans = {r.loan_id: r for r in db.scalars(select(LoanRow).where(LoanRow.loan_id.in_(list(mine))))}
    theirs = _loan_events(db, list(loans))
    lines = [line for loan_id, loan in loans.items() for line in _replay(loan, mine[loan_id] + theirs.get(loan_id, []))]
    return sorted(lines, key=lambda line: (line.block_number, line.log_index))


def total(lines: list[EarningLinePublic]) -> EarningsPublic:
    sums = {part: sum(getattr(line, part) for line in lines) for part in PARTS}
    net = sums["interest"] + sums["late_fees"] + sums["recovered"] + sums["market_result"] - sums["written_off"]
    return EarningsPublic(**sums, net_return=net)


def entitled_by_loan(lines: list[EarningLinePublic]) -> dict[int, int]:
    """Per loan, what the wallet's notes were paid over its life: LoanBook's `claimedOf + claimableOf`."""
    totals: dict[int, int] = {}
    for line in lines:
        totals[line.loan_id] = totals.get(line.loan_id, 0) + sum(getattr(line, part) for part in PAID)
    return totals
