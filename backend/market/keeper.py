"""The keeper that uncrosses NoteMarket's book.

The API refuses an offer that crosses another wallet's order (taking that order serves the user
better), but a wallet calling NoteMarket directly can still leave a listing at or below a bid for
the same loan. Both makers approved NoteMarket when they placed their orders, so anyone can fill one
against the other with `matchOrders`, at the midpoint of their prices, without custody. The keeper
does that through the outbox, once per state of the two orders:

- pairs come from the chain index, best prices first (the cheapest listing meets the highest bids,
  earlier orders first at a price), never one wallet's listing against its own bid, nor a pair
  whose prices leave no whole cost that loses neither maker a unit to rounding (the contract's
  `NoteMarketSpreadTooThin`);
- each match is checked against the chain before it is queued (the bidder's balance and allowance,
  the seller's notes and operator approval, the bidder's KYC, never the loan's own borrower; and,
  right before queuing, that the bidder's erasure was neither asked for nor carried out, under the
  lock the erasure takes: `of_standing_bidders`), and
  what one pass commits of a wallet's money or notes is set against the next pair's check; prices
  apply to the principal the notes still stand for, as NoteMarket prices them;
- the intent's key names both orders, digests what the match was checked against (what is left
  of each order and its price, the bidder's money, the seller's notes, the loan's principal
  outstanding) and counts the attempts, so
  a retry or a second keeper never queues the same match twice; a match that failed anyway (a
  maker moved the money or the notes between the check and the block) is tried again at the next
  pass that finds it payable, at most `MAX_ATTEMPTS` (3) times against the same facts;
- nothing is queued while NoteMarket is paused, and at most `market_keeper_max_per_pass` matches
  a pass (the platform's signer pays their gas; someone crossing the book on purpose pays more to
  place the two orders than the match costs the platform);
- while a match is in flight, or mined beyond what the index has read, the keeper waits: the book
  it would read is stale.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass

from sqlalchemy import and_, select
from sqlalchemy.orm import Session

from backend import audit
from backend.chain.keeping import next_attempt_key, none_queued_since, queued_so_far, waits_for_index
from backend.chain.loan_book import deadline_clock
from backend.chain.market_calls import market_paused
from backend.chain.outbox import enqueue
from backend.chain.projection_models import LoanRow, MarketBidRow, MarketListingRow
from backend.config import Settings
from backend.identity.kyc.erasure_lock import gone, hold_erasures
from backend.market import pricing
from backend.market.makers import Makers

KEY_PREFIX = "market.match:"


@dataclass(frozen=True)
class Match:
    """One `NoteMarket.matchOrders` call: `notes` from the listing's seller to the bid's bidder for `cost`."""

    listing_id: int
    bid_id: int
    loan_id: int
    seller: str
    buyer: str
    notes: int
    cost: int
    key: str


def crossed_pairs(db: Session, now: int) -> list[tuple[MarketListingRow, MarketBidRow, LoanRow]]:
    """Open, live listings and bids of the same loan, trading at `now` (`LoanRow.trades`: active,
    with principal outstanding, not past `defaultableAt`), where the bid pays at least the ask and
    the makers differ, in matching order."""
    listing, bid = MarketListingRow, MarketBidRow
    query = (
        select(listing, bid, LoanRow)
        .join(bid, and_(bid.loan_id == listing.loan_id, bid.price_bps >= listing.price_bps, bid.bidder != listing.seller))
        .join(LoanRow, LoanRow.loan_id == listing.loan_id)
        .where(listing.status == "open", bid.status == "open", LoanRow.trading(now),
               listing.live_at(now), bid.live_at(now))
        .order_by(listing.loan_id, listing.price_bps, listing.listing_id, bid.price_bps.desc(), bid.bid_id)
    )
    return [tuple(row) for row in db.execute(query)]


def plan_matches(db: Session, settings: Settings, now: int) -> list[Match]:
    """The matches the book calls for now, each one the chain would accept as far as can be read."""
    listing_left: dict[int, int] = {}
    bid_left: dict[int, int] = {}
    committed: Counter[str] = Counter()  # money this pass already plans to take from each bidder
    selling: Counter[tuple[int, str]] = Counter()  # notes this pass already plans to move from each seller
    makers = Makers(settings, db)
    matches = []
    for ask, bid, loan in crossed_pairs(db, now):
        notes = min(listing_left.setdefault(ask.listing_id, ask.notes_left), bid_left.setdefault(bid.bid_id, bid.notes_left))
        if notes == 0:
            continue
        # At the index's principal outstanding; NoteMarket prices the match at the chain's, lower
        # if a repayment came since, which only makes the bidder's money go further.
        cost = pricing.matched(notes, ask.price_bps, bid.price_bps, loan)
        if cost is None:  # equal prices on an amount with no whole price: matching would cost a maker
            continue
        if not (makers.pays(bid.bidder, loan, cost, committed[bid.bidder])
                and makers.delivers(ask.seller, loan.loan_id, notes, selling[loan.loan_id, ask.seller])):  # fmt: skip
            continue
        money, held = makers.money(bid.bidder), makers.held(ask.seller, loan.loan_id)
        key = next_attempt_key(db, f"{KEY_PREFIX}{ask.listing_id}:{bid.bid_id}:",
                               (ask.notes_left, ask.price_bps, bid.notes_left, bid.price_bps, money, held,
                                loan.principal_outstanding))  # fmt: skip
        if key is None:
            continue
        listing_left[ask.listing_id] -= notes
        bid_left[bid.bid_id] -= notes
        committed[bid.bidder] += cost
        selling[loan.loan_id, ask.seller] += notes
        matches.append(Match(ask.listing_id, bid.bid_id, loan.loan_id, ask.seller, bid.bidder, notes, cost, key))
    return matches


def book_is_stale(db: Session) -> bool:
    """A match is still open in the outbox, or was mined after the last block the index has read."""
    return waits_for_index(db, KEY_PREFIX)


def match_crossed(db: Session, settings: Settings) -> list[Match]:
    """Queue a `matchOrders` for every crossed pair of the book, once each; the matches queued."""
    if db.scalar(select(MarketBidRow.bid_id).where(MarketBidRow.status == "open").limit(1)) is None:
        return []  # nothing can be crossed (and no need to ask the chain anything)
    seen = queued_so_far(db, KEY_PREFIX)
    if book_is_stale(db) or market_paused(settings):
        return []
    # The platform pays each match's gas: a bounded number per pass, the rest at the next one.
    planned = plan_matches(db, settings, deadline_clock(settings))[: settings.market_keeper_max_per_pass]
    if not planned or not none_queued_since(db, KEY_PREFIX, seen):  # a round overlapping this one queued first
        return []
    queued = []
    for match in of_standing_bidders(db, planned):
        enqueue(db, key=match.key, contract="NoteMarket", function="matchOrders",
                args=[match.listing_id, match.bid_id, match.notes], settings=settings)  # fmt: skip
        audit.record(db, actor="market-keeper", action="market.match", subject=f"loan:{match.loan_id}",
                     payload={"listing_id": match.listing_id, "bid_id": match.bid_id, "notes": match.notes,
                              "cost": match.cost})  # fmt: skip
        queued.append(match)
    return queued


def of_standing_bidders(db: Session, planned: list[Match]) -> list[Match]:
    """Those of `planned` whose bidder's erasure was neither asked for nor carried out, read under the
    lock an erasure takes and kept until the matches commit (`erasure_lock.py`): the chain's
    attestation outlives an erasure until its revocation is mined, and a match would deliver notes to
    a wallet no one can identify (AML). An erasure beginning after this waits for the commit and sees
    the match in flight (`relationship.py`): scheduled, not carried out."""
    bidders = {match.buyer for match in planned}
    hold_erasures(db, bidders, MarketBidRow)
    erased = gone(db, bidders)
    return [match for match in planned if match.buyer not in erased]


def keeper_step(settings: Settings) -> int:
    """The worker's round: one pass in its own transaction; the matches queued (0 = idle)."""
    from backend.db.session import session_scope

    if not settings.market_keeper:
        return 0
    with session_scope(settings) as session:
        return len(match_crossed(session, settings))
