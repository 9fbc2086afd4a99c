"""Reads over the whole book bind a bounded number of parameters a statement: on a book with more
loans, wallets and alerts than SQLite binds in one statement (32,766), the alerts read and the other
list-wide reads it shares helpers with answer in full instead of failing outright.

This machine's SQLite may be built with a higher cap (Debian's is 250,000), so the test sets each
connection's to SQLite's own default: the cap a stock build, and the platform's users, have."""

from __future__ import annotations

import sqlite3
from datetime import UTC, datetime

import pytest
from sqlalchemy import Engine, event, insert

from backend.audit.monitoring import Outstanding, alerts
from backend.audit.note_path_rules import _persons
from backend.chain.models import ChainEvent
from backend.chain.projection_models import AttestationRow, LoanRow, MarketBidRow, NoteTransferRow
from backend.db.chunks import chunks
from backend.db.session import session_scope
from backend.identity.models import KycRecord
from backend.identity.persons import borrower_wallets_of_each
from backend.lending.portfolio import bids_for
from backend.servicing.models import ServicingNotice
from tests.conftest import own_database

SQLITE_CAP = 32_766  # SQLITE_MAX_VARIABLE_NUMBER's default since SQLite 3.32
LOANS = SQLITE_CAP + 234  # just over it: one list of every loan, wallet or alert no longer binds
NOW, MONTH = 1_800_000_000, 30 * 86_400


def _hex(n: int, width: int = 64) -> str:
    return "0x" + format(n, f"0{width}x")


@pytest.fixture
def stock_sqlite_cap():
    def cap(dbapi_conn, _record):
        if isinstance(dbapi_conn, sqlite3.Connection):
            dbapi_conn.setlimit(sqlite3.SQLITE_LIMIT_VARIABLE_NUMBER, SQLITE_CAP)

    event.listen(Engine, "connect", cap)
    yield
    event.remove(Engine, "connect", cap)


@pytest.fixture
def book(chain_settings, deployment, tmp_path, stock_sqlite_cap):
    """LOANS loans, each defaulted with its first installment unpaid and told so (a first payment
    default each: LOANS alerts, LOANS reviews looked up), disbursed by an event of its own, with a
    small gift of its notes between two wallets of its own (verified, each pair one person); and
    LOANS notices of installment 2 late, of loans the index lacks, which raise nothing but put as
    many loans in the early payment rule's read. Minimal rows, inserted as the alerts bench does."""
    settings = own_database(chain_settings, tmp_path, f"sqlite:///{tmp_path / 'big.db'}")
    rows: dict[type, list[dict]] = {t: [] for t in (LoanRow, ChainEvent, ServicingNotice, NoteTransferRow, KycRecord)}
    for loan_id in range(1, LOANS + 1):
        borrower, start = _hex(loan_id, 40), NOW - 6 * MONTH + loan_id
        rows[LoanRow].append(dict(
            loan_id=loan_id, status="defaulted", borrower=borrower, underwriter=_hex(2, 40), terms_hash=_hex(loan_id),
            agreement_hash=_hex(loan_id), decision_hash=_hex(loan_id), principal=12_000, apr_bps=1_000, installments=12,
            installment_period=MONTH, installment_amount=1_000, funding_deadline=NOW, origination_fee_bps=100,
            funded=12_000, start_time=start, principal_outstanding=12_000, created_block=loan_id, block_number=loan_id,
            tx_hash=_hex(loan_id), log_index=0))  # fmt: skip
        for k, (name, args) in enumerate((("LoanDisbursed", {"loanId": loan_id}), ("TransferSingle", {"id": loan_id}))):
            event_id = 2 * loan_id + k
            rows[ChainEvent].append(dict(id=event_id, block_number=event_id, block_hash=_hex(event_id),
                                         tx_hash=_hex(event_id), tx_index=0, log_index=0, contract="LoanBook",
                                         address=_hex(1, 40), event=name, args=args, block_timestamp=start + k))  # fmt: skip
        sender, recipient = _hex(10**6 + 2 * loan_id, 40), _hex(10**6 + 2 * loan_id + 1, 40)
        rows[NoteTransferRow].append(dict(event_id=event_id, block_number=event_id, tx_hash=_hex(event_id), log_index=0,
                                          loan_id=loan_id, sender=sender, recipient=recipient, amount=10))  # fmt: skip
        for installment, of in ((1, loan_id), (2, LOANS + loan_id)):
            rows[ServicingNotice].append(dict(loan_id=of, borrower=borrower, recipient=borrower, installment=installment,
                                              kind="late", due_date=start + installment * MONTH, amount=0,
                                              message="late"))  # fmt: skip
        for wallet in (sender, recipient):
            rows[KycRecord].append(dict(id=f"r-{wallet}", wallet=wallet, status="approved", level=2, id_type="national_id",
                                        reasons=[], blind_index=f"id-{loan_id}", ciphertext=b"-", attest_key=f"k-{wallet}",
                                        commitment="0x" + "00" * 32, document_count=0,
                                        submitted_at=datetime.fromtimestamp(NOW, UTC)))  # fmt: skip
    with session_scope(settings) as session:
        for table, values in rows.items():
            for i in range(0, len(values), 5_000):
                session.execute(insert(table), values[i : i + 5_000])
    return settings


