"""The notes' secondary market: what is for sale and what is wanted (from the chain index), and the
wallet-ready transactions to list, buy or delist notes and to bid, sell into a bid or cancel it,
checked first so a user gets a clear 4xx rather than a
reverted transaction. NoteMarket and LoanBook check again on chain; these checks read the index
and the contracts and can be outrun by other wallets."""

from __future__ import annotations

import time
from collections import Counter
from datetime import UTC, datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from backend.chain.kyc_reader import is_verified
from backend.chain.loan_book import chain_time, deadline_clock, loan_book_domain
from backend.chain.market_calls import NoteMarketWallet
from backend.chain.projection_models import (
    LoanRow,
    MarketBidRow,
    MarketListingRow,
    MarketOrder,
)
from backend.chain.wallet_calls import WalletCall
from backend.config import Settings
from backend.disclosure.live import live_book_risk
from backend.disclosure.reserve import BookRisk
from backend.errors import Conflict, Forbidden, NotFound, ValidationFailed
from backend.identity.persons import same_borrower_person
from backend.lending.loans import DecisionFacts, decision_facts
from backend.lending.portfolio import bid_commitment
from backend.lending.schemas import WalletCallPublic
from backend.market import pricing
from backend.market.makers import Makers
from backend.market.schemas import (
    BidCreate,
    BidPublic,
    ExitCreate,
    ListingCreate,
    ListingPublic,
    MarketQuotePublic,
    MarketTxPublic,
    PurchaseCreate,
    RepriceCreate,
    SaleCreate,
)
from backend.market.yields import expected_yield, fair_value, yield_to_maturity
from backend.servicing.notices import money
from backend.servicing.roll_rates import late_rate, pd_now

DAY = 86_400
# Each side's name, id column, maker column and how its maker withdraws it.
SIDES = {MarketListingRow: ("listing", "listing_id", "seller", "delist"), MarketBidRow: ("bid", "bid_id", "bidder", "cancel")}


def _value(loan: LoanRow, fact: DecisionFacts | None, risk: BookRisk, notes: int, value: int, now: int) -> dict:
    """Notes of a loan at a price, as orders and quotes show them: the principal outstanding they
    stand for, the price against it, the buyer's yield at that price, to maturity and expected
    (defaults at the loan's PD from where it stands, losing `risk.loss_on` of a default's principal
    outstanding), and the price at which the expected yield is the loan's own rate, like every
    price in bps of the principal the notes stand for. Where the loan stands is the last servicing
    pass's (`risk.aging`). The PD is its grade's, which priced it (`decision_facts`), never the
    decision's own: the market is public, and that one gives the borrower's score back."""
    outstanding = pricing.outstanding(notes, loan)
    standing = risk.aging.get(loan.loan_id)
    paid = standing.installments_paid if standing else loan.installments_settled
    pd = fact.pd if fact else None
    late = late_rate(standing, risk.rates)
    loss = risk.loss_on(loan.principal_outstanding)
    fair = fair_value(loan, paid, now, notes, pd, loss, late)
    return {
        "outstanding": outstanding, "price_to_outstanding": value / outstanding if outstanding else None,
        "installments_left": loan.installments - paid,
        "servicing_bucket": standing.bucket if standing else None,
        "yield_to_maturity": yield_to_maturity(loan, paid, now, notes, value),
        "pd": pd,
        "pd_now": pd_now(pd, loan, standing, risk.rates) if pd is not None else None,
        "expected_yield": expected_yield(loan, paid, now, notes, value, pd, loss, late),
        "fair_price_bps": None if fair is None or not outstanding else int(pricing.price_bps_of(fair, notes, loan.principal, loan.principal_outstanding)),
    }  # fmt: skip


