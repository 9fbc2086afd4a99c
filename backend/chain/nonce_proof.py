"""Proof that an intent's nonce went to another transaction: the only case in which the outbox
re-signs an intent at a fresh nonce (anything less could send the same call twice)."""

from __future__ import annotations

import logging

import rlp
from eth_account.typed_transactions import TypedTransaction
from hexbytes import HexBytes
from web3 import Web3
from web3.exceptions import Web3RPCError

from backend.chain.models import Intent, IntentStatus
from backend.config import Settings

log = logging.getLogger("loanchain.outbox")


def resolve_consumed_nonce(settings: Settings, w3: Web3, intent: Intent, head: int) -> bool:
    """Our nonce is used on chain but our hash has no receipt. Re-sign only with proof that the
    nonce went to a different transaction in a block at confirmation depth. True when the
    transaction there turned out to be the intent's own call under a hash the record did not
    keep: it is adopted (the caller looks up its receipt)."""
    safe_block = head - settings.confirmations
    if safe_block < 0:
        return False
    try:
        used = w3.eth.get_transaction_count(intent.sender, "latest" if safe_block == head else safe_block)
    except Web3RPCError:  # no historical state at that depth: wait until it is available
        intent.error = f"nonce {intent.nonce} looks consumed; waiting for block {safe_block} to prove by what"
        return False
    if used <= intent.nonce:
        return False  # not deep enough yet
    block_number = _block_consuming_nonce(w3, intent.sender, intent.nonce, safe_block)
    if block_number is None:
        intent.error = "nonce consumed but the node cannot show by which transaction; waiting"
        return False
    block = w3.eth.get_block(block_number, full_transactions=True)
    ours = [tx for tx in block["transactions"] if tx["from"] == intent.sender and tx["nonce"] == intent.nonce]
    if not ours:
        intent.error = f"nonce {intent.nonce} consumed in block {block_number} by no visible transaction; waiting"
        return False
    if ours[0]["hash"].to_0x_hex() in {intent.tx_hash, *(intent.replaced_tx_hashes or [])}:
        return False  # it is ours after all (perhaps an earlier fee level); the receipt will show up
    other = ours[0]["hash"].to_0x_hex()
    if call_of_tx(ours[0]) == _call_of_raw(intent.raw_tx):
        # Our signer, our nonce, our call: one of the intent's own fee levels whose hash the record
        # lost (two senders bumping at once overwrote it). Re-signing would run the call twice.
        log.warning("intent %s: nonce %s taken by %s, the intent's own call under a hash not on record; adopted",
                    intent.key, intent.nonce, other)  # fmt: skip
        intent.replaced_tx_hashes = [*(intent.replaced_tx_hashes or []), intent.tx_hash]
        intent.tx_hash = other
        # Its own bytes, so a re-broadcast (the node lost the block) recreates this very hash; on a node
        # without the method the bytes kept make the same call at the same nonce.
        intent.raw_tx = raw_tx_of(w3, other) or intent.raw_tx
        intent.error = None
        return True
    log.warning("intent %s: nonce %s taken by %s; re-signing", intent.key, intent.nonce, other)
    intent.replaced_tx_hashes = [*(intent.replaced_tx_hashes or []), intent.tx_hash]
    intent.status = IntentStatus.PENDING
    intent.nonce = intent.tx_hash = intent.raw_tx = intent.sent_at = intent.next_attempt_at = None
    intent.error = f"nonce taken by transaction {other}; re-signed at a fresh nonce"
    return False


Call = tuple[str, bytes, int]  # to (lower-case hex, "" for a deployment), input data, value


def call_of_tx(tx) -> Call:
    """The call a transaction as the node returns it makes."""
    return ((tx.get("to") or "").lower(), bytes(HexBytes(tx.get("input") or b"")), int(tx.get("value") or 0))


def _call_of_raw(raw_tx: str | None) -> Call | None:
    """The call an intent's signed bytes make (every fee level of an intent makes the same one)."""
    if not raw_tx:
        return None
    raw = HexBytes(raw_tx)
    if raw[0] < 0xC0:  # typed envelope (EIP-2718)
        fields = TypedTransaction.from_bytes(raw).as_dict()
        to, data, value = fields.get("to") or b"", fields.get("data") or b"", fields.get("value") or 0
    else:  # legacy: rlp [nonce, gasPrice, gas, to, value, data, v, r, s]
        _nonce, _price, _gas, to, value, data, *_sig = rlp.decode(bytes(raw))
        value = int.from_bytes(value, "big")
    return (HexBytes(to).to_0x_hex().lower() if to else "", bytes(data), int(value))


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


def raw_tx_of(w3: Web3, tx_hash: str) -> str | None:
    """A transaction's signed bytes, or None from a node without eth_getRawTransactionByHash."""
    try:
        return w3.eth.get_raw_transaction(tx_hash).to_0x_hex()
    except Exception:  # noqa: BLE001 - whatever the node answers, the caller has its fallback
        return None
