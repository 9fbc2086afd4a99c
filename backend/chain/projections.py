"""Projections: typed tables derived from `chain_events`, and only from them.

Two kinds. *Entity* projections (anchors, attestations, loans, note balances) fold events into
one row per key; on a reorg the keys touched by removed events are deleted and re-folded from
the events that remain. *Row* projections (fundings, repayments) hold one row per event and
roll back by block number. Either way the result equals a rebuild from scratch.
"""

from __future__ import annotations

from collections.abc import Hashable, Iterable
from typing import Any

from sqlalchemy import delete, select, tuple_
from sqlalchemy.orm import Session

from backend.chain.loan_terms import period_interest
from backend.chain.loan_token import NAME as LOAN_TOKEN
from backend.chain.models import ChainEvent
from backend.chain.projection_models import (
    AnchorRow,
    AttestationRow,
    DisbursalRow,
    EventSubjectRow,
    FundingRow,
    LoanRow,
    MarketBidRow,
    MarketListingRow,
    MarketTradeRow,
    NoteBalanceRow,
    NoteTransferRow,
    RepaymentRow,
    TokenTransferRow,
)

ZERO_ADDRESS = "0x" + "00" * 20
LOAN_STATUS = {1: "funding", 2: "active", 3: "repaid", 4: "defaulted", 5: "cancelled"}


def _ref(ev: ChainEvent) -> dict[str, Any]:
    return {"block_number": ev.block_number, "tx_hash": ev.tx_hash, "log_index": ev.log_index}


def _int(value: Any) -> int:
    return int(value)


class Projection:
    handles: frozenset[tuple[str, str]] = frozenset()
    models: tuple[type, ...] = ()

    def apply(self, session: Session, ev: ChainEvent, only: set | None = None) -> None:
        raise NotImplementedError

    def rollback(self, session: Session, ancestor: int, removed: list[ChainEvent]) -> None:
        raise NotImplementedError

    def reset(self, session: Session) -> None:
        for model in self.models:
            session.execute(delete(model))

    def wants(self, ev: ChainEvent) -> bool:
        return (ev.contract, ev.event) in self.handles


class EntityProjection(Projection):
    """One row per key; `keys_of` names the rows an event touches."""

    def keys_of(self, ev: ChainEvent) -> Iterable[Hashable]:
        raise NotImplementedError

    def delete_keys(self, session: Session, keys: set) -> None:
        raise NotImplementedError

    def rollback(self, session: Session, ancestor: int, removed: list[ChainEvent]) -> None:
        keys = {k for ev in removed if self.wants(ev) for k in self.keys_of(ev)}
        if not keys:
            return
        self.delete_keys(session, keys)
        session.flush()
        events = {e for _, e in self.handles}
        remaining = session.scalars(
            select(ChainEvent)
            .where(ChainEvent.event.in_(events), ChainEvent.block_number <= ancestor)
            .order_by(ChainEvent.block_number, ChainEvent.log_index)
        )
        for ev in remaining:
            if self.wants(ev) and keys.intersection(self.keys_of(ev)):
                self.apply(session, ev, only=keys)
                session.flush()


class RowProjection(Projection):
    def rollback(self, session: Session, ancestor: int, removed: list[ChainEvent]) -> None:
        for model in self.models:
            session.execute(delete(model).where(model.block_number > ancestor))


# ---------------------------------------------------------------------------- anchors


class Anchors(EntityProjection):
    handles = frozenset({("DocumentAnchor", "Anchored")})
    models = (AnchorRow,)

    def keys_of(self, ev):
        return [ev.args["root"]]

    def delete_keys(self, session, keys):
        session.execute(delete(AnchorRow).where(AnchorRow.root.in_(keys)))

    def apply(self, session, ev, only=None):
        a = ev.args
        if session.get(AnchorRow, a["root"]) is None:  # the contract emits only the first anchor
            session.add(AnchorRow(root=a["root"], count=_int(a["count"]), uri=a["uri"], anchorer=a["anchorer"],
                                  timestamp=ev.block_timestamp, **_ref(ev)))  # fmt: skip


# ---------------------------------------------------------------------------- KYC