def _terms(row: MarketOrder, loan: LoanRow, value: int, fact: DecisionFacts | None, risk: BookRisk, now: int) -> dict:
    """What a listing and a bid show alike: the loan, and the notes left valued at the order's price."""
    return {
        "loan_id": row.loan_id, "grade": fact.grade if fact else None, "apr_bps": loan.apr_bps, "status": row.status,
        "price_bps": row.price_bps, "notes_left": row.notes_left, "expires_at": row.expires_at or None,
        **_value(loan, fact, risk, row.notes_left, value, now),
    }  # fmt: skip


def _open_orders(db: Session, settings: Settings, model: type, loan_id: int | None,
                 limit: int | None = None, offset: int = 0) -> tuple[list[tuple], int]:  # fmt: skip
    """Open, unexpired orders of one side, of loans whose notes trade (`LoanRow.trades`), each with
    its loan and decision facts, the first `limit` by price (`_ranked`); and the latest block's
    time, which their yields are worked out at (a chain fact, so two reads between blocks agree)."""
    query = (select(model, LoanRow).join(LoanRow, LoanRow.loan_id == model.loan_id)
             .where(model.status == "open", LoanRow.status == "active"))  # fmt: skip
    if loan_id is not None:
        query = query.where(model.loan_id == loan_id)
    if db.scalar(query.with_only_columns(model.loan_id).limit(1)) is None:
        return [], 0  # nothing open: no need to ask the chain for its clock
    block_time = chain_time(settings)
    # Live and trading at the next block, which carries at least the wall clock (as `deadline_clock`).
    next_block = max(int(time.time()), block_time)
    query = query.where(model.live_at(next_block), LoanRow.trading(next_block)).order_by(*_ranked(model))
    pairs = list(db.execute(query.limit(limit).offset(offset)))  # ranked and cut in SQL: a page reads its orders only
    facts = decision_facts(db, {loan.decision_hash for _, loan in pairs})
    return [(row, loan, facts.get(loan.decision_hash)) for row, loan in pairs], block_time


def _ranked(model: type) -> tuple:
    """Orders by price, which is against the principal outstanding the notes stand for whatever the
    loan (the cheapest listing, or the best paying bid, first; then the earliest), so a page of
    them is ranked before anything costlier, such as a yield, is worked out."""
    _, key, _, _ = SIDES[model]
    return (model.price_bps.asc() if model is MarketListingRow else model.price_bps.desc()), getattr(model, key).asc()


def open_listings(db: Session, settings: Settings, loan_id: int | None = None, limit: int | None = None,
                  offset: int = 0) -> list[ListingPublic]:  # fmt: skip
    """Open listings of active loans, cheapest against outstanding principal first."""
    orders, now = _open_orders(db, settings, MarketListingRow, loan_id, limit, offset)
    risk = live_book_risk(db) if orders else None
    listings = []
    for row, loan, fact in orders:
        cost = pricing.cost(row.notes_left, row.price_bps, loan)
        listings.append(ListingPublic(listing_id=row.listing_id, seller=row.seller, notes_listed=row.notes_listed,
                                      cost=cost, **_terms(row, loan, cost, fact, risk, now)))  # fmt: skip
    return listings


def open_bids(db: Session, settings: Settings, loan_id: int | None = None, limit: int | None = None,
              offset: int = 0) -> list[BidPublic]:  # fmt: skip
    """Open bids for notes of active loans, the best paying against outstanding principal first."""
    orders, now = _open_orders(db, settings, MarketBidRow, loan_id, limit, offset)
    risk = live_book_risk(db) if orders else None
    bids = []
    for row, loan, fact in orders:
        proceeds = pricing.proceeds(row.notes_left, row.price_bps, loan)
        bids.append(BidPublic(bid_id=row.bid_id, bidder=row.bidder, notes_bid=row.notes_bid, proceeds=proceeds,
                              **_terms(row, loan, proceeds, fact, risk, now)))  # fmt: skip
    return bids


