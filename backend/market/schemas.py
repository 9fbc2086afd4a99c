"""API schemas for the notes' secondary market. Notes and amounts are base units of the loan token
(1 note = 1 base unit of principal funded); prices are basis points of a note's face value."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field

from backend.lending.schemas import WalletCallPublic

MAX_PRICE_BPS = 20_000  # NoteMarket.MAX_PRICE_BPS


class ListingCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    loan_id: int = Field(ge=1)
    notes: int = Field(gt=0, description="Notes to offer (at most those held)")
    price_bps: int = Field(ge=1, le=MAX_PRICE_BPS, description="Price per note, in basis points of face value")


class PurchaseCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    notes: int | None = Field(default=None, gt=0, description="Notes to buy; all that is listed when omitted")


class BidCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    loan_id: int = Field(ge=1)
    notes: int = Field(gt=0, description="Notes wanted")
    price_bps: int = Field(ge=1, le=MAX_PRICE_BPS, description="Price offered per note, in basis points of face value")


class SaleCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    notes: int | None = Field(default=None, gt=0, description="Notes to sell; all the bid still wants, at most "
                              "those held, when omitted")  # fmt: skip


class ListingPublic(BaseModel):
    listing_id: int
    seller: str
    loan_id: int
    grade: str | None
    apr_bps: int
    status: str = Field(description="open, sold or delisted")
    price_bps: int
    notes_listed: int
    notes_left: int
    cost: int = Field(description="What the notes left cost now (rounded up, as the contract charges)")
    outstanding: int = Field(description="The outstanding principal those notes stand for")
    price_to_outstanding: float | None = Field(description="cost / outstanding: under 1 is a discount")
    installments_left: int
    servicing_bucket: str | None = Field(description="The loan's aging bucket at the last servicing pass")


class BidPublic(BaseModel):
    bid_id: int
    bidder: str
    loan_id: int
    grade: str | None
    apr_bps: int
    status: str = Field(description="open, filled or cancelled")
    price_bps: int
    notes_bid: int
    notes_left: int
    proceeds: int = Field(description="What selling the notes still wanted pays (rounded down, as the contract pays)")
    outstanding: int = Field(description="The outstanding principal those notes stand for")
    price_to_outstanding: float | None = Field(description="proceeds / outstanding: under 1 is a discount")
    installments_left: int
    servicing_bucket: str | None = Field(description="The loan's aging bucket at the last servicing pass")


class MarketTxPublic(BaseModel):
    """Send these, in order, from the signed-in wallet; nothing is signed here."""

    action: str = Field(description="list, buy, delist, bid, sell or cancel_bid")
    listing_id: int | None = Field(default=None, description="The listing bought or withdrawn; None for a new one")
    bid_id: int | None = Field(default=None, description="The bid sold into or cancelled; None for a new one")
    loan_id: int
    notes: int
    cost: int = Field(description="What the trade moves from buyer to seller; 0 for placing or withdrawing an offer")
    transactions: list[WalletCallPublic]
