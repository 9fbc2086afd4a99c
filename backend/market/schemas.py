"""API schemas for the notes' secondary market. Notes and amounts are base units of the loan token
(1 note = 1 base unit of principal funded); prices are basis points of the principal a note still
stands for (`principal_outstanding / principal` of a unit), as NoteMarket prices them."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field

from backend.bounds import AMOUNT_LIMIT, DB_ID_MAX
from backend.lending.schemas import WalletCallPublic
from backend.units import BaseUnits, MaybeUnixSeconds

MAX_PRICE_BPS = 20_000  # NoteMarket.MAX_PRICE_BPS


class OrderCreate(BaseModel):
    """An offer to sell (a listing) or to buy (a bid) notes of one loan at a fixed price."""

    model_config = ConfigDict(extra="forbid")

    loan_id: int = Field(strict=True, ge=1, le=DB_ID_MAX)
    notes: int = Field(strict=True, gt=0, lt=AMOUNT_LIMIT, description="Notes offered (a listing: at most those held) "
                       "or wanted (a bid)")  # fmt: skip
    price_bps: int = Field(strict=True, ge=1, le=MAX_PRICE_BPS, description="Price per note, in basis points of "
                           "the principal it still stands for")  # fmt: skip
    good_for_days: int | None = Field(default=None, strict=True, ge=1, le=365, description="Days the offer stands (it expires "
                                      "on chain then); until withdrawn when omitted")  # fmt: skip


class ListingCreate(OrderCreate):
    pass


class BidCreate(OrderCreate):
    pass


class RepriceCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    price_bps: int = Field(strict=True, ge=1, le=MAX_PRICE_BPS, description="The new price per note, in basis "
                           "points of the principal it still stands for")  # fmt: skip


class TakeCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    notes: int | None = Field(default=None, strict=True, gt=0, lt=AMOUNT_LIMIT, description="Notes to take; when omitted, all a listing offers "
                              "(a purchase) or all a bid wants up to the notes held (a sale)")  # fmt: skip
    quoted_price_bps: int | None = Field(
        default=None, strict=True, ge=1, le=MAX_PRICE_BPS,
        description="The order's price per note (basis points of the principal outstanding) as shown when the "
        "user chose it. The "
        "transaction's limit is what the notes cost at that price (a purchase: the most it pays) or fetch (a sale: "
        "the least it accepts), so a maker repricing before it lands makes it revert (NoteMarketPriceMoved); an "
        "order already repriced past it is refused (409). When omitted, the order's price now, quoted in `cost`",
    )


class PurchaseCreate(TakeCreate):
    pass


class SaleCreate(TakeCreate):
    pass


class ExitCreate(BaseModel):
    """Leave a loan now: sell notes into other wallets' best bids, as many as they take."""

    model_config = ConfigDict(extra="forbid")

    loan_id: int = Field(strict=True, ge=1, le=DB_ID_MAX)
    notes: int | None = Field(default=None, strict=True, gt=0, lt=AMOUNT_LIMIT, description="At most this many; when "
                              "omitted, all the notes held")  # fmt: skip


PD = ("The PD of the loan's grade, which priced it: its grade's mean probability of default over the term in the model "
      "that decided it, the same for every loan of the grade (not the borrower's own, which would give the score "
      "back); None when no credit decision of this platform is behind the loan")
PD_NOW = ("The chance the loan defaults from where it stands: the part of its PD left in its remaining installments, "
          "and when late its aging bucket's roll rate first (GET /api/v1/disclosure roll_rates)")
FAIR_PRICE = ("The price (basis points of the principal outstanding) at which the buyer's expected yield is the loan's own rate: the "
              "expected flows discounted at it; a reference, not an offer. None when the loan's PD is not known")
EXPECTED_YIELD = (
    "Annual yield (XIRR) with defaults expected: each installment weighted by the chance the loan is still paying "
    "then (its PD spread evenly over its installments; a late loan's installment behind at its bucket's roll rate), "
    "a default's recovery after collections and the reserve's "
    "expected cover by the chance it happens there; before tax, None when the loan's PD is not known "
    "(backend/market/yields.py)"
)


