"""The API's disclosure is computed again whenever what it reads has changed, and only then."""

from __future__ import annotations

from backend.chain.indexer import CHECKPOINT
from backend.chain.models import IndexerCheckpoint
from backend.db.session import session_scope
from backend.disclosure import live
from backend.disclosure.bench import _book
from backend.servicing.models import ServicingNotice
from tests.conftest import make_settings


def test_figures_are_computed_again_only_when_the_index_servicing_or_the_minute_moves(tmp_path, monkeypatch):
    settings = make_settings(tmp_path)
    _book(settings, 40, seed=3)
    minute = [1_800_000_000.0]
    monkeypatch.setattr(live.time, "time", lambda: minute[0])

    def read():
        with session_scope(settings) as session:
            return live.live_disclosure(session, settings)

    first = read()
    assert read() is first  # nothing changed: the same figures
    with session_scope(settings) as session:  # the loan tape likewise
        sheet = live.live_tape_csv(session)
        assert live.live_tape_csv(session) is sheet and sheet.count("\n") == first.loans.active + first.loans.repaid + first.loans.defaulted + 1
    with session_scope(settings) as session:  # a servicing pass gave a notice: the roll rates may move
        session.add(ServicingNotice(loan_id=1, borrower="0x" + "1" * 40, recipient="0x" + "1" * 40, installment=99,
                                    kind="overdue", due_date=0, amount=0, message="late"))  # fmt: skip
    after_notice = read()
    assert after_notice is not first and read() is after_notice
    with session_scope(settings) as session:  # the index read a new block
        session.get(IndexerCheckpoint, CHECKPOINT).block_number += 1
    after_block = read()
    assert after_block is not after_notice and read() is after_block
    with session_scope(settings) as session:
        assert live.live_tape_csv(session) is not sheet  # read again at the new block
    minute[0] += 60  # orders expire on the wall clock
    assert read() is not after_block
    other = make_settings(tmp_path / "other")  # another database: its own figures
    _book(other, 10, seed=3)
    with session_scope(other) as session:
        assert live.live_disclosure(session, other).loans != after_block.loans
