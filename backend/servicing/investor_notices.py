"""Investor notices: what happened to a loan whose notes the investor holds, told once per
(loan, installment, kind, holder), to whoever holds notes when the servicing pass sees it.

- `refund_due`: the loan missed full funding and was cancelled; the money is the investor's to
  take back (it is not returned unasked: `refund` is the investor's own transaction).
- `loan_late`: the loan is 31+ days late and in collections (once per late installment), with how
  often loans this late have gone on to default (`roll_rates`).
- `loan_defaulted`: it was declared in default; says what the risk reserve paid the investor.
- `loan_repaid`: it is repaid in full; what is left to collect is waiting.
- `loan_match`: to an investor with a standing instruction, once per open loan it matches: what to
  do (fund it from the wallet, or nothing when an active funding mandate lets the keeper do it).
- `mandate_funded`: the platform's keeper funded a loan from the investor's wallet under its
  funding mandate (once per loan): how much, and what is left of the mandate's budget.
- `bid_at_risk`: to a bidder rather than a holder: a loan it has an open bid for on the secondary
  market is past its grace period (once per late installment). Bids are escrowless and fixed-price,
  so a holder can sell into a bid placed while the loan was current, until the loan's
  `defaultableAt` (NoteMarket trades nothing after it); the bidder may cancel it.
- `listing_sold` / `bid_filled`: to a maker on the secondary market, once per order, when its
  listing sold out or its bid was filled, by takers or by the platform's keeper matching it against
  an order of the other side (`backend/market/keeper.py`): what moved and for how much. Orders
  closed more than `FILL_NOTICE_DAYS` before the pass are not told (an index rebuilt or a platform
  upgraded does not tell its whole history again).

Each kind is one query for the (loan, holder) pairs not told yet, so a pass costs nothing more
when nothing happened; a holder who already took a refund back holds no notes and is not told."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from sqlalchemy import ColumnElement, and_, exists, func, literal, select
from sqlalchemy.orm import Session, aliased

from backend.chain.loan_book import deadline_clock
from backend.chain.models import ChainEvent
from backend.chain.projection_models import (
    LoanRow,
    MarketBidRow,
    MarketListingRow,
    MarketTradeRow,
    NoteBalanceRow,
)
from backend.config import Settings
from backend.disclosure.aging import aging_now
from backend.market.pricing import proceeds
from backend.servicing.models import ServicingNotice, ServicingState
from backend.servicing.notices import add_notice, day, moment, money
from backend.servicing.roll_rates import RollRate, roll_rates

LATE = ("late_31_120", "defaultable")
PAST_GRACE = ("late_16_30", *LATE)
WHOLE_LOAN = {"refund_due": "cancelled", "loan_defaulted": "defaulted", "loan_repaid": "repaid"}
FILL_NOTICE_DAYS = 7
DAY = 86_400


def _untold(db: Session, kind: str, installment: ColumnElement[Any], *where: ColumnElement[bool], late: bool = False) -> list:
    told = exists().where(
        ServicingNotice.loan_id == LoanRow.loan_id, ServicingNotice.kind == kind,
        ServicingNotice.installment == installment, ServicingNotice.recipient == NoteBalanceRow.holder,
    )  # fmt: skip
    columns = (LoanRow, NoteBalanceRow, ServicingState) if late else (LoanRow, NoteBalanceRow)
    query = select(*columns).join(NoteBalanceRow, NoteBalanceRow.loan_id == LoanRow.loan_id)
    if late:
        query = query.join(ServicingState, ServicingState.loan_id == LoanRow.loan_id)
    query = query.where(NoteBalanceRow.balance > 0, ~told, *where)
    return list(db.execute(query.order_by(LoanRow.loan_id, NoteBalanceRow.holder)))


def _whole_loan(loan: LoanRow, notes: int, kind: str, now: int, d: int) -> tuple[int, int, str]:
    """(due date, amount, message) of a notice about the whole loan."""
    if kind == "refund_due":
        why = (f"did not reach full funding by {day(loan.funding_deadline)}" if loan.funded < loan.principal else
               f"was fully funded but not paid out within the disbursement window after {day(loan.funding_deadline)}")
        return loan.funding_deadline, notes, (
            f"Loan {loan.loan_id} {why} and is cancelled. "
            f"Your {money(notes, d)} is not at risk and is yours to take back: choose \"Take my money back\".")
    if kind == "loan_defaulted":
        # The reserve's cover is shared by notes, like every payment (LoanBook's per-note accumulator).
        cover = loan.cover * notes // loan.principal
        paid = (f"The risk reserve paid you {money(cover, d)}: choose \"Collect all repayments\" to take it."
                if cover else "The risk reserve had nothing to pay out.")  # fmt: skip
        return now, cover, (f"Loan {loan.loan_id}, in which you hold {money(notes, d)} of notes, was declared in "
                            f"default. {paid} What is recovered from the borrower later is paid to you the same way.")
    return now, notes, (f"Loan {loan.loan_id} is repaid in full. What you have not collected of it yet is "
                        "waiting: choose \"Collect all repayments\".")


def tell_investors(db: Session, settings: Settings, now: int | None, decimals: Callable[[], int]) -> int:
    """Give every note holder the notices due; returns how many were given. The chain is asked
    for the time and the token's decimals only when there is something to tell."""
    pending: list[tuple[str, int, LoanRow, NoteBalanceRow, ServicingState | None]] = []
    for kind, status in WHOLE_LOAN.items():
        pending += [(kind, 0, loan, note, None) for loan, note in _untold(db, kind, literal(0), LoanRow.status == status)]
    late = _untold(db, "loan_late", ServicingState.installments_paid + 1, LoanRow.status == "active",
                   ServicingState.bucket.in_(LATE), late=True)  # fmt: skip
    pending += [("loan_late", state.installments_paid + 1, loan, note, state) for loan, note, state in late]
    if not pending:
        return 0
    d, now = decimals(), now or deadline_clock(settings)
    rates = roll_rates(db, aging_now(db)) if late else {}
    hold = (settings.servicing_promise_hold_max_days, settings.servicing_plan_hold_max_days)
    return sum(_give(db, kind, installment, loan, note.holder, note.balance, state, now, d, rates, hold)
               for kind, installment, loan, note, state in pending)  # fmt: skip


