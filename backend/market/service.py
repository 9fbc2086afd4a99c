"""The notes' secondary market: what is for sale (from the chain index), and the wallet-ready
transactions to list, buy or delist, checked first so a user gets a clear 4xx rather than a
reverted transaction. NoteMarket and LoanBook check again on chain; these checks read the index
and the contracts and can be outrun by other wallets."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

from backend.chain.kyc_reader import is_verified
from backend.chain.market_calls import NoteMarketWallet
from backend.chain.projection_models import LoanRow, MarketListingRow
from backend.chain.wallet_calls import WalletCall
from backend.config import Settings
from backend.errors import Conflict, Forbidden, NotFound, ValidationFailed
from backend.lending.loans import decision_facts
from backend.lending.schemas import WalletCallPublic
from backend.market.schemas import (
    ListingCreate,
    ListingPublic,
    MarketTxPublic,
    PurchaseCreate,
)
from backend.servicing.models import ServicingState

BPS = 10_000


def _cost(notes: int, price_bps: int) -> int:
    return -(-notes * price_bps // BPS)  # rounded up, as NoteMarket charges


def _public(row: MarketListingRow, loan: LoanRow, grade: str | None, bucket: str | None) -> ListingPublic:
    cost = _cost(row.notes_left, row.price_bps)
    outstanding = loan.principal_outstanding * row.notes_left // loan.principal
    return ListingPublic(
        listing_id=row.listing_id, seller=row.seller, loan_id=row.loan_id, grade=grade, apr_bps=loan.apr_bps,
        status=row.status, price_bps=row.price_bps, notes_listed=row.notes_listed, notes_left=row.notes_left,
        cost=cost, outstanding=outstanding, price_to_outstanding=cost / outstanding if outstanding else None,
        installments_left=loan.installments - loan.last_installment, servicing_bucket=bucket,
    )  # fmt: skip


def open_listings(db: Session, loan_id: int | None = None) -> list[ListingPublic]:
    """Open listings of active loans, cheapest against outstanding principal first."""
    query = (select(MarketListingRow, LoanRow).join(LoanRow, LoanRow.loan_id == MarketListingRow.loan_id)
             .where(MarketListingRow.status == "open", LoanRow.status == "active"))  # fmt: skip
    if loan_id is not None:
        query = query.where(MarketListingRow.loan_id == loan_id)
    pairs = list(db.execute(query))
    grades = {h: f.grade for h, f in decision_facts(db, {loan.decision_hash for _, loan in pairs}).items()}
    buckets = dict(db.execute(select(ServicingState.loan_id, ServicingState.bucket)
                              .where(ServicingState.loan_id.in_({loan.loan_id for _, loan in pairs}))).all())  # fmt: skip
    listings = [_public(row, loan, grades.get(loan.decision_hash), buckets.get(loan.loan_id)) for row, loan in pairs]
    return sorted(listings, key=lambda x: (x.price_to_outstanding is None, x.price_to_outstanding, x.listing_id))


def _tx(action: str, listing_id: int | None, loan_id: int, notes: int, cost: int, calls: list[WalletCall]) -> MarketTxPublic:
    return MarketTxPublic(action=action, listing_id=listing_id, loan_id=loan_id, notes=notes, cost=cost,
                          transactions=[WalletCallPublic(to=c.to, data=c.data, description=c.description) for c in calls])  # fmt: skip


def plan_listing(db: Session, settings: Settings, wallet: str, request: ListingCreate) -> MarketTxPublic:
    loan = db.get(LoanRow, request.loan_id)
    if loan is None:
        raise NotFound(f"no loan {request.loan_id} in the chain index", loan_id=request.loan_id)
    if loan.status != "active":
        raise Conflict(f"loan {loan.loan_id} is {loan.status}: only notes of active loans trade", status=loan.status)
    market = NoteMarketWallet(settings, wallet)
    held = market.notes(loan.loan_id)
    if request.notes > held:
        raise ValidationFailed(f"notes: at most {held}, the notes of loan {loan.loan_id} you hold", field="notes", held=held)
    calls = [] if market.market_may_move_notes() else [market.let_market_move_notes()]
    calls.append(market.call("list", [loan.loan_id, request.notes, request.price_bps],
                             f"offer {request.notes} notes of loan {loan.loan_id} at {request.price_bps / 100:.2f}% of face"))  # fmt: skip
    return _tx("list", None, loan.loan_id, request.notes, 0, calls)


def _open_listing(db: Session, listing_id: int) -> MarketListingRow:
    row = db.get(MarketListingRow, listing_id)
    if row is None:
        raise NotFound(f"no listing {listing_id} in the chain index", listing_id=listing_id)
    if row.status != "open":
        raise Conflict(f"listing {listing_id} is {row.status}", status=row.status)
    return row


def plan_purchase(db: Session, settings: Settings, wallet: str, listing_id: int, request: PurchaseCreate) -> MarketTxPublic:
    row = _open_listing(db, listing_id)
    loan = db.get(LoanRow, row.loan_id)
    if loan is None or loan.status != "active":
        raise Conflict(f"loan {row.loan_id} is no longer active: its notes do not trade", loan_id=row.loan_id)
    market = NoteMarketWallet(settings, wallet)
    if row.seller == market.wallet:
        raise Conflict(f"listing {listing_id} is your own: delist it instead", listing_id=listing_id)
    if loan.borrower == market.wallet:
        raise Forbidden(f"loan {loan.loan_id} is your own: a borrower cannot hold its notes", loan_id=loan.loan_id)
    level = market.investor_level()
    if not is_verified(settings, market.wallet, level):
        raise Forbidden(f"notes go only to wallets verified at KYC level {level}: pass KYC first", level=level)
    notes = request.notes or row.notes_left
    if notes > row.notes_left:
        raise ValidationFailed(f"notes: at most {row.notes_left}, what listing {listing_id} still offers",
                               field="notes", notes_left=row.notes_left)  # fmt: skip
    cost = market.cost(listing_id, notes)
    balance = market.balance()
    if balance < cost:
        raise Conflict(f"the wallet holds {balance} of the loan token, less than the {cost} this costs", balance=balance)
    calls = [] if market.allowance() >= cost else [market.approve(cost)]
    calls.append(market.call("buy", [listing_id, notes], f"buy {notes} notes of loan {loan.loan_id} for {cost}"))
    return _tx("buy", listing_id, loan.loan_id, notes, cost, calls)


def plan_delisting(db: Session, settings: Settings, wallet: str, listing_id: int) -> MarketTxPublic:
    row = _open_listing(db, listing_id)
    market = NoteMarketWallet(settings, wallet)
    if row.seller != market.wallet:
        raise Forbidden(f"listing {listing_id} is not yours to withdraw", listing_id=listing_id)
    call = market.call("delist", [listing_id], f"withdraw listing {listing_id}")
    return _tx("delist", listing_id, row.loan_id, row.notes_left, 0, [call])
