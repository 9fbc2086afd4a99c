"""When a wallet's business relationship ended, which the AML record-keeping period counts from: at
its own last act or the last event of its loans' own life, never at another wallet's act on the
same loans. Otherwise anyone holding a unit of a repaid loan's notes could keep its borrower's (and
its other investors') erasure from ever coming due, by moving the unit between wallets of its own
now and then (review 2026-12-01). Index rows written directly: the rule reads only them."""

from __future__ import annotations

from datetime import UTC, datetime

from backend.chain.models import ChainEvent
from backend.chain.projection_models import EventSubjectRow, LoanRow, NoteBalanceRow
from backend.db.session import session_scope
from backend.identity.kyc.relationship import relationship
from tests.identity.conftest import any_db_settings as any_db_settings  # noqa: F401  (the fixture)

BORROWER, HOLDER, OTHER, STRANGER = (f"0x{n:040x}" for n in (0xB0, 0x10, 0x20, 0x30))
LOAN, T0 = 7, 1_800_000_000
DAY = 86_400


def _event(session, n: int, event: str, when: int, addresses=(), contract="LoanBook", args=None) -> None:
    ev = ChainEvent(block_number=n, block_hash=f"0x{n:064x}", tx_hash=f"0x{n:064x}", tx_index=0, log_index=0,
                    contract=contract, address="0x" + "ab" * 20, event=event, args=args or {"loanId": LOAN},
                    block_timestamp=when)  # fmt: skip
    session.add(ev)
    session.flush()
    ref = {"block_number": n, "tx_hash": ev.tx_hash, "log_index": 0}
    session.add_all([EventSubjectRow(event_id=ev.id, loan_id=LOAN, **ref)]
                    + [EventSubjectRow(event_id=ev.id, address=a, **ref) for a in addresses])  # fmt: skip


def test_others_acts_on_a_repaid_loan_do_not_move_its_borrowers_or_investors_end(any_db_settings):  # noqa: F811
    with session_scope(any_db_settings) as session:
        session.add(LoanRow(loan_id=LOAN, status="repaid", borrower=BORROWER, underwriter=OTHER, terms_hash="0x", agreement_hash="0x",
                            decision_hash="0x", principal=1_000, apr_bps=1_000, installments=3, installment_period=30 * DAY,
                            installment_amount=340, funding_deadline=T0, origination_fee_bps=0, created_block=1, block_number=2,
                            tx_hash="0x", log_index=0))  # fmt: skip
        session.add_all([NoteBalanceRow(loan_id=LOAN, holder=HOLDER, balance=600, block_number=1, tx_hash="0x", log_index=0),
                         NoteBalanceRow(loan_id=LOAN, holder=OTHER, balance=400, block_number=1, tx_hash="0x", log_index=0)])  # fmt: skip
        _event(session, 1, "LoanCreated", T0, [BORROWER])
        _event(session, 2, "LoanRepaid", T0 + 90 * DAY)  # the loan's own life ends here
        _event(session, 3, "Claimed", T0 + 100 * DAY, [HOLDER])  # the holder's own last act
        # Years later, the other investor's claim, notes moving between others, a market order.
        _event(session, 4, "Claimed", T0 + 900 * DAY, [OTHER])
        _event(session, 5, "TransferSingle", T0 + 1_500 * DAY, [OTHER, STRANGER])
        _event(session, 6, "Listed", T0 + 1_600 * DAY, [STRANGER], contract="NoteMarket")

        def ended(wallet: str) -> datetime:
            found = relationship(session, wallet)
            assert found is not None and not found.open, found
            return found.ended_at

        assert ended(BORROWER) == datetime.fromtimestamp(T0 + 90 * DAY, UTC)
        assert ended(HOLDER) == datetime.fromtimestamp(T0 + 100 * DAY, UTC)
        assert ended(OTHER) == datetime.fromtimestamp(T0 + 1_500 * DAY, UTC)  # its own acts still count
