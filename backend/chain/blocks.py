"""Finding the block that closed a period of time, for figures read as of that moment."""

from __future__ import annotations

from dataclasses import dataclass

from backend.chain.client import get_web3, reading
from backend.config import Settings


@dataclass(frozen=True)
class BlockRef:
    number: int
    hash: str
    timestamp: int


def last_block_before(settings: Settings, timestamp: int, low: int, high: int) -> BlockRef | None:
    """The last block in [low, high] stamped before `timestamp`, or None when `low` is not; a
    binary search, as block timestamps never decrease."""
    w3 = get_web3(settings)
    with reading("blocks"):
        if w3.eth.get_block(low)["timestamp"] >= timestamp:
            return None
        while low < high:
            middle = (low + high + 1) // 2
            if w3.eth.get_block(middle)["timestamp"] < timestamp:
                low = middle
            else:
                high = middle - 1
        block = w3.eth.get_block(low)
    return BlockRef(low, block["hash"].to_0x_hex(), int(block["timestamp"]))
