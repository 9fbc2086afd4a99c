"""Monitoring rule over where borrowers send the money they were lent (the loan token's transfers
out of borrower wallets, which the chain index keeps on every chain: backend/chain/loan_token.py):

- `collection_wallet`: a wallet that received, within `monitoring_collection_days` of a disbursal,
  at least `monitoring_collection_share` of it (net of the origination fee) from the borrower's
  wallet (a *forward*), when it also received such a forward from a borrower wallet of another
  borrower person, or is itself a borrower or investor wallet of another person on the platform.
  Money mules: people recruited to take loans in their own name and pass the money to one
  organiser, or identities bought or stolen for it; or a borrower passing the money to another of
  the platform's borrowers or investors. A forward to the borrower's own other wallet (the same
  person: `persons.borrower_wallets_of`, approved KYC and confirmed same-person links) is nobody
  else's, and a transfer into a platform contract (a repayment) is none.

A transfer counts towards the latest disbursal to its sender before it; a forward is made by the
transfer that brings the sum to one wallet over the share, and the transfers after it do not add to
it. One alert per forward that meets either condition, naming the wallet, the borrower, the loan,
the disbursal and the transfers, and (up to ten) the earlier forwards from other persons' borrowers,
by wallet and loan: a collection wallet found once raises an alert for each new loan passed to it.
The same rule flags a disbursal passed on in pieces, each under the share, to wallets that gather
from other persons' borrowers (`passed_on_in_pieces`). No personal data: wallets, loans and amounts.
Recomputed on each read in one pass over the transfers the index keeps (only borrowers' onward
ones: small), and the disbursals of their senders."""

from __future__ import annotations

import bisect
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import partial
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from backend.audit.schemas import AlertPublic
from backend.chain.deploy import platform_addresses
from backend.chain.models import ChainEvent
from backend.chain.projection_models import (
    DisbursalRow,
    FundingRow,
    LoanRow,
    MarketTradeRow,
    NoteBalanceRow,
    TokenTransferRow,
)
from backend.config import Settings
from backend.db.chunks import chunks
from backend.identity.persons import borrower_wallets_of_each

DAY = 86_400
SHOWN = 10  # earlier forwards named in an alert, at most
PPM = 1_000_000  # the share compared in parts per million: exact integers, whatever the token's decimals

Alert = Callable[..., AlertPublic]


@dataclass
class Forward:
    loan_id: int
    borrower: str
    recipient: str
    net: int  # the disbursal, net of the origination fee
    disbursal_tx: str
    disbursed_at: int
    transfers: list = field(default_factory=list)  # (tx hash, block, log index, amount, block time)
    amount: int = 0

    @property
    def at(self) -> int:
        return self.transfers[-1][4]


@dataclass(frozen=True)
class Sent:
    """A transfer out of a borrower wallet within `monitoring_collection_days` of the latest disbursal
    to it, to anyone but itself and the platform's contracts."""

    disbursal: Any  # the disbursal's row: loan_id, net_amount, tx_hash, start_time
    borrower: str
    recipient: str
    amount: int
    tx_hash: str
    block: int
    log_index: int
    at: int