def test_alerts_and_list_wide_reads_answer_past_the_parameter_cap(book):
    with session_scope(book) as session:
        with pytest.raises(Exception, match="too many SQL variables"):  # the cap holds: a literal list fails
            session.query(LoanRow.loan_id).filter(LoanRow.loan_id.in_(range(LOANS))).all()
        session.rollback()

        found = alerts(session, book, with_notes=False)
        assert {a.rule for a in found} == {"first_payment_default"} and len(found) == LOANS  # the gifts are small
        first = {a.loan_id: a for a in found}
        # Each names its disbursal's transaction, the earliest too (disbursed at its start, in its creation block).
        assert all(a.tx_hashes == [_hex(2 * loan_id)] for loan_id, a in first.items())
        assert all(a.review is None for a in found)  # the reviews were looked up, for every key, in bounded lists

        # `since` bounds the first-payment read to the loans it can still show; the page is the same.
        since = first[LOANS - 9].timestamp
        recent = alerts(session, book, since=since, rule="first_payment_default", with_notes=False)
        assert sorted(a.loan_id for a in recent) == list(range(LOANS - 9, LOANS + 1))
        assert [a.model_dump() for a in recent] == [a.model_dump() for a in found if a in recent]

        wallets = {_hex(10**6 + n, 40) for n in range(2, 2 * LOANS + 2)}
        persons = _persons(session, wallets)  # every wallet a gift touched
        assert len(persons) == len(wallets) and persons[_hex(10**6 + 2, 40)] == persons[_hex(10**6 + 3, 40)] == "id:id-1"

        senders = {_hex(10**6 + 2 * n, 40) for n in range(1, LOANS + 1)}
        each = borrower_wallets_of_each(session, senders)
        person = {w.lower() for w in each[_hex(10**6 + 2 * LOANS, 40)]}  # checksummed: compared lowercased
        assert len(each) == LOANS and person == {_hex(10**6 + 2 * LOANS + n, 40) for n in (0, 1)}

        outstanding = Outstanding(session, set(range(1, LOANS + 1)))
        assert len(outstanding.principal) == LOANS and outstanding.of_notes(LOANS, 6_000, 10**9, 0) == 6_000

        bidder = _hex(7, 40)
        session.add(AttestationRow(wallet=bidder, level=2, expires_at=NOW * 2, commitment=_hex(0), attestor=_hex(3, 40),
                                   revoked=False, block_number=1, tx_hash=_hex(1), log_index=0))  # fmt: skip
        session.add(MarketBidRow(bid_id=1, loan_id=LOANS, price_bps=9_000, notes_left=100, status="open", expires_at=0,
                                 bidder=bidder, notes_bid=100, block_number=1, tx_hash=_hex(1), log_index=0))  # fmt: skip
        session.flush()
        assert bids_for(session, _hex(8, 40), set(range(1, LOANS + 1)), NOW, 1) == {LOANS: [(100, 9_000)]}
        session.rollback()


def test_chunks_are_sorted_unique_and_bounded():
    assert list(chunks([3, 1, 2, 3, 5], size=2)) == [[1, 2], [3, 5]]
    assert list(chunks([])) == []
    assert all(len(c) <= 500 for c in chunks(range(LOANS)))
