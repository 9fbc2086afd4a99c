"""The lock that makes a background worker a singleton.

PostgreSQL: a session-level advisory lock (`pg_try_advisory_lock`) on a dedicated connection
held for the worker's lifetime. The server releases it when that connection ends, so a crashed
or partitioned holder loses it, and a standby takes over. SQLite (one machine): an exclusive
`flock` on `var/locks/<name>.lock`, which the kernel releases when the process dies.
"""

from __future__ import annotations

import fcntl
import hashlib
import os
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Protocol

from sqlalchemy import create_engine, text
from sqlalchemy.pool import NullPool

from backend.config import Settings
from backend.db.session import normalise_url
from backend.errors import Conflict


class WorkerLock(Protocol):
    name: str

    def acquire(self) -> bool: ...

    def still_held(self) -> bool: ...

    def release(self) -> None: ...


def lock_key(name: str) -> int:
    """A stable signed 64-bit advisory lock key per worker name."""
    digest = hashlib.sha256(f"loanchain-worker:{name}".encode()).digest()
    return int.from_bytes(digest[:8], "big", signed=True)


# The lock is freed only when the server drops its holder's connection. A holder that crashes closes
# it at once; a holder whose host dies or is cut off would keep it until TCP gives up (2 h 10 min with
# the kernel's and server's defaults). Keepalives on the server's side of this one connection end
# it after 10 s idle + 3 probes 5 s apart (~25 s; tcp_user_timeout bounds unacknowledged data at
# 30 s); on the client's side they let a holder cut off from the server notice it as soon: its
# still_held() query, never acknowledged, fails at the TCP user timeout. The statement timeout bounds
# the other case, a server that answers but hangs on the query. (Linux's behaviour with these values;
# tests/workers/test_locks.py checks the sockets carry them, but drops no packets to watch it.)
KEEPALIVE_IDLE, KEEPALIVE_INTERVAL, KEEPALIVE_COUNT = 10, 5, 3
TCP_USER_TIMEOUT_MS, STATEMENT_TIMEOUT_MS, CONNECT_TIMEOUT_S = 30_000, 5_000, 5
LOCK_CONNECT_ARGS = {
    "keepalives": 1, "keepalives_idle": KEEPALIVE_IDLE, "keepalives_interval": KEEPALIVE_INTERVAL,
    "keepalives_count": KEEPALIVE_COUNT, "tcp_user_timeout": TCP_USER_TIMEOUT_MS, "connect_timeout": CONNECT_TIMEOUT_S,
    "options": f"-c tcp_keepalives_idle={KEEPALIVE_IDLE} -c tcp_keepalives_interval={KEEPALIVE_INTERVAL} "
               f"-c tcp_keepalives_count={KEEPALIVE_COUNT} -c tcp_user_timeout={TCP_USER_TIMEOUT_MS} "
               f"-c statement_timeout={STATEMENT_TIMEOUT_MS}",
}  # fmt: skip


class PostgresAdvisoryLock:
    def __init__(self, url: str, name: str) -> None:
        self.name = name
        self.key = lock_key(name)
        # Its own engine without a pool: the lock lives exactly as long as this one connection.
        self._engine = create_engine(normalise_url(url), poolclass=NullPool, connect_args=LOCK_CONNECT_ARGS)
        self._conn = None

    def acquire(self) -> bool:
        if self._conn is None:
            self._conn = self._engine.connect().execution_options(isolation_level="AUTOCOMMIT")
        got = self._conn.execute(text("SELECT pg_try_advisory_lock(:key)"), {"key": self.key}).scalar()
        if not got:
            self._close()
        return bool(got)

    def still_held(self) -> bool:
        if self._conn is None:
            return False
        try:
            held = self._conn.execute(
                text(
                    "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND granted "
                    "AND objsubid = 1 AND pid = pg_backend_pid() AND ((classid::bigint << 32) | objid::bigint) = :key"
                ),
                {"key": self.key},
            ).scalar()
        except Exception:  # the connection is gone, and with it the lock
            self._close()
            return False
        return bool(held)

    def release(self) -> None:
        if self._conn is None:
            return
        try:
            self._conn.execute(text("SELECT pg_advisory_unlock(:key)"), {"key": self.key})
        except Exception:
            pass
        self._close()

    def _close(self) -> None:
        if self._conn is not None:
            try:
                self._conn.close()
            except Exception:
                pass
            self._conn = None


class FileLock:
    def __init__(self, directory, name: str) -> None:
        self.name = name
        self.path = directory / f"{name}.lock"
        self._fd: int | None = None

    def acquire(self) -> bool:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            return False
        os.ftruncate(fd, 0)
        os.write(fd, f"{os.getpid()}\n".encode())
        self._fd = fd
        return True

    def still_held(self) -> bool:
        return self._fd is not None

    def release(self) -> None:
        if self._fd is not None:
            fcntl.flock(self._fd, fcntl.LOCK_UN)
            os.close(self._fd)
            self._fd = None


def make_lock(settings: Settings, name: str) -> WorkerLock:
    url = normalise_url(settings.database_url)
    if url.startswith("postgresql"):
        return PostgresAdvisoryLock(url, name)
    return FileLock(settings.var_dir / "locks", name)


@contextmanager
def exclusive(settings: Settings, name: str) -> Iterator[None]:
    """Hold worker `name`'s lock for a one-off job (CLI), or fail if an instance runs."""
    lock = make_lock(settings, name)
    if not lock.acquire():
        raise Conflict(f"the {name} worker is running elsewhere (it holds the {name} lock); stop it first")
    try:
        yield
    finally:
        lock.release()
