"""Typed read models built from `chain_events` (see projections.py). Disposable: `loanchain
index rebuild` drops and recomputes them from the chain with the same result."""

from __future__ import annotations

from sqlalchemy import (
    BigInteger,
    Boolean,
    ColumnElement,
    ForeignKey,
    Index,
    Integer,
    String,
    and_,
    func,
    or_,
)
from sqlalchemy.orm import Mapped, mapped_column

from backend.chain.deploy_params import DEFAULT_AFTER
from backend.chain.models import Uint
from backend.db.base import Base


class EventRef:
    """The event that last changed the row."""

    block_number: Mapped[int] = mapped_column(BigInteger)
    tx_hash: Mapped[str] = mapped_column(String(66))
    log_index: Mapped[int] = mapped_column(Integer)


class AnchorRow(EventRef, Base):
    __tablename__ = "chain_anchors"

    root: Mapped[str] = mapped_column(String(66), primary_key=True)
    count: Mapped[int] = mapped_column(BigInteger)
    uri: Mapped[str] = mapped_column(String(2000))
    anchorer: Mapped[str] = mapped_column(String(42))
    timestamp: Mapped[int | None] = mapped_column(BigInteger)


class AttestationRow(EventRef, Base):
    __tablename__ = "chain_attestations"

    wallet: Mapped[str] = mapped_column(String(42), primary_key=True)
    level: Mapped[int] = mapped_column(Integer)
    expires_at: Mapped[int] = mapped_column(BigInteger)
    commitment: Mapped[str] = mapped_column(String(66))
    attestor: Mapped[str] = mapped_column(String(42))
    revoked: Mapped[bool] = mapped_column(Boolean, default=False)


def _defaultable_at(start, installments_settled, period):
    """LoanBook's `_defaultableAt`, on a row's values or, in a query, its columns: one formula for both."""
    return start + (installments_settled + 1) * period + DEFAULT_AFTER


class LoanRow(EventRef, Base):
    __tablename__ = "chain_loans"

    loan_id: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=False)
    status: Mapped[str] = mapped_column(String(20), index=True)
    borrower: Mapped[str] = mapped_column(String(42), index=True)
    underwriter: Mapped[str] = mapped_column(String(42))
    terms_hash: Mapped[str] = mapped_column(String(66), index=True)
    agreement_hash: Mapped[str] = mapped_column(String(66))
    decision_hash: Mapped[str] = mapped_column(String(66), index=True)
    principal: Mapped[int] = mapped_column(Uint)
    apr_bps: Mapped[int] = mapped_column(Integer)
    installments: Mapped[int] = mapped_column(Integer)
    installment_period: Mapped[int] = mapped_column(BigInteger)
    installment_amount: Mapped[int] = mapped_column(Uint)
    funding_deadline: Mapped[int] = mapped_column(BigInteger)
    origination_fee_bps: Mapped[int] = mapped_column(Integer)
    funded: Mapped[int] = mapped_column(Uint, default=0)
    start_time: Mapped[int | None] = mapped_column(BigInteger)
    origination_fee: Mapped[int] = mapped_column(Uint, default=0)
    principal_outstanding: Mapped[int] = mapped_column(Uint, default=0)
    last_installment: Mapped[int] = mapped_column(Integer, default=0)  # latest one paid towards, settled or not
    installments_settled: Mapped[int] = mapped_column(Integer, default=0)  # LoanBook's installmentsPaid
    billed_unpaid: Mapped[int] = mapped_column(Uint, default=0)  # of installment installments_settled + 1, once billed
    interest_paid: Mapped[int] = mapped_column(Uint, default=0)
    principal_paid: Mapped[int] = mapped_column(Uint, default=0)
    fees_assessed: Mapped[int] = mapped_column(Uint, default=0)
    fees_paid: Mapped[int] = mapped_column(Uint, default=0)
    cover: Mapped[int] = mapped_column(Uint, default=0)  # the reserve's, paid to the investors at default
    recovered: Mapped[int] = mapped_column(Uint, default=0)  # paid by the borrower (or anyone) since the default
    recoverable: Mapped[int] = mapped_column(Uint, default=0)  # still owed since: the whole debt at default, less recovered
    claimed: Mapped[int] = mapped_column(Uint, default=0)
    created_block: Mapped[int] = mapped_column(BigInteger)
    created_tx: Mapped[str | None] = mapped_column(String(66))  # tx_hash: the last event that touched the loan

    @property
    def defaultable_at(self) -> int:
        """LoanBook's `defaultableAt` for an active loan, as indexed: `DEFAULT_AFTER` past its oldest
        unpaid due date (installment `installments_settled + 1`). After it anyone may mark the loan
        defaulted. An index behind the chain can only put it earlier: payments move it forward."""
        return _defaultable_at(self.start_time or 0, self.installments_settled, self.installment_period)

    def trades(self, now: int) -> bool:
        """Whether its notes trade on NoteMarket at block time `now`: active with principal
        outstanding, and not past `defaultable_at`. An active loan can have no principal left while
        it still owes late fees, and NoteMarket prices notes as a share of the principal outstanding,
        so it refuses them (`NoteMarketNothingOutstanding`); nor does it trade the notes of a loan
        anyone may mark defaulted (`NoteMarketLoanDefaultable`), which stays active until then."""
        return self.status == "active" and self.principal_outstanding != 0 and now <= self.defaultable_at

    @classmethod
    def trading(cls, now: int) -> ColumnElement[bool]:
        """`trades(now)`, as a query condition."""
        defaultable_at = _defaultable_at(func.coalesce(cls.start_time, 0), cls.installments_settled, cls.installment_period)
        return and_(cls.status == "active", cls.principal_outstanding != 0, defaultable_at >= now)

    @property
    def owes(self) -> bool:
        """Whether its borrower is still in it: being funded or repaid, or defaulted with money still
        to recover (a defaulted loan paid back in full is settled, like a repaid one)."""
        return self.status in ("funding", "active") or (self.status == "defaulted" and self.recoverable > 0)

    @property
    def cover_recouped(self) -> int:
        """Of the reserve's cover, what recoveries have paid back to it (LoanBook's `CoverRecouped`).
        Recoveries repay the investors' `debt - cover` first and the cover last, and `recoverable +
        recovered` is the debt at default, so the reserve's claim still open is `min(cover,
        recoverable)`."""
        return self.cover - min(self.cover, self.recoverable) if self.status == "defaulted" else 0

    @property
    def recovered_by_investors(self) -> int:
        """What of the recoveries went to the investors (the rest repaid the reserve's cover)."""
        return self.recovered - self.cover_recouped

    @property
    def net_loss(self) -> int:
        """The principal at default the investors did not get back, from the cover or recoveries."""
        if self.status != "defaulted":
            return 0
        return max(0, self.principal_outstanding - self.cover - self.recovered_by_investors)


