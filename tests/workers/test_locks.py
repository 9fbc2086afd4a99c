"""Worker locks: one holder at a time, across connections/processes, released when the holder
dies; the runner runs a step only while it holds the lock."""

from __future__ import annotations

import threading
import time

import pytest
from sqlalchemy import create_engine, text

from backend.workers.lock import FileLock, PostgresAdvisoryLock, exclusive, make_lock
from backend.workers.runner import Worker
from backend.errors import Conflict
from tests.conftest import make_settings


def test_file_lock_is_exclusive_and_released(tmp_path):
    a, b = FileLock(tmp_path, "outbox"), FileLock(tmp_path, "outbox")
    assert a.acquire() and not b.acquire()
    assert FileLock(tmp_path, "indexer").acquire()  # other workers are independent
    a.release()
    assert b.acquire() and b.still_held()
    b.release()


def test_sqlite_settings_use_a_file_lock_and_postgres_an_advisory_lock(tmp_path, postgres_url):
    assert isinstance(make_lock(make_settings(tmp_path), "x"), FileLock)
    assert isinstance(make_lock(make_settings(tmp_path, database_url=postgres_url), "x"), PostgresAdvisoryLock)


def test_advisory_lock_is_exclusive_and_dies_with_its_connection(postgres_url):
    a, b = PostgresAdvisoryLock(postgres_url, "outbox"), PostgresAdvisoryLock(postgres_url, "outbox")
    try:
        assert a.acquire() and a.still_held()
        assert not b.acquire()
        # The holder's connection is cut (crash, network partition): the server frees the lock.
        pid = a._conn.execute(text("SELECT pg_backend_pid()")).scalar()
        admin = create_engine(postgres_url, isolation_level="AUTOCOMMIT")
        with admin.connect() as conn:
            conn.execute(text("SELECT pg_terminate_backend(:pid)"), {"pid": pid})
        admin.dispose()
        assert not a.still_held()
        assert b.acquire() and b.still_held()
    finally:
        a.release()
        b.release()


def test_exclusive_refuses_while_a_worker_holds_the_lock(tmp_path):
    settings = make_settings(tmp_path)
    holder = make_lock(settings, "indexer")
    assert holder.acquire()
    with pytest.raises(Conflict):
        with exclusive(settings, "indexer"):
            pass
    holder.release()
    with exclusive(settings, "indexer"):
        pass


@pytest.mark.parametrize("database_url", ["sqlite", "postgres"], indirect=True)
def test_only_the_lock_holder_runs_and_a_standby_takes_over(tmp_path, database_url, monkeypatch):
    from backend.db import migrate
    from backend.workers import runner

    monkeypatch.setattr(runner, "STANDBY_INTERVAL", 0.1)
    settings = make_settings(tmp_path, database_url=database_url)
    migrate.upgrade(settings)
    calls = {"a": 0, "b": 0}
    stops = {"a": threading.Event(), "b": threading.Event()}

    def step_of(name):
        def step(_settings):
            calls[name] += 1
            return 0

        return step

    threads = {
        n: threading.Thread(target=Worker("drill", step_of(n), lambda s: 0.02).run, args=(settings, stops[n]))
        for n in ("a", "b")
    }
    threads["a"].start()
    time.sleep(0.5)
    threads["b"].start()
    time.sleep(0.5)
    assert calls["a"] > 0 and calls["b"] == 0
    stops["a"].set()
    threads["a"].join(10)
    deadline = time.monotonic() + 10
    while calls["b"] == 0 and time.monotonic() < deadline:
        time.sleep(0.05)
    stops["b"].set()
    threads["b"].join(10)
    assert calls["b"] > 0