def quote(db: Session, settings: Settings, loan_id: int, notes: int, price_bps: int) -> MarketQuotePublic:
    """The price of `notes` notes of an active loan at `price_bps` (of the principal they stand for,
    as the index last read it), and the buyer's yield there."""
    now = chain_time(settings)
    loan = _active_loan(db, loan_id, max(int(time.time()), now))
    if notes > loan.principal:
        decimals = loan_book_domain(settings).asset_decimals
        raise ValidationFailed(f"notes: at most {money(loan.principal, decimals)}, all the notes of loan {loan_id}",
                               field="notes", principal=loan.principal)  # fmt: skip
    cost = pricing.cost(notes, price_bps, loan)
    fact = decision_facts(db, {loan.decision_hash}).get(loan.decision_hash)
    return MarketQuotePublic(loan_id=loan_id, notes=notes, price_bps=price_bps, cost=cost,
                       proceeds=pricing.proceeds(notes, price_bps, loan),
                       **_value(loan, fact, live_book_risk(db), notes, cost, now))  # fmt: skip


def _tx(action: str, loan_id: int, notes: int, cost: int, calls: list[WalletCall], **order) -> MarketTxPublic:
    return MarketTxPublic(action=action, loan_id=loan_id, notes=notes, cost=cost, **order,
                          transactions=WalletCallPublic.of(calls))


def _fees_only(loan: LoanRow) -> str:
    return " but owes late fees only" if loan.status == "active" else ""


def _active_with_principal(loan: LoanRow) -> bool:
    return loan.status == "active" and loan.principal_outstanding != 0


def _not_trading(loan: LoanRow) -> Conflict:
    """Why the notes of `loan`, which does not trade (`LoanRow.trades`), are refused."""
    if _active_with_principal(loan):  # so past defaultableAt: NoteMarket's NoteMarketLoanDefaultable
        return Conflict(f"loan {loan.loan_id} is past {_utc(loan.defaultable_at)}, after which it can be declared in "
                        "default: its notes do not trade unless it is brought up to date",
                        status=loan.status, defaultable_at=loan.defaultable_at)  # fmt: skip
    return Conflict(f"loan {loan.loan_id} is {loan.status}{_fees_only(loan)}: only notes of active loans with "
                    "principal outstanding trade", status=loan.status)  # fmt: skip


def _active_loan(db: Session, loan_id: int, now: int) -> LoanRow:
    """The loan, whose notes must trade at block time `now`."""
    loan = db.get(LoanRow, loan_id)
    if loan is None:
        raise NotFound(f"no loan {loan_id} in the chain index", loan_id=loan_id)
    if not loan.trades(now):
        raise _not_trading(loan)
    return loan


def _more_than_held(market: NoteMarketWallet, loan_id: int, held: int) -> ValidationFailed:
    return ValidationFailed(f"notes: at most {money(held, market.decimals())}, the notes of loan {loan_id} you hold",
                            field="notes", held=held)  # fmt: skip


def _may_receive_notes(db: Session, settings: Settings, market: NoteMarketWallet, loan: LoanRow) -> None:
    """LoanBook's rules for whoever receives notes, checked before the wallet pays gas, and the
    platform's own: the borrower's person may not hold them from another wallet either."""
    if loan.borrower == market.wallet:
        raise Forbidden(f"loan {loan.loan_id} is your own: a borrower cannot hold its notes", loan_id=loan.loan_id)
    if same_borrower_person(db, market.wallet, loan.borrower):
        raise Forbidden(f"loan {loan.loan_id} is your own person's (its borrower's wallet shares your national ID): a "
                        "borrower cannot hold its notes from another wallet", loan_id=loan.loan_id, rule="same_person")  # fmt: skip
    level = market.investor_level()
    if not is_verified(settings, market.wallet, level):
        raise Forbidden(f"notes go only to wallets verified at KYC level {level}: pass KYC first", level=level)