class Attestations(EntityProjection):
    handles = frozenset({("KYCRegistry", "AttestationSet"), ("KYCRegistry", "AttestationRevoked")})
    models = (AttestationRow,)

    def keys_of(self, ev):
        return [ev.args["wallet"]]

    def delete_keys(self, session, keys):
        session.execute(delete(AttestationRow).where(AttestationRow.wallet.in_(keys)))

    def apply(self, session, ev, only=None):
        a = ev.args
        row = session.get(AttestationRow, a["wallet"])
        if ev.event == "AttestationSet":
            if row is None:
                row = AttestationRow(wallet=a["wallet"])
                session.add(row)
            row.level, row.expires_at = _int(a["level"]), _int(a["expiresAt"])
            row.commitment, row.attestor, row.revoked = a["commitment"], a["attestor"], False
        elif row is not None:
            row.revoked, row.attestor = True, a["attestor"]
        else:
            return
        for k, v in _ref(ev).items():
            setattr(row, k, v)


# ---------------------------------------------------------------------------- loans

LOAN_EVENTS = (
    "LoanCreated", "LoanFunded", "LoanDisbursed", "LoanCancelled", "LoanRefunded", "LateFeeAssessed",
    "LoanPayment", "LoanPrepayment", "LoanRepaid", "LoanDefaulted", "LoanRecovery", "Claimed",
)  # fmt: skip


class Loans(EntityProjection):
    handles = frozenset(("LoanBook", e) for e in LOAN_EVENTS)
    models = (LoanRow,)

    def keys_of(self, ev):
        return [_int(ev.args["loanId"])]

    def delete_keys(self, session, keys):
        session.execute(delete(LoanRow).where(LoanRow.loan_id.in_(keys)))

    def apply(self, session, ev, only=None):
        a, loan_id = ev.args, _int(ev.args["loanId"])
        if ev.event == "LoanCreated":
            t = a["terms"]
            session.add(LoanRow(
                loan_id=loan_id, status="funding", borrower=a["borrower"], underwriter=a["underwriter"],
                terms_hash=a["termsHash"], agreement_hash=t["agreementHash"], decision_hash=t["decisionHash"],
                principal=_int(t["principal"]), apr_bps=_int(t["aprBps"]), installments=_int(t["installments"]),
                installment_period=_int(t["installmentPeriod"]), installment_amount=_int(a["installmentAmount"]),
                funding_deadline=_int(t["fundingDeadline"]), origination_fee_bps=_int(t["originationFeeBps"]),
                funded=0, origination_fee=0, principal_outstanding=0, last_installment=0, installments_settled=0,
                billed_unpaid=0, interest_paid=0,
                principal_paid=0, fees_assessed=0, fees_paid=0, cover=0, recovered=0, recoverable=0, claimed=0,
                created_block=ev.block_number, created_tx=ev.tx_hash, **_ref(ev),
            ))  # fmt: skip
            return
        row = session.get(LoanRow, loan_id)
        if row is None:  # an event for a loan created before the indexed range: nothing to fold into
            return
        self._fold(row, ev.event, a)
        for k, v in _ref(ev).items():
            setattr(row, k, v)

    @staticmethod
    def _fold(row: LoanRow, event: str, a: dict) -> None:
        if event == "LoanFunded":
            row.funded = _int(a["totalFunded"])
        elif event == "LoanDisbursed":
            row.status, row.start_time = "active", _int(a["startTime"])
            row.origination_fee, row.principal_outstanding = _int(a["originationFee"]), row.principal
        elif event == "LoanCancelled":
            row.status, row.funded = "cancelled", _int(a["funded"])
        elif event == "LoanRefunded":
            row.funded -= _int(a["amount"])
        elif event == "LateFeeAssessed":
            row.fees_assessed += _int(a["amount"])
        elif event == "LoanPayment":
            row.last_installment = max(row.last_installment, _int(a["installment"]))
            _settle(row, _int(a["installment"]), _int(a["interestPaid"]), _int(a["principalPaid"]),
                    _int(a["principalOutstanding"]))  # fmt: skip
            row.fees_paid += _int(a["feePaid"])
            row.interest_paid += _int(a["interestPaid"])
            row.principal_paid += _int(a["principalPaid"])
            row.principal_outstanding = _int(a["principalOutstanding"])
        elif event == "LoanPrepayment":
            row.fees_paid += _int(a["feePaid"])
            row.principal_paid += _int(a["principalPaid"])
            row.principal_outstanding = _int(a["principalOutstanding"])
        elif event == "LoanRepaid":
            row.status, row.principal_outstanding = "repaid", 0
            row.installments_settled, row.billed_unpaid = _int(a["installmentsPaid"]), 0
        elif event == "LoanDefaulted":
            row.status, row.cover = "defaulted", _int(a["cover"])
            row.principal_outstanding, row.recoverable = _int(a["principalOutstanding"]), _int(a["recoverable"])
        elif event == "LoanRecovery":
            row.recovered += _int(a["amount"])
            row.recoverable = _int(a["recoverableLeft"])
        elif event == "Claimed":
            row.claimed += _int(a["amount"])


