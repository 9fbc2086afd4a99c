"""Portfolio and market reads cost the same however large the book: the whole-book risk they price
with is computed once per state of the index and servicing (`disclosure.live`), and a page of the
market reads only its own orders."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from backend.chain.indexer import CHECKPOINT
from backend.chain.models import IndexerCheckpoint
from backend.chain.projection_models import LoanRow, MarketBidRow, MarketListingRow
from backend.db.session import session_scope
from backend.disclosure import live
from backend.disclosure.bench import NOW, _book
from backend.disclosure.reserve import book_risk
from backend.market import service
from backend.servicing.models import ServicingNotice
from tests.conftest import make_settings
from tests.statements import statements


def _orders(settings, count: int) -> None:
    """`count` open listings and as many bids spread over the active loans, prices repeating so
    ties are ranked by id."""
    with session_scope(settings) as session:
        loans = list(session.scalars(select(LoanRow.loan_id).where(LoanRow.trading(NOW)).order_by(LoanRow.loan_id)))
        for n in range(1, count + 1):
            common = dict(loan_id=loans[n % len(loans)], price_bps=9_000 + (n * 37) % 1_500, notes_left=10**6,
                          status="open", expires_at=0, block_number=1, tx_hash="0x" + "ab" * 32, log_index=n)  # fmt: skip
            session.add(MarketListingRow(listing_id=n, seller="0x" + "5" * 40, notes_listed=10**6, **common))
            session.add(MarketBidRow(bid_id=n, bidder="0x" + "6" * 40, notes_bid=10**6, **common))


@pytest.fixture
def chain_clock(monkeypatch):
    monkeypatch.setattr(service, "chain_time", lambda settings: NOW)
    monkeypatch.setattr(live.time, "time", lambda: NOW)


def test_the_book_risk_is_computed_once_per_state_and_the_same_as_computed_afresh(tmp_path, chain_clock):
    repeat = {}
    for loans in (40, 400):
        settings = make_settings(tmp_path / str(loans))
        _book(settings, loans, seed=5)
        with session_scope(settings) as session:
            first = live.live_book_risk(session)
            assert first == book_risk(session)
            with statements(session) as sent:
                assert live.live_book_risk(session) is first  # nothing changed: not computed again
            repeat[loans] = len(sent)
    assert repeat[40] == repeat[400] <= 3  # the state's own lookups, whatever the book
    with session_scope(settings) as session:  # a servicing pass gave a notice: the roll rates may move
        session.add(ServicingNotice(loan_id=1, borrower="0x" + "1" * 40, recipient="0x" + "1" * 40, installment=99,
                                    kind="overdue", due_date=0, amount=0, message="late"))  # fmt: skip
    with session_scope(settings) as session:
        after_notice = live.live_book_risk(session)
        assert after_notice is not first and after_notice == book_risk(session)
        session.get(IndexerCheckpoint, CHECKPOINT).block_number += 1
    with session_scope(settings) as session:  # the index read a new block
        assert live.live_book_risk(session) is not after_notice


def test_a_page_of_the_market_reads_only_its_orders_ranked_as_before(tmp_path, chain_clock, monkeypatch):
    asked: list[set[str]] = []
    facts = service.decision_facts
    monkeypatch.setattr(service, "decision_facts", lambda db, hashes: asked.append(hashes) or facts(db, hashes))
    counts = {}
    for orders in (20, 200):
        settings = make_settings(tmp_path / str(orders))
        _book(settings, 60, seed=5)
        _orders(settings, orders)
        with session_scope(settings) as session:
            every_listing, every_bid = service.open_listings(session, settings), service.open_bids(session, settings)
            assert len(every_listing) == len(every_bid) == orders
            # Ranked as the Python sort did: cheapest listing, best paying bid first, then the earliest.
            assert [(l.price_bps, l.listing_id) for l in every_listing] == sorted((l.price_bps, l.listing_id) for l in every_listing)
            assert [(-b.price_bps, b.bid_id) for b in every_bid] == sorted((-b.price_bps, b.bid_id) for b in every_bid)
            asked.clear()
            with statements(session) as sent:
                page = service.open_listings(session, settings, limit=3), service.open_bids(session, settings, limit=3)
            assert page == (every_listing[:3], every_bid[:3])
            assert all(len(hashes) <= 3 for hashes in asked)  # decision facts of the page only
            counts[orders] = len(sent)
    assert counts[20] == counts[200]