# Orders that cannot fill are passed over when looking for one to steer a new order to; a wallet
# could leave many such orders in the book, so only this many (the best priced) are read from the
# chain. Past them the new order is accepted: the keeper matches it with any live one further down.
CROSSING_CHECKED = 10


def _refuse_crossing(db: Session, settings: Settings, wallet: str, bidding: bool, loan: LoanRow, notes: int, price_bps: int,
                     now: int) -> None:  # fmt: skip
    """An offer of `notes` that another wallet's open order already beats is refused, naming that
    order: taking the order gets the user that order's price, where resting beside it would leave the
    two to the keeper (`backend/market/keeper.py`), which matches them at the midpoint. Only an order
    that taking would fill counts (`Makers`, the keeper's checks): steering the user to one that
    cannot fill would leave it nowhere to trade (a bid of 1 note at the top price, then its allowance
    revoked, would otherwise bar every listing of the loan)."""
    model = MarketListingRow if bidding else MarketBidRow  # the side the new order would meet
    kind, key, maker, _ = SIDES[model]
    price = model.price_bps
    # a bid at or above what a listing asks; a listing at or below what a bid pays
    beats, best, verb = (price <= price_bps, price.asc(), "buy") if bidding else (price >= price_bps, price.desc(), "sell into")
    query = select(model).where(model.loan_id == loan.loan_id, model.status == "open", model.live_at(now),
                                getattr(model, maker) != wallet, beats)  # fmt: skip
    makers = Makers(settings, db)
    for other in db.scalars(query.order_by(best, getattr(model, key)).limit(CROSSING_CHECKED)):
        take = min(other.notes_left, notes)
        fills = (makers.delivers(other.seller, loan.loan_id, take) if bidding
                 else makers.pays(other.bidder, loan, pricing.proceeds(take, other.price_bps, loan)))  # fmt: skip
        if fills:
            order_id = getattr(other, key)
            raise Conflict(f"{kind} {order_id} already trades notes of loan {loan.loan_id} at {other.price_bps / 100:.2f}% "
                           f"of the principal outstanding: {verb} it instead", **{key: order_id})  # fmt: skip


def _expiry(request: ListingCreate | BidCreate, now: int) -> int:
    """The block time an offer good for `good_for_days` stops trading (0: until withdrawn)."""
    return now + request.good_for_days * DAY if request.good_for_days else 0


def _utc(timestamp: int) -> str:
    return f"{datetime.fromtimestamp(timestamp, UTC):%Y-%m-%d %H:%M} UTC"


def _pct(price_bps: int) -> str:
    """A price as the wallet's transaction descriptions tell it."""
    return f"{price_bps / 100:.2f}% of the principal outstanding"


def _until(expires_at: int) -> str:
    return f" until {_utc(expires_at)}" if expires_at else ""


def _notes(market: NoteMarketWallet, notes: int) -> str:
    """Notes counted by the principal they stand for, in tokens, as the page counts them: "500.00 of notes"."""
    return f"{money(notes, market.decimals())} of notes"


def _limit(market: NoteMarketWallet, bound: str, quoted: int, now: int) -> str:
    """A taker's limit, told in the transaction's description when the order now beats the quote."""
    return "" if quoted == now else f" ({bound} {market.tokens(quoted)}, as quoted)"


def _require_live(row: MarketOrder, name: str, now: int) -> None:
    """A taker gets a 409 instead of a transaction NoteMarket would revert (NoteMarketOrderExpired):
    `now` is the time the next block carries at least (`deadline_clock`)."""
    if row.expires_at and now >= row.expires_at:
        raise Conflict(f"{name} expired at {_utc(row.expires_at)}", expires_at=row.expires_at)


