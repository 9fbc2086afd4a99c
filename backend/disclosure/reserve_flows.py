"""What the chain events say went into and out of the ReserveFund, and which of its payments were
cover for a LoanBook default.

ReserveFund pays `cover` only to the one LoanBook it is bound to (`setLoanBook`, once), but for any
loan id that LoanBook names, and a reserve deployed otherwise need not be so bound: a `CoverPaid`
event alone proves nothing about a default. A payment counts as investor cover only when LoanBook's own `LoanDefaulted` for that loan, in the same
transaction, states that cover and the payment went to that LoanBook; every other one is an
unexplained outflow (the disclosure lists it, monitoring raises `reserve_outflow`)."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.orm import Session

from backend.chain.models import ChainEvent

# (contract, event, amount field) of every way money is meant to reach the reserve, by the name of its
# ReservePublic field: a new path is one more line here and its field there; the balance from
# events and its comparison with the chain follow.
RESERVE_INFLOWS: dict[str, tuple[str, str, str]] = {
    "deposits": ("ReserveFund", "Deposited", "amount"),
    "origination_fees": ("LoanBook", "LoanDisbursed", "originationFee"),
    "cover_recouped": ("LoanBook", "CoverRecouped", "amount"),
}


@dataclass(frozen=True)
class ReserveOutflow:
    """A `CoverPaid` that no LoanBook default explains."""

    loan_id: int
    to: str
    amount: int
    tx_hash: str
    block_number: int
    log_index: int
    timestamp: int | None
    reason: str


@dataclass(frozen=True)
class CoverPayments:
    matched: int  # paid to LoanBook as the cover its LoanDefaulted states
    unexplained: list[ReserveOutflow]

    @property
    def unexplained_total(self) -> int:
        return sum(o.amount for o in self.unexplained)


def inflows(session: Session) -> dict[str, int]:
    """Each inflow's total, by the names of `RESERVE_INFLOWS`."""
    return {name: _event_sum(session, *source) for name, source in RESERVE_INFLOWS.items()}


def _event_sum(session: Session, contract: str, event: str, field: str) -> int:
    # The args alone: a whole ChainEvent object per disbursal made this most of a disclosure read.
    return sum(int(args[field]) for args in session.scalars(
        select(ChainEvent.args).where(ChainEvent.contract == contract, ChainEvent.event == event)
    ))  # fmt: skip


def _events(session: Session, contract: str, event: str) -> list[ChainEvent]:
    return list(session.scalars(select(ChainEvent).where(ChainEvent.contract == contract, ChainEvent.event == event)
                                .order_by(ChainEvent.block_number, ChainEvent.log_index)))  # fmt: skip


def cover_payments(session: Session) -> CoverPayments:
    """The reserve's `CoverPaid` events, split into investor cover and unexplained outflows."""
    defaults = {int(e.args["loanId"]): e for e in _events(session, "LoanBook", "LoanDefaulted")}
    matched, unexplained, covered = 0, [], set()
    for paid in _events(session, "ReserveFund", "CoverPaid"):
        loan_id, amount, to = int(paid.args["loanId"]), int(paid.args["amount"]), paid.args["loanBook"]
        reason = _why_not_cover(defaults.get(loan_id), paid, loan_id, amount, to, loan_id in covered)
        if reason is None:
            matched += amount
            covered.add(loan_id)
        else:
            unexplained.append(ReserveOutflow(loan_id, to, amount, paid.tx_hash, paid.block_number, paid.log_index,
                                              paid.block_timestamp, reason))  # fmt: skip
    return CoverPayments(matched, unexplained)


def _why_not_cover(default: ChainEvent | None, paid: ChainEvent, loan_id: int, amount: int, to: str,
                   already: bool) -> str | None:  # fmt: skip
    if default is None:
        return f"LoanBook has no default of loan {loan_id}"
    if to.lower() != default.address.lower():
        return f"paid to {to}, not to LoanBook {default.address}"
    if paid.tx_hash != default.tx_hash:
        return f"not in the transaction that defaulted loan {loan_id} ({default.tx_hash})"
    if amount != int(default.args["cover"]):
        return f"{amount} differs from the cover {default.args['cover']} LoanBook stated for loan {loan_id}"
    if already:
        return f"a second cover payment for loan {loan_id}"
    return None