class FundingRow(EventRef, Base):
    """An investor's money moving in or out of LoanBook: one LoanFunded (kind = fund), LoanRefunded
    (refund) or Claimed (claim: repayments and reserve cover collected) event."""

    __tablename__ = "chain_fundings"

    event_id: Mapped[int] = mapped_column(ForeignKey("chain_events.id", ondelete="CASCADE"), primary_key=True)
    loan_id: Mapped[int] = mapped_column(BigInteger, index=True)
    investor: Mapped[str] = mapped_column(String(42), index=True)
    kind: Mapped[str] = mapped_column(String(10))  # fund | refund | claim
    amount: Mapped[int] = mapped_column(Uint)
    total_funded: Mapped[int | None] = mapped_column(Uint)


class RepaymentRow(EventRef, Base):
    """One LoanPayment, LoanPrepayment or LoanRecovery event."""

    __tablename__ = "chain_repayments"
    __table_args__ = (Index("ix_chain_repayments_loan_position", "loan_id", "block_number", "log_index"),)  # in chain order

    event_id: Mapped[int] = mapped_column(ForeignKey("chain_events.id", ondelete="CASCADE"), primary_key=True)
    loan_id: Mapped[int] = mapped_column(BigInteger, index=True)
    kind: Mapped[str] = mapped_column(String(12))  # payment | prepayment | recovery
    payer: Mapped[str] = mapped_column(String(42))
    installment: Mapped[int | None] = mapped_column(Integer)
    fee_paid: Mapped[int] = mapped_column(Uint, default=0)
    interest_paid: Mapped[int] = mapped_column(Uint, default=0)
    principal_paid: Mapped[int] = mapped_column(Uint, default=0)
    amount: Mapped[int] = mapped_column(Uint)
    principal_outstanding: Mapped[int | None] = mapped_column(Uint)


class NoteBalanceRow(EventRef, Base):
    """ERC-1155 note balance: notes of loan `loan_id` held by `holder` (1 note = 1 base unit)."""

    __tablename__ = "chain_note_balances"
    __table_args__ = (Index("ix_chain_note_balances_holder", "holder", "loan_id"),)  # a wallet's notes

    loan_id: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=False)
    holder: Mapped[str] = mapped_column(String(42), primary_key=True)
    balance: Mapped[int] = mapped_column(Uint)