def _give(db: Session, kind: str, installment: int, loan: LoanRow, holder: str, notes: int,
          state: ServicingState | None, now: int, d: int, rates: dict[str, RollRate],
          hold_days: tuple[int, int]) -> bool:  # fmt: skip
    if state is None:
        due_date, amount, message = _whole_loan(loan, notes, kind, now, d)
    else:
        due_date, amount = state.next_due_date, loan.principal_outstanding * notes // loan.principal
        odds = (f" Of loans this late here, about {rates[state.bucket].rate:.0%} have gone on to default (the "
                "platform's roll rates, with a stated prior while its record is short)." if state.bucket in rates else "")
        message = (f"Loan {loan.loan_id} ({money(amount, d)} of your money outstanding) is more than 30 days late "
                   f"and in collections.{odds} If still unpaid, it can be declared in default from "
                   f"{moment(state.defaultable_at)} (by anyone, on-chain; the platform does unless a promise to pay "
                   f"holds it, up to {hold_days[0]} days more, or a hardship plan is kept, up to {hold_days[1]}), and "
                   "the reserve's cover is then paid to note holders.")  # fmt: skip
    return add_notice(db, loan, installment, kind, due_date, amount, message, recipient=holder)


def tell_rule_matches(db: Session, now: int | None, decimals: Callable[[], int]) -> int:
    """Tell each investor with a standing instruction of every open loan it matches, once per loan
    (`loan_match`); returns how many were told. The rules are matched in memory against one read
    of the open loans, their grades, their holders and the matches told before (what `matching`
    admits, rule by rule): a pass costs the same few queries however many rules and loans, and
    words only the notices not given yet."""
    # lending reads servicing (a loan's position), so lending is imported here, at call time
    from backend.lending.loans import decision_facts
    from backend.lending.models import FundingMandateRow, InvestmentRule, MandateStatus

    rules = list(db.scalars(select(InvestmentRule)))
    if not rules or now is None:
        return 0
    loans = [loan for loan in db.scalars(select(LoanRow).where(LoanRow.status == "funding", LoanRow.funding_deadline > now)
                                         .order_by(LoanRow.funding_deadline, LoanRow.loan_id))
             if loan.principal > loan.funded]  # fmt: skip
    if not loans:
        return 0
    ids = [loan.loan_id for loan in loans]
    facts = decision_facts(db, {loan.decision_hash for loan in loans})
    held = {(loan_id, holder): balance for loan_id, holder, balance in db.execute(
        select(NoteBalanceRow.loan_id, NoteBalanceRow.holder, NoteBalanceRow.balance).where(NoteBalanceRow.loan_id.in_(ids)))}  # fmt: skip
    told_before: dict[str, set[int]] = {}  # recipient -> loans it was told of
    for loan_id, recipient in db.execute(select(ServicingNotice.loan_id, ServicingNotice.recipient).where(
            ServicingNotice.kind == "loan_match", ServicingNotice.installment == 0, ServicingNotice.loan_id.in_(ids))):  # fmt: skip
        told_before.setdefault(recipient, set()).add(loan_id)
    mandated = set(db.scalars(select(FundingMandateRow.wallet).where(FundingMandateRow.expiry > now,
                                                                     FundingMandateRow.status == MandateStatus.ACTIVE)))  # fmt: skip
    grades = {loan.loan_id: facts[loan.decision_hash].grade if loan.decision_hash in facts else None for loan in loans}
    admitted: dict[tuple, set[int]] = {}  # by filter: many rules share one, and the set is worked out once
    told = 0
    for rule in rules:
        wanted = (tuple(rule.grades or ()), rule.min_apr_bps, rule.max_installments)
        if wanted not in admitted:
            admitted[wanted] = {loan.loan_id for loan in loans if (not rule.grades or grades[loan.loan_id] in rule.grades)
                                and (rule.min_apr_bps is None or loan.apr_bps >= rule.min_apr_bps)
                                and (rule.max_installments is None or loan.installments <= rule.max_installments)}  # fmt: skip
        new = admitted[wanted] - told_before.get(rule.wallet, set())  # a set difference: nothing new costs little
        for loan in (loan for loan in loans if loan.loan_id in new) if new else ():
            if loan.borrower.lower() == rule.wallet.lower() or held.get((loan.loan_id, rule.wallet), 0) >= rule.per_loan:
                continue
            grade = grades[loan.loan_id]
            d = decimals()
            act = (f"Your funding mandate lets the platform put up to {money(rule.per_loan, d)} in it from your wallet, "
                   "within the bounds you signed" if rule.wallet in mandated else
                   f"Choose \"Fund my matches\" to put {money(rule.per_loan, d)} in it from your wallet")  # fmt: skip
            message = (f"Loan {loan.loan_id} matches your standing instruction: grade {grade or 'unrated'}, "
                       f"{loan.apr_bps / 100:.2f}% APR, {loan.installments} installments, "
                       f"{money(loan.principal - loan.funded, d)} still to fund until {day(loan.funding_deadline)}. "
                       f"{act}.")  # fmt: skip
            told += add_notice(db, loan, 0, "loan_match", loan.funding_deadline, rule.per_loan, message,
                               recipient=rule.wallet)  # fmt: skip
    return told