def _settle(row: LoanRow, installment: int, interest: int, principal: int, outstanding: int) -> None:
    """Count `installment` settled as LoanBook does, once the interest and principal it billed are
    paid. A payment event names the installment it went towards, settled or not, and not what was
    billed, so the bill is worked out as `LoanServicing.bill` makes it at the first money towards
    the installment, on the principal outstanding before that payment (prepayments happen only
    while nothing is billed). Fees settle nothing, whichever installment an event paying only fees
    names: LoanBook names one not yet settled, so the ones before it are."""
    if not interest and not principal:
        if installment - 1 > row.installments_settled:
            row.installments_settled, row.billed_unpaid = installment - 1, 0
        return
    if row.installments_settled != installment - 1 or not row.billed_unpaid:
        row.installments_settled = installment - 1  # LoanBook pays installments in order
        row.billed_unpaid = _billed(row, installment, outstanding + principal)
    row.billed_unpaid = max(row.billed_unpaid - interest - principal, 0)
    if not row.billed_unpaid:
        row.installments_settled = installment


def _billed(row: LoanRow, installment: int, balance: int) -> int:
    """Interest and principal LoanBook bills for `installment` on `balance` (`LoanServicing.bill`)."""
    interest = period_interest(balance, row.apr_bps, row.installment_period)
    if installment == row.installments:
        return interest + balance  # the last one takes the rest
    return interest + min(max(row.installment_amount - interest, 0), balance)


FUNDING_KINDS = {"LoanFunded": "fund", "LoanRefunded": "refund", "Claimed": "claim"}


class Fundings(RowProjection):
    handles = frozenset({("LoanBook", "LoanFunded"), ("LoanBook", "LoanRefunded"), ("LoanBook", "Claimed")})
    models = (FundingRow,)

    def apply(self, session, ev, only=None):
        a = ev.args
        session.add(FundingRow(
            event_id=ev.id, loan_id=_int(a["loanId"]), investor=a["investor"],
            kind=FUNDING_KINDS[ev.event], amount=_int(a["amount"]),
            total_funded=_int(a["totalFunded"]) if "totalFunded" in a else None, **_ref(ev),
        ))  # fmt: skip


class Repayments(RowProjection):
    handles = frozenset({("LoanBook", "LoanPayment"), ("LoanBook", "LoanPrepayment"), ("LoanBook", "LoanRecovery")})
    models = (RepaymentRow,)

    def apply(self, session, ev, only=None):
        a = ev.args
        if ev.event == "LoanRecovery":
            fee = interest = principal = 0
            amount, outstanding, kind, installment = _int(a["amount"]), None, "recovery", None
        else:
            fee, principal = _int(a["feePaid"]), _int(a["principalPaid"])
            interest = _int(a.get("interestPaid", 0))
            amount, outstanding = fee + interest + principal, _int(a["principalOutstanding"])
            kind = "payment" if ev.event == "LoanPayment" else "prepayment"
            installment = _int(a["installment"]) if "installment" in a else None
        session.add(RepaymentRow(
            event_id=ev.id, loan_id=_int(a["loanId"]), kind=kind, payer=a["payer"], installment=installment,
            fee_paid=fee, interest_paid=interest, principal_paid=principal, amount=amount,
            principal_outstanding=outstanding, **_ref(ev),
        ))  # fmt: skip


class Disbursals(RowProjection):
    """Who received each disbursal, and when: the wallets whose onward transfers the indexer follows."""

    handles = frozenset({("LoanBook", "LoanDisbursed")})
    models = (DisbursalRow,)

    def apply(self, session, ev, only=None):
        a = ev.args
        session.add(DisbursalRow(event_id=ev.id, loan_id=_int(a["loanId"]), borrower=a["borrower"],
                                 net_amount=_int(a["netAmount"]), start_time=_int(a["startTime"]), **_ref(ev)))  # fmt: skip


