"""One block's logs read from its receipts, sifted as eth_getLogs would sift them.

For the one block whose eth_getLogs answer is over a node's cap: the range read cannot be halved
further, and anyone can fill a block with logs of transfers of 0 (the loan token's; LoanBook's notes
on a LoanBook deployed before it refused them), so without another way to read it the indexer
stalled on that block for good. A node
does not cap a block's receipts by how many logs they hold.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from web3 import Web3
from web3.exceptions import Web3Exception

from backend.chain.client import READ_BATCH
from backend.errors import ChainError


def block_logs(w3: Web3, number: int, query: Mapping[str, Any]) -> list:
    """The logs of block `number` that `query` (eth_getLogs' `address` and `topics`) matches, in
    the block's order, all of one block hash: the receipts are read by the hash of the block
    whose transactions they are, so a reorg in between is refused, never mixed."""
    block = w3.eth.get_block(number)
    try:
        receipts = w3.eth.get_block_receipts(block["hash"])
    except (Web3Exception, ValueError):  # a node without eth_getBlockReceipts: one receipt a transaction
        receipts = _receipts_of(w3, list(block["transactions"]))
    mined_here = [r is not None and r["blockHash"] == block["hash"] for r in receipts]
    if len(receipts) != len(block["transactions"]) or not all(mined_here):
        raise ChainError(f"block {number} changed while its receipts were read")
    found = [lg for receipt in receipts for lg in receipt["logs"] if matches(query, lg)]
    return sorted(found, key=lambda lg: lg["logIndex"])


def _receipts_of(w3: Web3, hashes: list) -> list:
    """Each transaction's receipt, `READ_BATCH` to a JSON-RPC batch: a stuffed block holds thousands."""
    receipts = []
    for start in range(0, len(hashes), READ_BATCH):
        with w3.batch_requests() as batch:
            for tx in hashes[start : start + READ_BATCH]:
                batch.add(w3.eth.get_transaction_receipt(tx))
            receipts += batch.execute()
    return receipts


def matches(query: Mapping[str, Any], lg: Mapping[str, Any]) -> bool:
    """eth_getLogs' filter: any of the addresses (none: any); per topic position, None or an empty
    list for any value, else any of a list; a log with fewer topics than the filter names, trailing
    wildcards aside, does not match. None of the platform's filters ends in a wildcard; were one
    to, the wider answer is sifted again by the decoding, where a narrower one would lose a record."""
    addresses = query.get("address")
    if addresses and _lower(lg["address"]) not in {_lower(a) for a in _as_list(addresses)}:
        return False
    topics = [bytes(t).hex() for t in lg["topics"]]
    wanted = [w or None for w in query.get("topics") or []]  # an empty list is a wildcard too
    while wanted and wanted[-1] is None:  # Anvil's reading (geth wants that many topics): the wider one
        wanted.pop()
    if len(wanted) > len(topics):
        return False
    return all(w is None or topics[i] in {_hex(t) for t in _as_list(w)} for i, w in enumerate(wanted))


def _as_list(value: Any) -> Iterable:
    return value if isinstance(value, (list, tuple, set)) else [value]


def _lower(address: str) -> str:
    return str(address).lower()


def _hex(topic: Any) -> str:
    return (topic.hex() if isinstance(topic, (bytes, bytearray)) else str(topic)).removeprefix("0x").lower()