# Per database, the `chain_events.id` up to which every MandateUsed event had its notice when a pass
# began, and the event row at it: a pass reads only the events after it, not every one ever (the
# first pass of a process reads them all once). The index only appends; a reorg or a restore that
# rewrote the rows up to the mark changes that row (its block hash), and the mark is dropped.
_mandates_told: dict[str, tuple[int, tuple | None]] = {}


def _anchor(db: Session, mark: int) -> tuple | None:
    return db.execute(select(ChainEvent.id, ChainEvent.block_hash, ChainEvent.tx_hash, ChainEvent.log_index)
                      .where(ChainEvent.id <= mark).order_by(ChainEvent.id.desc()).limit(1)).tuples().first()  # fmt: skip


def tell_mandate_fundings(db: Session, decimals: Callable[[], int]) -> int:
    """Tell each investor of every loan the keeper funded under its mandate, once per loan
    (`mandate_funded`, from the indexed `MandateUsed` events); returns how many were told."""
    # lending reads servicing, so lending is imported here, at call time
    from backend.lending.models import FundingMandateRow

    told_before = exists().where(ServicingNotice.loan_id == ChainEvent.args["loanId"].as_integer(),
                                 ServicingNotice.kind == "mandate_funded", ServicingNotice.installment == 0,
                                 ServicingNotice.recipient == ChainEvent.args["investor"].as_string())  # fmt: skip
    # Only events past the mark (the primary key's range): read first, so an event the indexer
    # commits meanwhile is left for the next pass rather than skipped.
    key, newest = str(db.get_bind().url), db.scalar(select(func.max(ChainEvent.id))) or 0
    mark, anchor = _mandates_told.get(key, (0, None))
    if mark and (mark > newest or _anchor(db, mark) != anchor):
        mark = 0
    events = list(db.scalars(select(ChainEvent).where(ChainEvent.id > mark, ChainEvent.id <= newest,
                                                      ChainEvent.contract == "FundingAgent", ChainEvent.event == "MandateUsed",
                                                      ~told_before).order_by(ChainEvent.block_number, ChainEvent.log_index)))  # fmt: skip
    # Every event below the first one untold had its notice committed before this pass, whatever
    # becomes of the pass; the untold ones (a loan not indexed yet among them) are read again.
    mark = min((ev.id for ev in events), default=newest + 1) - 1
    _mandates_told[key] = (mark, _anchor(db, mark) if mark else None)
    told = 0
    for ev in events:
        loan = db.get(LoanRow, int(ev.args["loanId"]))
        mandate = db.get(FundingMandateRow, ev.args["mandateHash"])
        if loan is None:
            continue
        d, amount = decimals(), int(ev.args["amount"])
        left = f"; {money(int(mandate.mandate['budget']) - int(ev.args['spent']), d)} of its budget is left" if mandate else ""
        message = (f"Under your funding mandate, the platform funded loan {loan.loan_id} with {money(amount, d)} "
                   f"from your wallet ({loan.apr_bps / 100:.2f}% APR, {loan.installments} installments){left}. "
                   "The notes are yours; withdraw the mandate at any time.")  # fmt: skip
        told += add_notice(db, loan, 0, "mandate_funded", loan.funding_deadline, amount, message,
                           recipient=ev.args["investor"])  # fmt: skip
    return told


