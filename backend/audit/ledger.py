"""Money movements of the loan asset, read from the platform contracts' events: who paid whom,
how much, why, in which transaction. An address's ledger is every movement into or out of it.

Each event that moves the asset is turned into the transfers the contract makes for it (the
contracts emit before they transfer, and every transfer they make has its event). Autopay is
credited to the payer whose mandate the RepaymentAgent carried out, not to the agent: the agent
takes the payment from the payer and hands it to LoanBook in the same transaction, keeping nothing.

For the contracts the asset passes through, the sum of their ledger is what they must hold, which
`reconcile` compares with the token's `balanceOf` at the index's block. The difference is exact:
a plain token transfer to the contract (no event of its own) is what it shows.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.orm import Session

from backend.chain.models import ChainEvent
from backend.chain.projection_models import EventSubjectRow

# The contracts the loan asset passes through; each must hold exactly what its ledger sums to.
HOLDERS = ("LoanBook", "ReserveFund", "NoteMarket", "FundingAgent", "RepaymentAgent")

MONEY_EVENTS = frozenset({
    ("LoanBook", "LoanFunded"), ("LoanBook", "LoanRefunded"), ("LoanBook", "Claimed"), ("LoanBook", "LoanDisbursed"),
    ("LoanBook", "LoanPayment"), ("LoanBook", "LoanPrepayment"), ("LoanBook", "LoanRecovery"),
    ("LoanBook", "CoverRecouped"), ("ReserveFund", "CoverPaid"), ("ReserveFund", "Deposited"),
    ("NoteMarket", "Sold"), ("NoteMarket", "BidFilled"), ("NoteMarket", "Matched"),
    # not money themselves: they say on whose behalf an agent acted in the same transaction
    ("RepaymentAgent", "PaidWithMandate"), ("FundingAgent", "MandateUsed"),
})  # fmt: skip

# A trade is one transfer, buyer to seller; each side names it its own way.
SIDES = {"note_trade": ("note_purchase", "note_sale")}


@dataclass(frozen=True)
class Movement:
    kind: str  # funded, refunded, claimed, disbursed, origination_fee, repaid, recovered, reserve_cover, cover_recouped,
    # reserve_deposit, note_trade
    source: str
    target: str
    amount: int
    loan_id: int | None
    event: ChainEvent
    via: str | None = None  # the agent contract that carried it out for `source` (autopay, funding mandates)
    withheld_from: str | None = None  # the borrower whose principal the origination fee came out of


@dataclass(frozen=True)
class Entry:
    kind: str
    direction: str  # in | out | withheld (never passed through the address: kept back from what it received)
    movement: Movement

    @property
    def counterparty(self) -> str:
        return self.movement.source if self.direction == "in" else self.movement.target


def movements(events: list[ChainEvent], platform: dict[str, str]) -> list[Movement]:
    """The asset transfers `events` stand for, in chain order. `platform`: contract name -> address."""
    events = sorted(events, key=lambda e: (e.block_number, e.log_index))
    autopaid = {(e.tx_hash, int(e.args["loanId"])): e.args["payer"] for e in events if e.event == "PaidWithMandate"}
    mandated = {(e.tx_hash, int(e.args["loanId"]), e.args["investor"]) for e in events if e.event == "MandateUsed"}
    reserve, agent = platform.get("ReserveFund"), platform.get("RepaymentAgent")
    found = []
    for ev in events:
        a = ev.args
        loan_id = int(a["loanId"]) if "loanId" in a else None

        def move(kind: str, source: str, target: str, amount, **extra) -> None:
            if int(amount):
                found.append(Movement(kind, source, target, int(amount), loan_id, ev, **extra))

        name = ev.event if ev.contract in ("LoanBook", "ReserveFund", "NoteMarket") else None
        if name == "LoanFunded":
            via = platform.get("FundingAgent") if (ev.tx_hash, loan_id, a["investor"]) in mandated else None
            move("funded", a["investor"], ev.address, a["amount"], via=via)
        elif name == "LoanRefunded":
            move("refunded", ev.address, a["investor"], a["amount"])
        elif name == "Claimed":
            move("claimed", ev.address, a["investor"], a["amount"])
        elif name == "LoanDisbursed":
            move("disbursed", ev.address, a["borrower"], a["netAmount"])
            move("origination_fee", ev.address, reserve or "(ReserveFund)", a["originationFee"], withheld_from=a["borrower"])
        elif name in ("LoanPayment", "LoanPrepayment", "LoanRecovery"):
            paid = a["amount"] if name == "LoanRecovery" else sum(int(a.get(k, 0)) for k in ("feePaid", "interestPaid", "principalPaid"))
            payer, via = a["payer"], None
            if payer == agent and (ev.tx_hash, loan_id) in autopaid:
                payer, via = autopaid[(ev.tx_hash, loan_id)], agent
            move("recovered" if name == "LoanRecovery" else "repaid", payer, ev.address, paid, via=via)
        elif name == "CoverPaid":
            move("reserve_cover", ev.address, a["loanBook"], a["amount"])
        elif name == "CoverRecouped":  # a defaulted loan's recovery past its investors' share
            move("cover_recouped", ev.address, reserve or "(ReserveFund)", a["amount"])
        elif name == "Deposited":
            move("reserve_deposit", a["from"], ev.address, a["amount"])
        elif name in ("Sold", "BidFilled", "Matched"):
            move("note_trade", a["buyer"], a["seller"], a["proceeds"] if name == "BidFilled" else a["cost"])
    return found


def events_touching(db: Session, wallet: str, platform: dict[str, str], through_block: int) -> list[ChainEvent]:
    """The money events (and the agents' mandate events beside them) that can move `wallet`'s
    money: all of them for a platform contract, else those of the transactions whose events name it."""
    query = select(ChainEvent).where(ChainEvent.block_number <= through_block)
    if wallet not in platform.values():
        its_txs = select(EventSubjectRow.tx_hash).where(EventSubjectRow.address == wallet)
        reserve_txs = [e.tx_hash for e in db.scalars(select(ChainEvent).where(ChainEvent.contract == "ReserveFund"))
                       if wallet in e.args.values()]  # fmt: skip
        query = query.where(ChainEvent.tx_hash.in_(its_txs) | ChainEvent.tx_hash.in_(reserve_txs))
    names = sorted({event for _, event in MONEY_EVENTS})
    return [e for e in db.scalars(query.where(ChainEvent.event.in_(names))) if (e.contract, e.event) in MONEY_EVENTS]


def ledger(moves: list[Movement], wallet: str) -> list[Entry]:
    entries = []
    for m in moves:
        out_kind, in_kind = SIDES.get(m.kind, (m.kind, m.kind))
        if m.source == wallet:
            entries.append(Entry(out_kind, "out", m))
        if m.target == wallet:
            entries.append(Entry(in_kind, "in", m))
        if m.withheld_from == wallet:
            entries.append(Entry(m.kind, "withheld", m))
    return entries


def holdings(entries: list[Entry]) -> int:
    """What the address must hold if its ledger is all that moved its money."""
    return sum(e.movement.amount for e in entries if e.direction == "in") - sum(
        e.movement.amount for e in entries if e.direction == "out"
    )