def plan_listing(db: Session, settings: Settings, wallet: str, request: ListingCreate) -> MarketTxPublic:
    now = deadline_clock(settings)
    loan = _active_loan(db, request.loan_id, now)
    market = NoteMarketWallet(settings, wallet)
    _refuse_crossing(db, settings, market.wallet, False, loan, request.notes, request.price_bps, now)
    held = market.notes(loan.loan_id)
    if request.notes > held:
        raise _more_than_held(market, loan.loan_id, held)
    calls = [] if market.market_may_move_notes() else [market.let_market_move_notes()]
    expires_at = _expiry(request, now)
    calls.append(market.call("list", [loan.loan_id, request.notes, request.price_bps, expires_at],
                             f"offer {_notes(market, request.notes)} of loan {loan.loan_id} at {_pct(request.price_bps)}"
                             + _until(expires_at)))  # fmt: skip
    return _tx("list", loan.loan_id, request.notes, 0, calls)


def _open_order(db: Session, model: type, order_id: int) -> MarketOrder:
    kind, key, _, _ = SIDES[model]
    row = db.get(model, order_id)
    if row is None:
        raise NotFound(f"no {kind} {order_id} in the chain index", **{key: order_id})
    if row.status != "open":
        raise Conflict(f"{kind} {order_id} is {row.status}", status=row.status)
    return row


def _taking(db: Session, settings: Settings, wallet: str, model: type, order_id: int) -> tuple[MarketOrder, LoanRow, NoteMarketWallet]:
    """What taking a listing or a bid needs first: an open, unexpired order of someone else's, on a
    loan still active."""
    kind, key, maker, withdraw = SIDES[model]
    row = _open_order(db, model, order_id)
    loan = db.get(LoanRow, row.loan_id)
    now = deadline_clock(settings)
    if loan is None or not _active_with_principal(loan):
        raise Conflict(f"loan {row.loan_id} is no longer active with principal outstanding: its notes do not trade",
                       loan_id=row.loan_id)  # fmt: skip
    if not loan.trades(now):
        raise _not_trading(loan)  # past defaultableAt
    market = NoteMarketWallet(settings, wallet)
    if getattr(row, maker) == market.wallet:
        raise Conflict(f"{kind} {order_id} is your own: {withdraw} it instead", **{key: order_id})
    _require_live(row, f"{kind} {order_id}", now)
    return row, loan, market


def plan_purchase(db: Session, settings: Settings, wallet: str, listing_id: int, request: PurchaseCreate) -> MarketTxPublic:
    row, loan, market = _taking(db, settings, wallet, MarketListingRow, listing_id)
    _may_receive_notes(db, settings, market, loan)
    notes = request.notes or row.notes_left
    if notes > row.notes_left:
        raise ValidationFailed(f"notes: at most {money(row.notes_left, market.decimals())}, what listing {listing_id} offers",
                               field="notes", notes_left=row.notes_left)  # fmt: skip
    cost = market.cost(listing_id, notes)
    # At the chain's principal outstanding, as `cost`: the index may not have read the latest repayment.
    quoted = cost if request.quoted_price_bps is None else pricing.cost(notes, request.quoted_price_bps,
                                                                        market.standing(loan.loan_id))  # fmt: skip
    if cost > quoted:
        d = market.decimals()
        raise Conflict(f"listing {listing_id} was repriced: {money(notes, d)} of notes now cost {money(cost, d)} tokens, "
                       f"more than the {money(quoted, d)} you were quoted", listing_id=listing_id, cost=cost, quoted=quoted)  # fmt: skip
    _require_deliverable(Makers(settings, db), row, notes)
    balance = market.balance()
    if balance < cost:
        raise Conflict(f"the wallet holds {market.tokens(balance)}, less than the "
                       f"{money(cost, market.decimals())} this costs", balance=balance, cost=cost)  # fmt: skip
    # ERC-20 `approve` sets the allowance, and the buy spends from it: both must leave what the
    # wallet's open bids would pay, or they stay in the book unable to fill. The quote is the buy's
    # limit (a seller repricing above it makes the buy revert), so the allowance need not cover more.
    bids, open_value = bid_commitment(db, market.wallet, deadline_clock(settings))
    needed = quoted + open_value
    covering = f"this purchase and the {market.tokens(open_value)} your open bids would pay" if open_value else ""
    calls = [] if market.allowance() >= needed else [market.approve(needed, covering)]
    warnings = []
    if open_value and balance < cost + open_value:
        them = "them" if bids != 1 else "it"
        warnings.append(f"after this purchase the wallet holds {market.tokens(balance - cost)}, less than the "
                        f"{market.tokens(open_value)} your {bids} open bid{'s' if bids != 1 else ''} would pay: a sale into "
                        f"{them} would fail; add money or cancel {them}")  # fmt: skip
    calls.append(market.call("buy", [listing_id, notes, quoted],
                             f"buy {_notes(market, notes)} of loan {loan.loan_id} for {market.tokens(cost)}"
                             + _limit(market, "at most", quoted, cost)))  # fmt: skip
    return _tx("buy", loan.loan_id, notes, cost, calls, listing_id=listing_id, warnings=warnings)