class TokenTransfers(RowProjection):
    """The loan token leaving a borrower's wallet (the index keeps no other of its transfers)."""

    handles = frozenset({(LOAN_TOKEN, "Transfer")})
    models = (TokenTransferRow,)

    def apply(self, session, ev, only=None):
        a = ev.args
        session.add(TokenTransferRow(event_id=ev.id, sender=a["from"], recipient=a["to"], amount=_int(a["value"]),
                                     **_ref(ev)))  # fmt: skip


# ---------------------------------------------------------------------------- notes (ERC-1155)


def note_moves(ev: ChainEvent) -> list[tuple[int, str, str, int]]:
    """(loan id, from, to, notes) of a TransferSingle or TransferBatch."""
    a = ev.args
    if ev.event == "TransferSingle":
        return [(_int(a["id"]), a["from"], a["to"], _int(a["value"]))]
    return [(_int(i), a["from"], a["to"], _int(v)) for i, v in zip(a["ids"], a["values"])]


class NoteBalances(EntityProjection):
    handles = frozenset({("LoanBook", "TransferSingle"), ("LoanBook", "TransferBatch")})
    models = (NoteBalanceRow,)

    def keys_of(self, ev):
        return [(loan, who) for loan, src, dst, _ in note_moves(ev) for who in (src, dst) if who != ZERO_ADDRESS]

    def delete_keys(self, session, keys):
        session.execute(delete(NoteBalanceRow).where(tuple_(NoteBalanceRow.loan_id, NoteBalanceRow.holder).in_(keys)))

    def apply(self, session, ev, only=None):
        for loan, src, dst, value in note_moves(ev):
            for holder, delta in ((src, -value), (dst, value)):
                if holder == ZERO_ADDRESS or (only is not None and (loan, holder) not in only):
                    continue
                row = session.get(NoteBalanceRow, (loan, holder))
                if row is None:
                    row = NoteBalanceRow(loan_id=loan, holder=holder, balance=0)
                    session.add(row)
                row.balance += delta
                for k, v in _ref(ev).items():
                    setattr(row, k, v)
                if row.balance == 0:
                    session.expunge(row) if row in session.new else session.delete(row)
                session.flush()


class NoteTransfers(RowProjection):
    handles = NoteBalances.handles
    models = (NoteTransferRow,)

    def apply(self, session, ev, only=None):
        for loan, src, dst, value in note_moves(ev):
            # Mints and burns are the fund and refund rows already; a wallet sending notes to itself
            # (ERC-1155 allows it) moves nothing, and as a row it would read as notes received; nor
            # does a transfer of 0, which anyone can log to any verified wallet (it needs no balance).
            if ZERO_ADDRESS not in (src, dst) and src != dst and value:
                session.add(NoteTransferRow(event_id=ev.id, loan_id=loan, sender=src, recipient=dst, amount=value,
                                            **_ref(ev)))  # fmt: skip


# ---------------------------------------------------------------------------- the notes' secondary market


class MarketListings(EntityProjection):
    """One side of NoteMarket's book folded from its events: placed, repriced, withdrawn, filled
    (by a taker, or `Matched` against an order of the other side). Asks and bids mirror each other,
    so the bid side only renames (see `MarketBids`)."""

    model: type = MarketListingRow
    key, maker, total = "listing_id", "seller", "notes_listed"
    placed, withdrawn, filled, repriced = "Listed", "Delisted", "Sold", "Repriced"
    spent, withdrawn_status, left_when_matched = "sold", "delisted", "listingNotesLeft"

    def __init__(self) -> None:
        events = (self.placed, self.withdrawn, self.filled, self.repriced, "Matched")
        self.handles = frozenset(("NoteMarket", e) for e in events)
        self.models = (self.model,)
        self.arg = {"listing_id": "listingId", "bid_id": "bidId"}[self.key]

    def keys_of(self, ev):
        return [_int(ev.args[self.arg])]

    def delete_keys(self, session, keys):
        session.execute(delete(self.model).where(getattr(self.model, self.key).in_(keys)))

    def apply(self, session, ev, only=None):
        a, order_id = ev.args, _int(ev.args[self.arg])
        if ev.event == self.placed:
            notes = _int(a["notes"])
            session.add(self.model(**{self.key: order_id, self.maker: a[self.maker], self.total: notes},
                                   loan_id=_int(a["loanId"]), price_bps=_int(a["priceBps"]), notes_left=notes,
                                   expires_at=_int(a.get("expiresAt", 0)), status="open", **_ref(ev)))  # fmt: skip
            return
        row = session.get(self.model, order_id)
        if row is None:  # placed before the indexed range
            return
        if ev.event == self.withdrawn:
            row.status = self.withdrawn_status
        elif ev.event == self.repriced:
            row.price_bps = _int(a["priceBps"])
        else:
            row.notes_left = _int(a[self.left_when_matched if ev.event == "Matched" else "notesLeft"])
            row.status = "open" if row.notes_left else self.spent
        for k, v in _ref(ev).items():
            setattr(row, k, v)


