"""Worker locks: one holder at a time, across connections/processes, released when the holder
dies; the runner runs a step only while it holds the lock."""

from __future__ import annotations

import os
import threading
import time

import pytest
from sqlalchemy import create_engine, text

from backend.errors import Conflict
from backend.workers.lock import FileLock, PostgresAdvisoryLock, exclusive, make_lock
from backend.workers.runner import Worker
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


class _Proxy:
    """A TCP forwarder to PostgreSQL that can be cut and brought back: a server restart or a
    fail-over, as the lock connection sees it (every connection drops, new ones are refused)."""

    def __init__(self, port: int, target=("127.0.0.1", 5432)) -> None:
        self.port, self.target, self.conns, self.srv = port, target, [], None

    def start(self) -> None:
        import socket

        self.srv = socket.socket()
        self.srv.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.srv.bind(("127.0.0.1", self.port))
        self.srv.listen(16)
        threading.Thread(target=self._accept, args=(self.srv,), daemon=True).start()

    def _accept(self, srv) -> None:
        import socket

        while True:
            try:
                client, _ = srv.accept()
            except OSError:
                return
            upstream = socket.create_connection(self.target)
            self.conns += [client, upstream]
            for a, b in ((client, upstream), (upstream, client)):
                threading.Thread(target=self._pipe, args=(a, b), daemon=True).start()

    @staticmethod
    def _pipe(a, b) -> None:
        import socket

        try:
            while data := a.recv(65536):
                b.sendall(data)
        except OSError:
            pass
        for s in (a, b):
            try:
                s.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass

    def stop(self) -> None:
        import socket

        try:
            self.srv.shutdown(socket.SHUT_RDWR)  # wakes the blocked accept(); close() alone keeps listening
        except OSError:
            pass
        self.srv.close()
        for s in self.conns:
            try:
                s.shutdown(socket.SHUT_RDWR)
                s.close()
            except OSError:
                pass
        self.conns = []


def _run_in_thread(worker: Worker, settings, stop: threading.Event, lock) -> tuple[threading.Thread, list[str]]:
    errors: list[str] = []

    def run() -> None:
        try:
            worker.run(settings, stop, lock)
        except BaseException as exc:  # what would kill the thread
            errors.append(f"{type(exc).__name__}: {str(exc).splitlines()[0]}")
            raise

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    return thread, errors


def test_worker_survives_a_short_database_outage(tmp_path, postgres_url, monkeypatch):
    """PostgreSQL restarts (every connection drops, new ones are refused for a few seconds): the
    worker loses its lock, cannot take it again while the server is away, and resumes once it is
    back, instead of its thread dying on the first failed acquire (review-ops H2)."""
    from backend.workers import runner
    from tests.conftest import free_port

    monkeypatch.setattr(runner, "STANDBY_INTERVAL", 0.2)
    port = free_port()
    proxy = _Proxy(port)
    proxy.start()
    url = postgres_url.replace("127.0.0.1:5432", f"127.0.0.1:{port}").replace("localhost:5432", f"127.0.0.1:{port}")
    assert f":{port}/" in url
    settings = make_settings(tmp_path, database_url=url)
    rounds: list[float] = []
    worker = Worker("db-blip", lambda s: rounds.append(time.monotonic()) or 0, lambda s: 0.1)
    stop = threading.Event()
    thread, errors = _run_in_thread(worker, settings, stop, PostgresAdvisoryLock(url, "db-blip"))
    try:
        deadline = time.monotonic() + 10
        while not rounds and time.monotonic() < deadline:
            time.sleep(0.05)
        assert rounds, "the worker never ran"
        proxy.stop()
        time.sleep(2)  # refused: several acquire attempts fail meanwhile
        assert thread.is_alive(), errors
        proxy.start()
        n = len(rounds)
        deadline = time.monotonic() + 10
        while len(rounds) == n and time.monotonic() < deadline:
            time.sleep(0.05)
        assert thread.is_alive() and len(rounds) > n, f"the worker did not resume: {errors}"
    finally:
        stop.set()
        thread.join(10)
        proxy.stop()
    assert not errors


class _FlakyLock:
    """A lock whose acquire and still_held raise (the database is away) for a while."""

    name = "flaky"

    def __init__(self, failures: int) -> None:
        self.failures, self.held = failures, False

    def _maybe_fail(self) -> None:
        if self.failures > 0:
            self.failures -= 1
            raise ConnectionError("database unreachable")

    def acquire(self) -> bool:
        self._maybe_fail()
        self.held = True
        return True

    def still_held(self) -> bool:
        self._maybe_fail()
        return self.held

    def release(self) -> None:
        self.held = False