def _require_deliverable(makers: Makers, row: MarketListingRow, notes: int) -> None:
    """A listing holds no notes: a buyer gets a 409, not a `buy` that reverts, when its seller has
    since moved them or stopped letting NoteMarket move them."""
    held = makers.held(row.seller, row.loan_id)
    if held < notes:
        d = makers.wallet(row.seller).decimals()
        raise Conflict(f"listing {row.listing_id}'s seller now holds {money(held, d)} of notes of loan {row.loan_id}, "
                       f"less than the {money(notes, d)} you would buy: the purchase would fail",
                       listing_id=row.listing_id, held=held)  # fmt: skip
    if not makers.lets_market_move(row.seller):
        raise Conflict(f"listing {row.listing_id}'s seller no longer lets NoteMarket move its notes: the purchase "
                       "would fail", listing_id=row.listing_id)  # fmt: skip


def _own_order(db: Session, settings: Settings, wallet: str, model: type, order_id: int, verb: str) -> tuple[MarketOrder, NoteMarketWallet]:
    """An open order the wallet placed itself, for withdrawing or repricing it."""
    kind, key, maker, _ = SIDES[model]
    row = _open_order(db, model, order_id)
    market = NoteMarketWallet(settings, wallet)
    if getattr(row, maker) != market.wallet:
        raise Forbidden(f"{kind} {order_id} is not yours to {verb}", **{key: order_id})
    return row, market


def _pay_for_bids(market: NoteMarketWallet, needed: int, what: str) -> list[WalletCall]:
    """Bids are escrowless: the wallet must hold `needed`, what its open bids would pay, and let
    NoteMarket take it; returns the `approve` that raises the allowance, when one is needed."""
    balance = market.balance()
    if balance < needed:
        raise Conflict(f"the wallet holds {market.tokens(balance)}, less than the {market.tokens(needed)} {what}",
                       balance=balance, needed=needed)  # fmt: skip
    return [] if market.allowance() >= needed else [market.approve(needed)]


def plan_delisting(db: Session, settings: Settings, wallet: str, listing_id: int) -> MarketTxPublic:
    row, market = _own_order(db, settings, wallet, MarketListingRow, listing_id, "withdraw")
    call = market.call("delist", [listing_id], f"withdraw listing {listing_id}")
    return _tx("delist", row.loan_id, row.notes_left, 0, [call], listing_id=listing_id)