class OrderPublic(BaseModel):
    """What a listing and a bid show alike: the loan, and the price against its principal outstanding."""

    loan_id: int
    grade: str | None
    apr_bps: int
    status: str = Field(description="open; then sold or delisted (a listing), filled or cancelled (a bid)")
    price_bps: int
    notes_left: int
    outstanding: BaseUnits = Field(description="The outstanding principal the notes left stand for")
    price_to_outstanding: float | None = Field(description="cost or proceeds / outstanding: under 1 is a discount "
                                               "(price_bps / 10,000 but for rounding)")  # fmt: skip
    installments_left: int
    servicing_bucket: str | None = Field(description="The loan's aging bucket at the last servicing pass")
    expires_at: MaybeUnixSeconds = Field(description="Block time it stops trading; None: until withdrawn")
    yield_to_maturity: float | None = Field(
        description="Annual yield (XIRR) of paying this price for the notes left if the borrower brings the loan up "
        "to date now and then pays every installment on time; before defaults and tax (backend/market/yields.py)"
    )
    pd: float | None = Field(description=PD)
    pd_now: float | None = Field(default=None, description=PD_NOW)
    expected_yield: float | None = Field(description=EXPECTED_YIELD)
    fair_price_bps: int | None = Field(default=None, description=FAIR_PRICE)


class ListingPublic(OrderPublic):
    listing_id: int
    seller: str
    notes_listed: int
    cost: BaseUnits = Field(description="What the notes left cost now (rounded up, as the contract charges)")


class BidPublic(OrderPublic):
    bid_id: int
    bidder: str
    notes_bid: int
    proceeds: BaseUnits = Field(description="What selling the notes still wanted pays (rounded down, as the contract "
                                "pays)")  # fmt: skip


class MarketTxPublic(BaseModel):
    """Send these, in order, from the signed-in wallet; nothing is signed here."""

    action: str = Field(description="list, buy, delist, bid, sell, cancel_bid, reprice or sell_now")
    listing_id: int | None = Field(default=None, description="The listing bought or withdrawn; None for a new one")
    bid_id: int | None = Field(default=None, description="The bid sold into or cancelled; None for a new one")
    bid_ids: list[int] = Field(default_factory=list, description="sell_now: the bids sold into, best first")
    loan_id: int
    notes: int
    cost: BaseUnits = Field(description="What the trade moves from buyer to seller; 0 for placing or withdrawing an "
                            "offer")  # fmt: skip
    transactions: list[WalletCallPublic]
    warnings: list[str] = Field(default_factory=list, description="What the user should know before sending, "
                                "such as a purchase leaving the wallet's open bids short of money")  # fmt: skip


class MarketQuotePublic(BaseModel):
    """What notes of a loan would fetch at a price, before anyone offers it: for a seller choosing
    a listing's price or a bidder a bid's."""

    loan_id: int
    notes: int
    price_bps: int
    cost: BaseUnits = Field(description="What a buyer taking a listing at this price pays (rounded up)")
    proceeds: BaseUnits = Field(description="What a seller hitting a bid at this price receives (rounded down)")
    outstanding: BaseUnits = Field(description="The outstanding principal the notes stand for")
    price_to_outstanding: float | None
    installments_left: int
    servicing_bucket: str | None
    yield_to_maturity: float | None = Field(description="The buyer's annual yield at this price, as on the orders")
    pd: float | None = Field(description=PD)
    pd_now: float | None = Field(default=None, description=PD_NOW)
    expected_yield: float | None = Field(description=EXPECTED_YIELD)
    fair_price_bps: int | None = Field(default=None, description=FAIR_PRICE)


class TradePublic(BaseModel):
    """One trade of notes on NoteMarket, as the chain recorded it (the wallets are on chain; the tape
    leaves them out)."""

    loan_id: int
    how: str = Field(description="listing taken (a buyer bought), bid hit (a holder sold), or matched (the keeper "
                     "filled a crossed listing against a bid)")  # fmt: skip
    listing_id: int | None
    bid_id: int | None
    notes: int
    cost: BaseUnits = Field(description="What the buyer paid the seller")
    price_bps: float = Field(description="cost / the principal outstanding the notes stood for then, in basis points")
    timestamp: MaybeUnixSeconds = Field(description="Block time")
    block_number: int
    tx_hash: str