class NoteTransferRow(EventRef, Base):
    """Notes moved from one wallet to another (an ERC-1155 transfer that is neither the mint of
    `fund` nor the burn of `refund`), for an investor's statement."""

    __tablename__ = "chain_note_transfers"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    event_id: Mapped[int] = mapped_column(ForeignKey("chain_events.id", ondelete="CASCADE"), index=True)
    loan_id: Mapped[int] = mapped_column(BigInteger, index=True)
    sender: Mapped[str] = mapped_column(String(42), index=True)
    recipient: Mapped[str] = mapped_column(String(42), index=True)
    amount: Mapped[int] = mapped_column(Uint)


class EventSubjectRow(EventRef, Base):
    """A loan or an address a LoanBook or NoteMarket event names, so a trace reads a loan's or a
    wallet's events through an index instead of scanning every event (one row per subject)."""

    __tablename__ = "chain_event_subjects"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    event_id: Mapped[int] = mapped_column(ForeignKey("chain_events.id", ondelete="CASCADE"), index=True)
    loan_id: Mapped[int | None] = mapped_column(BigInteger, index=True)
    address: Mapped[str | None] = mapped_column(String(42), index=True)


class MarketOrder(EventRef):
    """What a NoteMarket listing and a bid hold alike."""

    loan_id: Mapped[int] = mapped_column(BigInteger, index=True)
    price_bps: Mapped[int] = mapped_column(Integer)
    notes_left: Mapped[int] = mapped_column(Uint)
    status: Mapped[str] = mapped_column(String(10), index=True)  # open, then closed (see each side)
    expires_at: Mapped[int] = mapped_column(BigInteger, default=0)  # block time it stops trading; 0: never

    @classmethod
    def live_at(cls, now: int) -> ColumnElement[bool]:
        """SQL: the order has not expired by block time `now` (it may still be closed)."""
        return or_(cls.expires_at == 0, cls.expires_at > now)


class MarketListingRow(MarketOrder, Base):
    """A NoteMarket listing: open until sold out (sold) or withdrawn (delisted)."""

    __tablename__ = "chain_market_listings"

    listing_id: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=False)
    seller: Mapped[str] = mapped_column(String(42), index=True)
    notes_listed: Mapped[int] = mapped_column(Uint)


class MarketBidRow(MarketOrder, Base):
    """A NoteMarket bid: open until filled or cancelled."""

    __tablename__ = "chain_market_bids"

    bid_id: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=False)
    bidder: Mapped[str] = mapped_column(String(42), index=True)
    notes_bid: Mapped[int] = mapped_column(Uint)


class MarketTradeRow(EventRef, Base):
    """One NoteMarket trade: a `Sold` (a buyer took a listing), a `BidFilled` (a seller hit a
    bid) or a `Matched` (a crossed listing and bid, both named) event; `cost` is what the buyer paid
    the seller in every case."""

    __tablename__ = "chain_market_trades"

    event_id: Mapped[int] = mapped_column(ForeignKey("chain_events.id", ondelete="CASCADE"), primary_key=True)
    listing_id: Mapped[int | None] = mapped_column(BigInteger, index=True)
    bid_id: Mapped[int | None] = mapped_column(BigInteger, index=True)
    loan_id: Mapped[int] = mapped_column(BigInteger, index=True)
    seller: Mapped[str] = mapped_column(String(42), index=True)
    buyer: Mapped[str] = mapped_column(String(42), index=True)
    notes: Mapped[int] = mapped_column(Uint)
    cost: Mapped[int] = mapped_column(Uint)


class DisbursalRow(EventRef, Base):
    """A loan's disbursal (LoanBook's `LoanDisbursed`): what its borrower's wallet received, net of the
    origination fee. The indexer follows the loan token's transfers out of the wallet named here for
    TOKEN_FOLLOW_DAYS after `start_time` (backend/chain/loan_token.py)."""

    __tablename__ = "chain_disbursals"

    event_id: Mapped[int] = mapped_column(ForeignKey("chain_events.id", ondelete="CASCADE"), primary_key=True)
    loan_id: Mapped[int] = mapped_column(BigInteger, index=True)
    borrower: Mapped[str] = mapped_column(String(42), index=True)
    net_amount: Mapped[int] = mapped_column(Uint)
    start_time: Mapped[int] = mapped_column(BigInteger, index=True)  # each range reads those of the window before it


class TokenTransferRow(EventRef, Base):
    """The loan token moved out of a wallet that received a disbursal, to anything but a platform
    contract (a repayment is LoanBook's own event): where a borrower sent the money onward, for the
    `collection_wallet` monitoring rule (backend/audit/disbursal_rules.py)."""

    __tablename__ = "chain_token_transfers"

    event_id: Mapped[int] = mapped_column(ForeignKey("chain_events.id", ondelete="CASCADE"), primary_key=True)
    sender: Mapped[str] = mapped_column(String(42), index=True)
    recipient: Mapped[str] = mapped_column(String(42), index=True)
    amount: Mapped[int] = mapped_column(Uint)
