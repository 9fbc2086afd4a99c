"""CPython's cyclic garbage collector paused through a long computation that keeps what it allocates.

The monitoring rules (`backend/audit/monitoring.py`) read the whole book into ORM rows, tuples and
dicts and hold most of them until they return: the collector then runs a full collection every few
hundred thousand allocations, each walking every live object to find next to nothing (a few thousand
cycles a computation), about 30% of the computation's CPU at 20,000 loans. Reference counting still
frees everything outside a cycle meanwhile, and one collection of the youngest generation when the
last pause ends takes the cycles left: nothing was promoted meanwhile, so it walks only what the
pause allocated and still holds, not the whole process as a full collection would (about 120 ms
of a 1,000-loan book's 280). The collector is the process's: pauses from several threads (the API's shared
computation, a CLI read) are counted, and it is enabled again when the last one ends, and only if it
was enabled before the first."""

from __future__ import annotations

import gc
import threading
from collections.abc import Iterator
from contextlib import contextmanager

_lock = threading.Lock()
_pauses = 0
_resume = False  # whether the collector was enabled when the first pause began


@contextmanager
def collection_paused() -> Iterator[None]:
    global _pauses, _resume
    with _lock:
        if _pauses == 0:
            _resume = gc.isenabled()
            gc.disable()
        _pauses += 1
    try:
        yield
    finally:
        with _lock:
            _pauses -= 1
            last = _pauses == 0 and _resume
            if last:
                gc.enable()
        if last:
            gc.collect(0)  # what the pause allocated is all still in the youngest generation
