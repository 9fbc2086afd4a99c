"""Two worker rounds at once, as when a worker's lock connection drops mid-round and the standby
takes over, or a command is run by hand beside the worker: each round in a thread of its own,
started together, each one's result or exception returned."""

from __future__ import annotations

import threading
from collections.abc import Callable
from itertools import count
from typing import Any


def at_once(*rounds: Callable[[], Any], timeout: float = 120.0) -> list[Any]:
    """Run `rounds` in threads released together; each one's return value, or the exception it raised."""
    start = threading.Barrier(len(rounds))
    results: list[Any] = [None] * len(rounds)

    def run(i: int) -> None:
        start.wait()
        try:
            results[i] = rounds[i]()
        except BaseException as exc:  # noqa: BLE001 - handed back for the test to judge
            results[i] = exc

    threads = [threading.Thread(target=run, args=(i,)) for i in range(len(rounds))]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout)
    assert not any(t.is_alive() for t in threads), "a round never ended"
    return results


class Meeting:
    """A point in a round where it waits for the other round to arrive too, so both have read what
    they plan from before either writes. A round the database holds back before that point (SQLite's
    one writer, a row lock) cannot arrive: after `patience` seconds the other goes on alone."""

    def __init__(self, parties: int = 2, patience: float = 3.0) -> None:
        self._barrier = threading.Barrier(parties, timeout=patience)
        self.met = False

    def __call__(self) -> None:
        try:
            self._barrier.wait()
            self.met = True
        except threading.BrokenBarrierError:
            pass

    def around(self, fn: Callable[..., Any]) -> Callable[..., Any]:
        """`fn`, meeting first at every call."""

        def wrapped(*args: Any, **kwargs: Any) -> Any:
            self()
            return fn(*args, **kwargs)

        return wrapped


def planned_apart(plan: Callable[..., Any], between: Callable[[], None], meeting: Meeting) -> Callable[..., Any]:
    """A keeper's `plan` for two rounds at once: the first round plans, then `between` changes
    something on chain (money moves) and the second round plans, reading other facts (and so
    deriving other keys); then both meet, before either queues what it planned."""
    calls, first_planned = count(), threading.Event()

    def staggered(*args: Any, **kwargs: Any) -> Any:
        if next(calls) == 0:
            planned = plan(*args, **kwargs)
            first_planned.set()
        else:
            assert first_planned.wait(60), "the first round never planned"
            between()
            planned = plan(*args, **kwargs)
        meeting()
        return planned

    return staggered