def sent_on(db: Session, settings: Settings) -> list[Sent]:
    """Every transfer a borrower made of what it was lent, in the order they were mined."""
    window = settings.monitoring_collection_days * DAY
    platform = platform_addresses(settings)
    t = TokenTransferRow
    transfers = db.execute(select(t.sender, t.recipient, t.amount, t.tx_hash, t.block_number, t.log_index,
                                  ChainEvent.block_timestamp)
                           # An outer join, though every transfer has its event: SQLite then reads the
                           # transfers and looks their events up, where an inner join had it scan every
                           # event of the book for the few transfers (as much again at 10,000 loans).
                           .outerjoin(ChainEvent, ChainEvent.id == t.event_id)
                           .order_by(t.block_number, t.log_index)).all()  # fmt: skip
    if not transfers:
        return []
    # The disbursals of the wallets that sent anything on (a subquery: no list of every sender).
    disbursed: dict[str, tuple[list[tuple[int, int]], list[tuple]]] = defaultdict(lambda: ([], []))
    d = DisbursalRow
    for row in db.execute(select(d.borrower, d.block_number, d.log_index, d.loan_id, d.net_amount, d.tx_hash,
                                 d.start_time).where(d.borrower.in_(select(t.sender)))
                          .order_by(d.block_number, d.log_index)):  # fmt: skip
        positions, rows = disbursed[row.borrower]
        positions.append((row.block_number, row.log_index))
        rows.append(row)
    sent = []
    for sender, recipient, amount, tx_hash, block, log_index, at in transfers:
        if recipient.lower() in platform or recipient == sender:
            continue
        positions, rows = disbursed[sender]
        i = bisect.bisect_left(positions, (block, log_index))
        if i and (at or 0) - rows[i - 1].start_time <= window:
            sent.append(Sent(rows[i - 1], sender, recipient, amount, tx_hash, block, log_index, at or 0))
    return sent


def forwards(sent: list[Sent], settings: Settings) -> list[Forward]:
    """Every forward, in the order the transfer that made it was mined."""
    share = round(settings.monitoring_collection_share * PPM)
    runs: dict[tuple[int, str], Forward] = {}
    made = []
    for s in sent:
        disbursal = s.disbursal
        run = runs.get((disbursal.loan_id, s.recipient))
        if run is None:
            run = runs[disbursal.loan_id, s.recipient] = Forward(disbursal.loan_id, s.borrower, s.recipient,
                                                                 disbursal.net_amount, disbursal.tx_hash,
                                                                 disbursal.start_time)  # fmt: skip
        elif run.amount * PPM >= share * run.net:
            continue  # made already: later transfers add nothing to it
        run.transfers.append((s.tx_hash, s.block, s.log_index, s.amount, s.at))
        run.amount += s.amount
        if run.amount * PPM >= share * run.net:
            made.append(run)
    return made


def _roles(db: Session, wallets: set[str]) -> dict[str, dict[str, list[int]]]:
    """Of these wallets, those that borrowed (their loans) or invested (the loans they funded, hold
    notes of or bought notes of) on the platform."""
    roles: dict[str, dict[str, set[int]]] = defaultdict(lambda: defaultdict(set))
    for some in chunks(wallets):
        for wallet, loan_id in db.execute(select(LoanRow.borrower, LoanRow.loan_id).where(LoanRow.borrower.in_(some))):
            roles[wallet]["borrower"].add(loan_id)
        for who, table in ((FundingRow.investor, FundingRow), (NoteBalanceRow.holder, NoteBalanceRow),
                           (MarketTradeRow.buyer, MarketTradeRow)):  # fmt: skip
            for wallet, loan_id in db.execute(select(who, table.loan_id).distinct().where(who.in_(some))):
                roles[wallet]["investor"].add(loan_id)
    return {w: {role: sorted(loans) for role, loans in of.items()} for w, of in roles.items()}


def _loans(loans: list[int]) -> str:
    shown = ", ".join(map(str, loans[:SHOWN]))
    return shown + (f" and {len(loans) - SHOWN} more" if len(loans) > SHOWN else "")


