"""One backup at a time into a directory: an exclusive `flock` on `<dir>/.taking.lock`.

The `backup` worker's lock is checked between rounds, not within one: a holder whose PostgreSQL lock
connection dropped mid-round finishes it beside the standby that took over, and `loanchain backup
create` runs beside the worker. Two backups at once would both rotate the KYC master key after the
same erasures, write their state files over each other, and (in the same second) the same
`.partial` file. The files are the directory's, so the guard is too: the kernel frees it when its
holder dies, and it holds across hosts only where the directory is shared with working locks."""

from __future__ import annotations

import fcntl
import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path


@contextmanager
def taking(directory: Path) -> Iterator[bool]:
    """Hold the directory's backup lock for the block, yielding True; False, at once, while another holds it."""
    directory.mkdir(parents=True, exist_ok=True, mode=0o700)  # as create_backup makes it
    fd = os.open(directory / ".taking.lock", os.O_RDWR | os.O_CREAT, 0o600)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            yield False
            return
        try:
            yield True
        finally:
            fcntl.flock(fd, fcntl.LOCK_UN)
    finally:
        os.close(fd)