def test_lock_errors_are_taken_as_not_held_and_retried(tmp_path, monkeypatch):
    """An error from the lock itself (acquire or still_held) means "not held": the worker runs no
    step, waits a standby period and tries again; the thread lives on."""
    from backend.workers import runner

    monkeypatch.setattr(runner, "STANDBY_INTERVAL", 0.05)
    lock = _FlakyLock(failures=3)
    rounds: list[int] = []

    def step(_settings) -> int:
        rounds.append(1)
        if len(rounds) == 2:
            lock.failures = 3  # the database goes away again, now while the lock is held
        return 0

    stop = threading.Event()
    thread, errors = _run_in_thread(Worker("flaky", step, lambda s: 0.01), make_settings(tmp_path), stop, lock)
    deadline = time.monotonic() + 10
    while len(rounds) < 4 and time.monotonic() < deadline:
        time.sleep(0.02)
    stop.set()
    thread.join(10)
    assert not errors and len(rounds) >= 4


def test_the_lock_connection_notices_a_dead_peer_within_seconds(postgres_url):
    """review-ops M3: the server frees a dead host's lock only when TCP gives up on its connection
    (2 h 10 min with the server's defaults), and a holder cut off from the server could hang in
    still_held as long. The lock connection sets keepalives on both ends, a TCP user timeout and a
    statement timeout; read back here from the server's session settings and the client's."""
    lock = PostgresAdvisoryLock(postgres_url, "keepalive-probe")
    try:
        assert lock.acquire()
        server = dict(lock._conn.execute(text(
            "SELECT name, setting FROM pg_settings WHERE name IN ('tcp_keepalives_idle', 'tcp_keepalives_interval', "
            "'tcp_keepalives_count', 'tcp_user_timeout', 'statement_timeout')"
        )).all())  # fmt: skip
        assert server == {"tcp_keepalives_idle": "10", "tcp_keepalives_interval": "5", "tcp_keepalives_count": "3",
                          "tcp_user_timeout": "30000", "statement_timeout": "5000"}  # fmt: skip
        client = lock._conn.connection.dbapi_connection.info.get_parameters()
        assert {k: client.get(k) for k in ("keepalives", "keepalives_idle", "keepalives_interval",
                                           "keepalives_count", "tcp_user_timeout", "connect_timeout")} == {
            "keepalives": "1", "keepalives_idle": "10", "keepalives_interval": "5", "keepalives_count": "3",
            "tcp_user_timeout": "30000", "connect_timeout": "5"}  # fmt: skip
    finally:
        lock.release()


def test_the_lock_connections_socket_has_the_keepalives_and_a_slow_server_is_cut_off(postgres_url):
    """Review-recent L4: the keepalive test only read the settings back from libpq and the server.
    What can be shown without dropping packets: the client's own socket carries them (getsockopt,
    so the kernel applies them, not just libpq's parameters), and a statement on the lock connection
    ends after the 5 s statement timeout, as a lock check on a server that hangs would. A dead peer
    itself (the server dropping a cut-off holder in ~30 s) is not simulated: that needs dropped packets."""
    import socket

    from sqlalchemy.exc import OperationalError

    lock = PostgresAdvisoryLock(postgres_url, "keepalive-socket")
    try:
        assert lock.acquire()
        fd = lock._conn.connection.dbapi_connection.fileno()
        with socket.socket(fileno=os.dup(fd)) as sock:  # a duplicate: closing it leaves the connection open
            assert sock.type == socket.SOCK_STREAM and sock.family in (socket.AF_INET, socket.AF_INET6)  # TCP, not a unix socket
            options = {name: sock.getsockopt(level, option) for name, level, option in (
                ("keepalive", socket.SOL_SOCKET, socket.SO_KEEPALIVE), ("idle", socket.IPPROTO_TCP, socket.TCP_KEEPIDLE),
                ("interval", socket.IPPROTO_TCP, socket.TCP_KEEPINTVL), ("count", socket.IPPROTO_TCP, socket.TCP_KEEPCNT),
                ("user_timeout_ms", socket.IPPROTO_TCP, socket.TCP_USER_TIMEOUT))}  # fmt: skip
        assert options == {"keepalive": 1, "idle": 10, "interval": 5, "count": 3, "user_timeout_ms": 30_000}
        started = time.monotonic()
        with pytest.raises(OperationalError, match="statement timeout"):
            lock._conn.execute(text("SELECT pg_sleep(30)"))
        assert 4.5 < time.monotonic() - started < 10
    finally:
        lock.release()