def collection_wallets(db: Session, settings: Settings, alert: Alert) -> list[AlertPublic]:
    sent = sent_on(db, settings)
    if not sent:
        return []
    made = forwards(sent, settings)
    senders: dict[str, set[str]] = defaultdict(set)
    for s in sent:
        senders[s.recipient].add(s.borrower)
    roles = _roles(db, set(senders))
    person = borrower_wallets_of_each(db, {w for f in made for w in (f.borrower, f.recipient)})
    by_recipient: dict[str, list[Forward]] = defaultdict(list)
    for f in made:
        by_recipient[f.recipient].append(f)
    found = []
    share = settings.monitoring_collection_share
    for recipient, received in by_recipient.items():
        earlier: list[Forward] = []
        for f in received:
            own = person[f.borrower]
            if recipient in own or f.borrower in person[recipient]:
                continue  # the borrower's own other wallet: nobody else's money
            others = [g for g in earlier if g.borrower not in own and f.borrower not in person[g.borrower]]
            role = roles.get(recipient, {})
            earlier.append(f)
            if not others and not role:
                continue
            wallets = list(dict.fromkeys(g.borrower for g in others))  # the other persons' borrowers, in order
            why = []
            if others:
                why.append(f"it received {share:.0%} or more of the disbursals of loans "
                           f"{_loans(sorted({g.loan_id for g in others}))} within "
                           f"{settings.monitoring_collection_days} days from borrower wallets "
                           f"{', '.join(wallets[:SHOWN])} of another person before")  # fmt: skip
            for kind, loans in sorted(role.items()):
                why.append(f"it is itself a{'n' if kind == 'investor' else ''} {kind} wallet on the platform, of "
                           f"another person (loans {_loans(loans)})")  # fmt: skip
            found.append(alert(
                rule="collection_wallet", loan_id=f.loan_id,
                wallets=[recipient, f.borrower, *wallets[:SHOWN]],
                tx_hashes=list(dict.fromkeys([f.disbursal_tx, *(tx for tx, *_ in f.transfers)])),
                also=[recipient, *(str(log_index) for _, _, log_index, _, _ in f.transfers)],
                timestamp=f.at, amount=f.amount,
                detail=f"{recipient} received {f.amount} of loan {f.loan_id}'s disbursal of {f.net} "
                       f"({f.amount / f.net:.0%}) from its borrower {f.borrower} within "
                       f"{(f.at - f.disbursed_at) / DAY:.1f} days; {'; '.join(why)}: check for a money mule or "
                       "a collection account (one wallet gathering what several borrowers were lent)",
            ))  # fmt: skip
    flagged = {a.loan_id for a in found}
    # Only a wallet two borrower wallets paid, or with a role, can gather for an organiser: the shops
    # one borrower paid (most of them) are left out before anything else is done.
    gathering = [s for s in sent if len(senders[s.recipient]) > 1 or s.recipient in roles]
    persons = partial(borrower_wallets_of_each, db)
    return found + passed_on_in_pieces(gathering, settings, persons, roles, flagged, alert)


def passed_on_in_pieces(sent: list[Sent], settings: Settings, persons: Callable[[set[str]], dict[str, frozenset[str]]],
                        roles: dict[str, dict[str, list[int]]], flagged: set[int], alert: Alert) -> list[AlertPublic]:  # fmt: skip
    """The disbursals passed on in pieces (review 2026-12-01): what a borrower sent, within the window,
    to wallets that had each gathered a *piece* (`monitoring_collection_piece_share` of a disbursal, or
    more) from a borrower wallet of another person before, or that are another person's borrower or
    investor wallets, reaching the share together. An organiser who has each mule send 49% to each of
    two wallets no longer gathers it unseen; a loan flagged already for one wallet is not again.

    Whose wallets are whose (`persons`) is looked up only for the wallets of the loans that reach the
    share with every wallet taken for a person of its own: one person's wallets only ever take pieces
    out of the sum, so no other loan can reach it (the bench's 10,000-loan book has thousands of shops
    that take pieces from several borrowers, and none of them is looked up)."""
    rough, _ = _gathered(sent, settings, lambda wallet: frozenset((wallet,)), roles, flagged, whole=True)
    wallets = {s.recipient for sends in rough.values() for s, _ in sends}
    narrowed = [s for s in sent if s.recipient in wallets]  # every send to them, for their pieces
    person = persons({w for s in narrowed for w in (s.borrower, s.recipient)})
    gathered, made = _gathered(narrowed, settings, person.__getitem__, roles, flagged, whole=False)
    return [_pieces_alert(gathered[loan], last, settings, roles, alert) for loan, last in made.items()]