def tell_bidders(db: Session, now: int, decimals: Callable[[], int]) -> int:
    """Tell each bidder whose open, unexpired bids stand on a loan past its grace period, once per
    late installment and loan (`bid_at_risk`); returns how many were told."""
    rows = db.execute(
        select(MarketBidRow, LoanRow, ServicingState)
        .join(LoanRow, LoanRow.loan_id == MarketBidRow.loan_id)
        .join(ServicingState, ServicingState.loan_id == MarketBidRow.loan_id)
        .where(MarketBidRow.status == "open", MarketBidRow.live_at(now), LoanRow.status == "active",
               ServicingState.bucket.in_(PAST_GRACE))
        .order_by(MarketBidRow.bid_id)
    )  # fmt: skip
    bids: dict[tuple[int, str], list[MarketBidRow]] = {}
    states: dict[int, tuple[LoanRow, ServicingState]] = {}
    for bid, loan, state in rows:
        bids.setdefault((loan.loan_id, bid.bidder), []).append(bid)
        states[loan.loan_id] = (loan, state)
    told = 0
    for (loan_id, bidder), mine in bids.items():
        loan, state = states[loan_id]
        d = decimals()
        wanted = ", ".join(f"bid {b.bid_id} for {money(b.notes_left, d)} at {b.price_bps / 100:.2f}%" for b in mine)
        message = (f"Loan {loan_id} is {state.days_past_due} days past due ({state.bucket}), and your {wanted} of the "
                   f"principal outstanding still stand. Any holder can sell into them at that price until "
                   f"{day(loan.defaultable_at)}, when the loan may be declared in default and its notes stop "
                   f"trading: cancel what no longer suits you.")  # fmt: skip
        committed = sum(proceeds(b.notes_left, b.price_bps, loan) for b in mine)
        told += add_notice(db, loan, state.installments_paid + 1, "bid_at_risk", state.next_due_date, committed, message,
                           recipient=bidder)  # fmt: skip
    return told