def plan_bid(db: Session, settings: Settings, wallet: str, request: BidCreate) -> MarketTxPublic:
    """A bid is escrowless: the money stays in the wallet, which lets NoteMarket take what all its
    open bids would pay together, so hitting one never leaves another unpayable."""
    now = deadline_clock(settings)
    loan = _active_loan(db, request.loan_id, now)
    market = NoteMarketWallet(settings, wallet)
    _may_receive_notes(db, settings, market, loan)
    _refuse_crossing(db, settings, market.wallet, True, loan, request.notes, request.price_bps, now)
    # At the index's principal outstanding, never below the chain's (it only falls): the allowance covers the bid.
    value = pricing.proceeds(request.notes, request.price_bps, loan)
    _, open_value = bid_commitment(db, market.wallet, now)
    calls = _pay_for_bids(market, value + open_value, "this bid and your open bids would pay")
    expires_at = _expiry(request, now)
    calls.append(market.call("bid", [loan.loan_id, request.notes, request.price_bps, expires_at],
                             f"bid for {_notes(market, request.notes)} of loan {loan.loan_id} at {_pct(request.price_bps)}"
                             + _until(expires_at)))  # fmt: skip
    return _tx("bid", loan.loan_id, request.notes, 0, calls)


def plan_sale(db: Session, settings: Settings, wallet: str, bid_id: int, request: SaleCreate) -> MarketTxPublic:
    row, loan, market = _taking(db, settings, wallet, MarketBidRow, bid_id)
    held = market.notes(loan.loan_id)
    notes = request.notes or min(row.notes_left, held)
    if notes > row.notes_left:
        raise ValidationFailed(f"notes: at most {money(row.notes_left, market.decimals())}, what bid {bid_id} still wants",
                               field="notes", notes_left=row.notes_left)  # fmt: skip
    if notes == 0 or notes > held:
        raise _more_than_held(market, loan.loan_id, held)
    proceeds = market.proceeds(bid_id, notes)
    # At the chain's principal outstanding, as `proceeds`: a repayment the index has not read yet
    # lowers both, and the seller keeps it.
    quoted = proceeds if request.quoted_price_bps is None else pricing.proceeds(notes, request.quoted_price_bps,
                                                                                market.standing(loan.loan_id))  # fmt: skip
    if proceeds < quoted:
        d = market.decimals()
        raise Conflict(f"bid {bid_id} was repriced: {money(notes, d)} of notes now fetch {money(proceeds, d)} tokens, "
                       f"less than the {money(quoted, d)} you were quoted", bid_id=bid_id, proceeds=proceeds, quoted=quoted)  # fmt: skip
    makers = Makers(settings, db)
    if not makers.may_receive(row.bidder, loan):
        why = ("is the loan's borrower, who may not hold its notes" if row.bidder == loan.borrower
               else "is a wallet of the loan's borrower's person, who may not hold its notes"
               if makers.borrowers_person(row.bidder, loan)
               else f"is no longer verified at KYC level {makers.level(row.bidder)}")  # fmt: skip
        raise Conflict(f"bid {bid_id}'s bidder {why}: the sale would fail", bid_id=bid_id)
    if not makers.pays(row.bidder, loan, proceeds):
        raise Conflict(f"bid {bid_id}'s bidder can no longer pay {money(proceeds, market.decimals())}: the sale would fail",
                       bid_id=bid_id, proceeds=proceeds)  # fmt: skip
    calls = [] if market.market_may_move_notes() else [market.let_market_move_notes()]
    # The quote is the sale's floor: a bidder repricing below it before the sale lands makes it revert.
    calls.append(market.call("sell", [bid_id, notes, quoted],
                             f"sell {_notes(market, notes)} of loan {loan.loan_id} for {market.tokens(proceeds)}"
                             + _limit(market, "at least", quoted, proceeds)))  # fmt: skip
    return _tx("sell", loan.loan_id, notes, proceeds, calls, bid_id=bid_id)


