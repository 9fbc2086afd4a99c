"""The API's disclosure is computed again whenever what it reads has changed, and only then."""

from __future__ import annotations

import threading
import time

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


def test_readers_missing_at_once_wait_for_one_computation(tmp_path, monkeypatch):
    """A new block makes every reader miss together: one computes, the others take its answer."""
    settings = make_settings(tmp_path)
    _book(settings, 5, seed=4)
    monkeypatch.setattr(live.time, "time", lambda: 1_800_000_000.0)  # no minute turns between the readers
    calls, started, release = [], threading.Event(), threading.Event()

    def slow(session):
        calls.append(threading.current_thread().name)
        started.set()
        release.wait(10)
        return object()

    answers = []

    def reader() -> None:
        with session_scope(settings) as session:
            answers.append(live._answer(session, "single-flight", slow))

    threads = [threading.Thread(target=reader, name=f"reader-{i}") for i in range(4)]
    threads[0].start()
    assert started.wait(10)
    for thread in threads[1:]:
        thread.start()
    time.sleep(0.3)  # the others are waiting on the first's computation, not computing beside it
    release.set()
    for thread in threads:
        thread.join(10)
    assert len(calls) == 1 and len(answers) == 4 and all(a is answers[0] for a in answers)