def _gathered(sent: list[Sent], settings: Settings, person: Callable[[str], frozenset[str]],
              roles: dict[str, dict[str, list[int]]], flagged: set[int], whole: bool):  # fmt: skip
    """By loan not `flagged`: its sends to gatherers, each with the other persons' pieces the wallet
    had, up to the one that brought them to the share (`whole`: all of them, only for the loans that
    reach it), and that one."""
    share, piece = (round(x * PPM) for x in (settings.monitoring_collection_share,
                                             settings.monitoring_collection_piece_share))  # fmt: skip
    runs: dict[tuple[int, str], int] = defaultdict(int)  # what each loan's borrower sent each wallet so far
    pieces: dict[str, list[Sent]] = defaultdict(list)  # by wallet, the transfers that made a piece to it
    gathered: dict[int, list[tuple[Sent, list[Sent]]]] = defaultdict(list)  # by loan: its sends to gatherers
    total: dict[int, int] = defaultdict(int)  # by loan: what those sends came to
    made: dict[int, Sent] = {}  # by loan: the send that brought it to the share
    for s in sent:
        loan, own, net = s.disbursal.loan_id, person(s.borrower), s.disbursal.net_amount
        if s.recipient in own or s.borrower in person(s.recipient):
            continue  # the borrower's own other wallet: nobody else's money
        others = [p for p in pieces[s.recipient] if p.borrower not in own and s.borrower not in person(p.borrower)]
        if (whole or loan not in made) and loan not in flagged and (others or roles.get(s.recipient)):
            gathered[loan].append((s, others))
            total[loan] += s.amount
            if loan not in made and total[loan] * PPM >= share * net:
                made[loan] = s
        before, runs[loan, s.recipient] = runs[loan, s.recipient], runs[loan, s.recipient] + s.amount
        if before * PPM < piece * net <= runs[loan, s.recipient] * PPM:
            pieces[s.recipient].append(s)
    if whole:
        return {loan: sends for loan, sends in gathered.items() if loan in made}, made
    return gathered, made


def _pieces_alert(gathered: list[tuple[Sent, list[Sent]]], last: Sent, settings: Settings,
                  roles: dict[str, dict[str, list[int]]], alert: Alert) -> AlertPublic:  # fmt: skip
    disbursal, borrower = last.disbursal, last.borrower
    to: dict[str, int] = defaultdict(int)  # by gatherer, in the order first sent to
    for s, _ in gathered:
        to[s.recipient] += s.amount
    others = [p for _, before in gathered for p in before]
    wallets = list(dict.fromkeys(p.borrower for p in others))  # the other persons' borrowers, in order
    amount, net = sum(to.values()), disbursal.net_amount
    listed = [f"{wallet} ({sent})" for wallet, sent in to.items()]
    why = []
    if others:
        why.append(f"before, pieces of the disbursals of loans {_loans(sorted({p.disbursal.loan_id for p in others}))} "
                   f"had gone to them from borrower wallets {', '.join(wallets[:SHOWN])} of another person "
                   f"({settings.monitoring_collection_piece_share:.0%} of a disbursal or more each)")  # fmt: skip
    for wallet in to:
        for kind, loans in sorted(roles.get(wallet, {}).items()):
            why.append(f"{wallet} is itself a{'n' if kind == 'investor' else ''} {kind} wallet on the platform, "
                       f"of another person (loans {_loans(loans)})")  # fmt: skip
    return alert(
        rule="collection_wallet", loan_id=disbursal.loan_id,
        wallets=[*to, borrower, *wallets[:SHOWN]],
        tx_hashes=list(dict.fromkeys([disbursal.tx_hash, *(s.tx_hash for s, _ in gathered)])),
        also=["pieces", *to, *(str(s.log_index) for s, _ in gathered)],
        timestamp=last.at, amount=amount,
        detail=f"{borrower} passed {amount} of loan {disbursal.loan_id}'s disbursal of {net} ({amount / net:.0%}) "
               f"on in pieces within {(last.at - disbursal.start_time) / DAY:.1f} days, to "
               f"{' and '.join([', '.join(listed[:-1]), listed[-1]] if len(listed) > 1 else listed)}; "
               f"{'; '.join(why)}: check for a money mule passing the money on in pieces to one organiser's "
               "wallets",
    )  # fmt: skip