# Each side: its kind of notice, the order's model, id column, maker column and closed-by-fills status.
FILLS = (("listing_sold", MarketListingRow, "listing_id", "seller", "sold"),
         ("bid_filled", MarketBidRow, "bid_id", "bidder", "filled"))  # fmt: skip


def has_closed_orders(db: Session) -> bool:
    """Any order closed by fills: then (only) the pass asks the chain for its clock to tell makers."""
    return any(db.scalar(select(getattr(model, key)).where(model.status == status).limit(1)) is not None
               for _, model, key, _, status in FILLS)  # fmt: skip


def tell_makers(db: Session, now: int, decimals: Callable[[], int]) -> int:
    """Tell each maker whose listing sold out or whose bid was filled, once per order (the order id
    stands in the notice's installment); returns how many were told."""
    told = 0
    for kind, model, key, maker, status in FILLS:
        order_id = getattr(model, key)
        notice = exists().where(ServicingNotice.loan_id == model.loan_id, ServicingNotice.kind == kind,
                                ServicingNotice.installment == order_id, ServicingNotice.recipient == getattr(model, maker))  # fmt: skip
        closing = aliased(ChainEvent)  # the event that closed the order: recent enough to tell of
        recent = (select(order_id).join(closing, and_(closing.tx_hash == model.tx_hash, closing.log_index == model.log_index))
                  .where(model.status == status, closing.block_timestamp >= now - FILL_NOTICE_DAYS * DAY, ~notice))  # fmt: skip
        fills = (select(model, MarketTradeRow.notes, MarketTradeRow.cost, ChainEvent.block_timestamp)
                 .join(MarketTradeRow, getattr(MarketTradeRow, key) == order_id)
                 .join(ChainEvent, ChainEvent.id == MarketTradeRow.event_id)
                 .where(order_id.in_(recent)).order_by(order_id))  # fmt: skip
        closed: dict[int, list] = {}  # order id -> [order, trades, notes, paid, last trade's time]
        for order, notes, paid, at in db.execute(fills):  # amounts are Uint (text in SQL): summed here
            entry = closed.setdefault(getattr(order, key), [order, 0, 0, 0, 0])
            entry[1:] = [entry[1] + 1, entry[2] + notes, entry[3] + paid, max(entry[4], at or 0)]
        for order, trades, notes, paid, at in closed.values():
            loan = db.get(LoanRow, order.loan_id)
            if loan is None:
                continue
            message = _fill_message(kind, getattr(order, key), loan.loan_id, trades, notes, paid, decimals())
            told += add_notice(db, loan, getattr(order, key), kind, at, paid, message, recipient=getattr(order, maker))
    return told


def _fill_message(kind: str, order_id: int, loan_id: int, trades: int, notes: int, paid: int, d: int) -> str:
    how = f"{money(notes, d)} of notes for {money(paid, d)} in {trades} trade{'s' if trades > 1 else ''}"
    if kind == "listing_sold":
        return (f"Your listing {order_id} of notes of loan {loan_id} sold out: {how}, paid straight into your "
                f"wallet. Repayments from now on go to the buyers.")
    return (f"Your bid {order_id} for notes of loan {loan_id} is filled: {how}. The notes are in your wallet "
            f"and earn from the loan's next payment on.")
