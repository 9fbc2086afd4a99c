"""An address as the node has it, for the address trace to hold the index against: the logs that
name it, the notes it holds (`LoanBook.balanceOf`) and its attestation (`KYCRegistry`), each read
at a block the caller names.

The logs are read by topic over the whole range at once (`fetch_events`: one request a filter,
split only if the node refuses it), never log by log or transaction by transaction, so a wallet
with many events costs a handful of requests: one per contract and position of an indexed address
argument, and one per contract for the events that carry an address only in their data.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterable, Sequence

from web3 import Web3

from backend.chain.client import read_many
from backend.chain.deploy import deployed_contract
from backend.chain.index_check import fetch_events
from backend.chain.indexer import followed_contracts
from backend.chain.kyc_reader import OnChainAttestation, registry
from backend.chain.models import ChainEvent
from backend.chain.projections import event_subjects
from backend.config import Settings

TOPIC_VALUES = 100  # values OR-ed in one topic position of one filter


def _topic(value: int | str) -> str:
    if isinstance(value, str):  # an address, left-padded to 32 bytes as the EVM indexes it
        return "0x" + "00" * 12 + Web3.to_checksum_address(value)[2:].lower()
    return "0x" + int(value).to_bytes(32, "big").hex()


def _chunks(values: Sequence) -> list[list]:
    return [list(values[i : i + TOPIC_VALUES]) for i in range(0, len(values), TOPIC_VALUES)]


def _filters(wanted: Iterable[tuple[str, bytes, dict]], where: dict[str, Sequence]) -> list[dict]:
    """One filter per contract and shape of topics: the events' signatures OR-ed in topic 0, and
    for each argument of `where` the event indexes, its values at its position. An argument the
    event carries only in its data is not filtered on here (the caller sifts the decoded logs)."""
    shapes: dict[tuple, list[str]] = {}
    for address, topic0, abi in wanted:
        indexed = [i["name"] for i in abi["inputs"] if i.get("indexed")]
        positions = tuple(sorted((indexed.index(name) + 1, tuple(values)) for name, values in where.items()
                                 if name in indexed))  # fmt: skip
        shapes.setdefault((address, positions), []).append("0x" + topic0.hex())
    filters = []
    for (address, positions), topics0 in sorted(shapes.items(), key=repr):
        if any(not values for _, values in positions):
            continue  # nothing can match an empty set of values
        for chosen in itertools.product(*(_chunks(values) for _, values in positions)):
            topics: list = [sorted(topics0)] + [None] * max((p for p, _ in positions), default=0)
            for (position, _), values in zip(positions, chosen):
                topics[position] = [_topic(v) for v in values]
            filters.append({"address": address, "topics": topics})
    return filters


def _matches(ev: ChainEvent, where: dict[str, Sequence]) -> bool:
    def same(a, b) -> bool:
        return str(a).lower() == str(b).lower()

    return all(name in ev.args and any(same(ev.args[name], v) for v in values) for name, values in where.items())


def logs_of(settings: Settings, events: Iterable[tuple[str, str]], to_block: int,
            where: dict[str, Sequence] | None = None, from_block: int | None = None) -> list[ChainEvent]:  # fmt: skip
    """Every log of the (contract, event) pairs in blocks [from_block (default: the deployment),
    to_block] whose arguments named in `where` have one of the values given (addresses or
    integers), decoded as the indexer decodes them, in chain order. Filtered by topic where the
    event indexes the argument."""
    followed, where, events = followed_contracts(settings), where or {}, set(events)
    wanted = [(address, topic0, abi) for address, (name, topics) in followed.by_address.items()
              for topic0, abi in topics.items() if (name, abi["name"]) in events]  # fmt: skip
    start = followed.start_block if from_block is None else from_block
    if not wanted or start > to_block:
        return []
    found = fetch_events(settings, followed, _filters(wanted, where), start, to_block)
    return [ev for ev in found if (ev.contract, ev.event) in events and _matches(ev, where)]


def logs_naming(settings: Settings, address: str, contracts: Iterable[str], to_block: int,
                from_block: int | None = None) -> list[ChainEvent]:  # fmt: skip
    """Every log of `contracts` in blocks [from_block (default: the deployment), to_block] that
    names `address` in a top-level argument (as `event_subjects` reads them, so as the index files
    an event under an address), in chain order.

    Read by topic wherever the event indexes the address argument. NoteMarket's trades carry their
    seller (and `Matched` its buyer) only in their data; each moves that wallet's notes, whose
    ERC-1155 transfer names it by topic, so they are read by their indexed loan id for the loans of
    the logs found first. An event with an unindexed address and no loan id (`Paused`) is read by
    its signature alone: such events are few."""
    followed, contracts, wallet = followed_contracts(settings), set(contracts), Web3.to_checksum_address(address)
    by_topic: list[tuple[str, bytes, dict]] = []
    by_loan: list[tuple[str, bytes, dict]] = []
    by_name: list[tuple[str, bytes, dict]] = []
    for contract, (name, topics) in followed.by_address.items():
        if name not in contracts:
            continue
        for topic0, abi in topics.items():
            addresses = [i for i in abi["inputs"] if i["type"] == "address"]
            if any(i.get("indexed") for i in addresses):
                by_topic.append((contract, topic0, abi))
            if any(not i.get("indexed") for i in addresses):
                loan_indexed = any(i["name"] == "loanId" and i.get("indexed") for i in abi["inputs"])
                (by_loan if loan_indexed else by_name).append((contract, topic0, abi))
    start = followed.start_block if from_block is None else from_block
    if start > to_block:
        return []
    # One filter per contract and position an address argument is indexed at, whatever the event calls it.
    at: dict[tuple[str, int], set[str]] = {}
    for contract, topic0, abi in by_topic:
        indexed = [i for i in abi["inputs"] if i.get("indexed")]
        for position, arg in enumerate(indexed, start=1):
            if arg["type"] == "address":
                at.setdefault((contract, position), set()).add("0x" + topic0.hex())
    filters = [{"address": contract, "topics": [sorted(topics0)] + [None] * (position - 1) + [_topic(wallet)]}
               for (contract, position), topics0 in sorted(at.items())]  # fmt: skip
    filters += _filters(by_name, {})
    found = {(e.block_number, e.log_index): e for e in fetch_events(settings, followed, filters, start, to_block)}
    loans = sorted({loan for e in found.values() if wallet in event_subjects(e)[1] for loan in event_subjects(e)[0]})
    if by_loan and loans:
        more = fetch_events(settings, followed, _filters(by_loan, {"loanId": loans}), start, to_block)
        found.update({(e.block_number, e.log_index): e for e in more})
    return [found[k] for k in sorted(found) if wallet in event_subjects(found[k])[1]]


def note_balances(settings: Settings, holder: str, loan_ids: Iterable[int], block: int) -> dict[int, int]:
    """`LoanBook.balanceOf(holder, id)` for each loan id, at `block`."""
    ids = sorted(set(loan_ids))
    book, holder = deployed_contract(settings, "LoanBook"), Web3.to_checksum_address(holder)
    answers = read_many([book.functions.balanceOf(holder, i) for i in ids], f"the notes of {holder} at block {block}",
                        block)  # fmt: skip
    return {i: int(b) for i, b in zip(ids, answers)}


def attestation_at(settings: Settings, wallet: str, block: int) -> OnChainAttestation:
    """`KYCRegistry.attestationOf(wallet)` at `block` (level 0: none, or revoked: the registry deletes it)."""
    wallet = Web3.to_checksum_address(wallet)
    (level, expires_at, commitment), = read_many([registry(settings).functions.attestationOf(wallet)],
                                                 f"the attestation of {wallet} at block {block}", block)  # fmt: skip
    return OnChainAttestation(wallet, int(level), int(expires_at), "0x" + bytes(commitment).hex())