class MarketBids(MarketListings):
    model = MarketBidRow
    key, maker, total = "bid_id", "bidder", "notes_bid"
    placed, withdrawn, filled, repriced = "BidPlaced", "BidCancelled", "BidFilled", "BidRepriced"
    spent, withdrawn_status, left_when_matched = "filled", "cancelled", "bidNotesLeft"


class MarketTrades(RowProjection):
    handles = frozenset({("NoteMarket", "Sold"), ("NoteMarket", "BidFilled"), ("NoteMarket", "Matched")})
    models = (MarketTradeRow,)

    def apply(self, session, ev, only=None):
        a = ev.args
        order = {k: _int(a[arg]) for k, arg in (("listing_id", "listingId"), ("bid_id", "bidId")) if arg in a}
        cost = a["proceeds"] if ev.event == "BidFilled" else a["cost"]
        session.add(MarketTradeRow(event_id=ev.id, loan_id=_int(a["loanId"]), seller=a["seller"], buyer=a["buyer"],
                                   notes=_int(a["notes"]), cost=_int(cost), **order, **_ref(ev)))  # fmt: skip


# ---------------------------------------------------------------------------- subjects (for traces)


def event_subjects(ev: ChainEvent) -> tuple[set[int], set[str]]:
    """The loans and the addresses an event of LoanBook or an agent of it names in its top-level
    arguments. A note transfer names the loans whose notes it moves, and no one when it moves none:
    ERC-1155's transfer of 0 needs no balance, so anyone can log one to any verified wallet and for any
    loan, which would otherwise put that wallet in a business relationship, or move its end (and a
    loan's), whenever the stranger likes."""
    a = ev.args
    if ev.contract == "LoanBook" and ev.event in ("TransferSingle", "TransferBatch"):
        loans = {loan for loan, _, _, value in note_moves(ev) if value}
        if not loans:
            return set(), set()
    else:
        loans = {_int(a[k]) for k in ("loanId", "id") if k in a}
        loans |= {_int(i) for i in a.get("ids", [])}
    addresses = {v for v in a.values() if isinstance(v, str) and len(v) == 42 and v.startswith("0x")}
    return loans, addresses - {ZERO_ADDRESS}


class EventSubjects(RowProjection):
    models = (EventSubjectRow,)

    def wants(self, ev: ChainEvent) -> bool:
        # a loan's trades, its mandated fundings and its autopay payments belong to its trace
        return ev.contract in ("LoanBook", "NoteMarket", "FundingAgent", "RepaymentAgent")

    def apply(self, session, ev, only=None):
        loans, addresses = event_subjects(ev)
        session.add_all([EventSubjectRow(event_id=ev.id, loan_id=loan, **_ref(ev)) for loan in sorted(loans)]
                        + [EventSubjectRow(event_id=ev.id, address=addr, **_ref(ev)) for addr in sorted(addresses)])  # fmt: skip


PROJECTIONS: tuple[Projection, ...] = (
    Anchors(), Attestations(), Loans(), Fundings(), Repayments(), NoteBalances(), NoteTransfers(), EventSubjects(),
    MarketListings(), MarketBids(), MarketTrades(), Disbursals(), TokenTransfers(),
)  # fmt: skip


def apply_all(session: Session, ev: ChainEvent) -> None:
    for projection in PROJECTIONS:
        if projection.wants(ev):
            projection.apply(session, ev)


def rollback_all(session: Session, ancestor: int, removed: list[ChainEvent]) -> None:
    """Undo the projections of `removed` events; call before deleting them."""
    for projection in PROJECTIONS:
        if isinstance(projection, RowProjection):
            projection.rollback(session, ancestor, removed)


def refold_all(session: Session, ancestor: int, removed: list[ChainEvent]) -> None:
    """Re-fold entity projections touched by `removed`; call after deleting them."""
    for projection in PROJECTIONS:
        if isinstance(projection, EntityProjection):
            projection.rollback(session, ancestor, removed)


def reset_all(session: Session) -> None:
    for projection in PROJECTIONS:
        projection.reset(session)