def plan_exit(db: Session, settings: Settings, wallet: str, request: ExitCreate) -> MarketTxPublic:
    """Sell up to `notes` (all held by default) into other wallets' open, unexpired bids for the loan,
    the best paying first, one `sell` each, its floor the proceeds planned; bids that would fail are
    passed over (a bidder who can no longer pay, the loan's borrower's person, an unverified wallet)."""
    loan = _active_loan(db, request.loan_id, deadline_clock(settings))
    market = NoteMarketWallet(settings, wallet)
    held = market.notes(loan.loan_id)
    wanted = request.notes or held
    if wanted == 0 or wanted > held:
        raise _more_than_held(market, loan.loan_id, held)
    orders, _ = _open_orders(db, settings, MarketBidRow, loan.loan_id)
    makers = Makers(settings, db)
    takers = [o for o in orders if o[0].bidder != market.wallet and makers.may_receive(o[0].bidder, loan)]
    committed: Counter[str] = Counter()  # what the sells planned before take from each bidder
    sells, bid_ids, sold, paid = [], [], 0, 0
    for row, *_ in takers:  # best paying first, as `_open_orders` ranks them
        notes = min(row.notes_left, wanted - sold)
        if notes == 0:
            break
        proceeds = market.proceeds(row.bid_id, notes)
        if not makers.pays(row.bidder, loan, proceeds, committed[row.bidder]):
            continue
        committed[row.bidder] += proceeds
        bid_ids.append(row.bid_id)
        # Each sale's floor is what this plan counts on from it: a bidder repricing below it reverts that sale.
        sells.append(market.call("sell", [row.bid_id, notes, proceeds],
                                 f"sell {_notes(market, notes)} of loan {loan.loan_id} into bid {row.bid_id} "
                                 f"for {market.tokens(proceeds)}"))  # fmt: skip
        sold, paid = sold + notes, paid + proceeds
    if not sells:
        raise Conflict(f"no open bid another wallet can pay for notes of loan {loan.loan_id}: offer them for sale instead",
                       loan_id=loan.loan_id)  # fmt: skip
    calls = ([] if market.market_may_move_notes() else [market.let_market_move_notes()]) + sells
    return _tx("sell_now", loan.loan_id, sold, paid, calls, bid_ids=bid_ids)


def plan_bid_cancel(db: Session, settings: Settings, wallet: str, bid_id: int) -> MarketTxPublic:
    row, market = _own_order(db, settings, wallet, MarketBidRow, bid_id, "cancel")
    call = market.call("cancelBid", [bid_id], f"cancel bid {bid_id}")
    return _tx("cancel_bid", row.loan_id, row.notes_left, 0, [call], bid_id=bid_id)


def plan_reprice(db: Session, settings: Settings, wallet: str, kind: str, order_id: int, request: RepriceCreate) -> MarketTxPublic:
    """Change the price of one's own open listing or bid (`kind`) in place (its id, notes and
    expiry stay), with the checks of a new order at that price: not crossing another wallet's
    order that would fill, and for a bid, the money and the allowance to pay it and the wallet's
    other open bids."""
    model = MarketBidRow if kind == "bid" else MarketListingRow
    row, market = _own_order(db, settings, wallet, model, order_id, "reprice")
    now = deadline_clock(settings)
    bidding = model is MarketBidRow
    loan = db.get(LoanRow, row.loan_id)
    if loan is not None:
        _refuse_crossing(db, settings, market.wallet, bidding, loan, row.notes_left, request.price_bps, now)
    calls = []
    if bidding:
        _, open_value = bid_commitment(db, market.wallet, now)
        now_pays, will_pay = ((pricing.proceeds(row.notes_left, price, loan) for price in (row.price_bps, request.price_bps))
                              if loan is not None else (0, 0))  # fmt: skip
        needed = open_value - now_pays + will_pay
        calls += _pay_for_bids(market, needed, "your open bids would pay at this price")
    calls.append(market.call("repriceBid" if bidding else "reprice", [order_id, request.price_bps],
                             f"reprice {kind} {order_id} to {_pct(request.price_bps)}"))  # fmt: skip
    return _tx("reprice", row.loan_id, row.notes_left, 0, calls, **{SIDES[model][1]: order_id})
