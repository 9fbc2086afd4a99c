"""Proof that an intent's nonce went to another transaction: the only case in which the outbox
re-signs an intent at a fresh nonce (anything less could send the same call twice)."""

from __future__ import annotations

import logging

from web3 import Web3
from web3.exceptions import Web3RPCError

from backend.chain.models import Intent, IntentStatus
from backend.config import Settings

log = logging.getLogger("loanchain.outbox")


def resolve_consumed_nonce(settings: Settings, w3: Web3, intent: Intent, head: int) -> None:
    """Our nonce is used on chain but our hash has no receipt. Re-sign only with proof that the
    nonce went to a different transaction in a block at confirmation depth."""
    safe_block = head - settings.confirmations
    if safe_block < 0:
        return
    try:
        used = w3.eth.get_transaction_count(intent.sender, "latest" if safe_block == head else safe_block)
    except Web3RPCError:  # no historical state at that depth: wait until it is available
        intent.error = f"nonce {intent.nonce} looks consumed; waiting for block {safe_block} to prove by what"
        return
    if used <= intent.nonce:
        return  # not deep enough yet
    block_number = _block_consuming_nonce(w3, intent.sender, intent.nonce, safe_block)
    if block_number is None:
        intent.error = "nonce consumed but the node cannot show by which transaction; waiting"
        return
    block = w3.eth.get_block(block_number, full_transactions=True)
    ours = [tx for tx in block["transactions"] if tx["from"] == intent.sender and tx["nonce"] == intent.nonce]
    if not ours:
        intent.error = f"nonce {intent.nonce} consumed in block {block_number} by no visible transaction; waiting"
        return
    if ours[0]["hash"].to_0x_hex() in {intent.tx_hash, *(intent.replaced_tx_hashes or [])}:
        return  # it is ours after all (perhaps an earlier fee level); the receipt will show up
    other = ours[0]["hash"].to_0x_hex()
    log.warning("intent %s: nonce %s taken by %s; re-signing", intent.key, intent.nonce, other)
    intent.replaced_tx_hashes = [*(intent.replaced_tx_hashes or []), intent.tx_hash]
    intent.status = IntentStatus.PENDING
    intent.nonce = intent.tx_hash = intent.raw_tx = intent.sent_at = intent.next_attempt_at = None
    intent.error = f"nonce taken by transaction {other}; re-signed at a fresh nonce"


SCAN_LIMIT = 5_000  # blocks searched one by one when the node keeps no historical state


def _block_consuming_nonce(w3: Web3, address: str, nonce: int, high: int) -> int | None:
    """The block holding `address`'s transaction with `nonce`: binary search over historical
    nonces, or, on a node without historical state, a backward scan of recent blocks."""
    low, top = 0, high
    try:
        while low < top:
            mid = (low + top) // 2
            if w3.eth.get_transaction_count(address, mid) > nonce:
                top = mid
            else:
                low = mid + 1
        return low
    except Web3RPCError:
        pass
    for number in range(high, max(high - SCAN_LIMIT, -1), -1):
        block = w3.eth.get_block(number, full_transactions=True)
        if any(tx["from"] == address and tx["nonce"] == nonce for tx in block["transactions"]):
            return number
    return None
