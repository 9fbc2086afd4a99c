"""The cyclic collector paused through the monitoring rules' computation (`backend/gc_pause.py`):
counted across threads, given back only by the last pause and only if it was on, and the cycles
left meanwhile collected at the end."""

from __future__ import annotations

import gc
import threading

from backend.audit import monitoring
from backend.db import migrate
from backend.db.session import session_scope
from backend.gc_pause import collection_paused
from tests.conftest import make_settings


class _Cycle:
    def __init__(self) -> None:
        self.me = self


def test_overlapping_pauses_from_two_threads_give_the_collector_back_once_the_last_ends():
    first_in, second_in, first_out = threading.Event(), threading.Event(), threading.Event()
    seen = {}

    def first():
        with collection_paused():
            first_in.set()
            second_in.wait(5)
        seen["after first"] = gc.isenabled()
        first_out.set()

    def second():
        first_in.wait(5)
        with collection_paused():
            second_in.set()
            first_out.wait(5)
            seen["during second"] = gc.isenabled()
        seen["after second"] = gc.isenabled()

    assert gc.isenabled()
    threads = [threading.Thread(target=first), threading.Thread(target=second)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(10)
    assert seen == {"after first": False, "during second": False, "after second": True}


def test_a_collector_turned_off_by_the_process_stays_off():
    gc.disable()
    try:
        with collection_paused():
            pass
        assert not gc.isenabled()
    finally:
        gc.enable()


def test_the_cycles_a_pause_leaves_are_collected_when_it_ends():
    with collection_paused():
        import weakref

        left = weakref.ref(_Cycle())
        assert left() is not None  # held by its own cycle while the collector is off
    assert left() is None


def test_the_monitoring_rules_compute_with_the_collector_paused(tmp_path, monkeypatch):
    settings = make_settings(tmp_path)
    migrate.upgrade(settings)
    during = []
    real = monitoring._note_alerts
    monkeypatch.setattr(monitoring, "_note_alerts", lambda *a: during.append(gc.isenabled()) or real(*a))
    with session_scope(settings) as session:
        monitoring.alerts(session, settings, with_notes=False)
    assert during == [False] and gc.isenabled()
