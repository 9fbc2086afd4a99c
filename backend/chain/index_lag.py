"""How far the chain index is behind the chain itself, judged against the node's confirmed head
(latest − `confirmations`, the block the indexer itself indexes up to), never against the index's
own checkpoint: an index taken back to an earlier block and kept stopped agrees with the chain up
to its checkpoint, so only the chain's head can say it is stale.

An honest index is behind too, while its indexer runs: a block becomes due once it is confirmed,
and the next round takes it. So the lag is measured as how long the oldest confirmed block the
index lacks has been due (since the block that confirmed it was mined, by the chain's clock or the
wall clock, whichever is later), and the index is *current* while that is within
`index_stale_after` seconds. Blocks alone would not do: chains mint them at very different rates."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass

from backend.chain.client import get_web3, reading
from backend.config import Settings


@dataclass(frozen=True)
class IndexLag:
    indexed: int | None  # the index's checkpoint
    latest: int
    confirmations: int
    confirmed: int  # latest - confirmations
    blocks: int  # confirmed blocks the index lacks
    seconds: int  # how long the oldest of them has been due (0 when there is none)
    tolerance: float

    @property
    def current(self) -> bool:
        return self.seconds <= self.tolerance

    def describe(self) -> str:
        head = f"the confirmed head {self.confirmed} (latest {self.latest} − {self.confirmations} confirmations)"
        if self.blocks == 0:
            return f"the index is at {head}"
        verdict = "within" if self.current else "past"
        return (f"the index is at block {self.indexed}, {self.blocks} blocks behind {head}; the oldest block it lacks "
                f"has been due for {self.seconds} s, {verdict} the {self.tolerance:g} s a running indexer may take "
                "(LOANCHAIN_INDEX_STALE_AFTER)")  # fmt: skip


def index_lag(settings: Settings, indexed: int | None, clock: Callable[[], float] = time.time) -> IndexLag:
    """The index at block `indexed` (None: nothing indexed) against the node's confirmed head."""
    w3, depth = get_web3(settings), settings.confirmations
    with reading("the chain's head"):
        latest = w3.eth.get_block("latest")
        confirmed = max(latest["number"] - depth, 0)
        last = -1 if indexed is None else indexed
        seconds = 0
        if last < confirmed:
            # Block last + 1 became due for indexing when block last + 1 + depth was mined.
            due = w3.eth.get_block(last + 1 + depth)["timestamp"]
            seconds = max(0, int(max(clock(), latest["timestamp"]) - due))
    return IndexLag(indexed, latest["number"], depth, confirmed, max(confirmed - last, 0), seconds,
                    settings.index_stale_after)  # fmt: skip
