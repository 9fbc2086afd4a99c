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


class MarketTxPublic(BaseModel):
    """Send these, in order, from the signed-in wallet; nothing is signed here."""

    action: str = Field(description="list, buy or delist")
    listing_id: int | None = Field(description="None for a new listing: the contract numbers it")
    loan_id: int
    notes: int
    cost: int = Field(description="What a purchase pays the seller; 0 otherwise")
    transactions: list[WalletCallPublic]
