"""The chain index checked against the node: the index is the platform's own copy of the chain,
and nothing an auditor is shown from it should have to be taken on trust.

The logs are fetched again by RPC, decoded exactly as the indexer decodes them, and compared
with `chain_events` row by row, keyed by their place in the chain (block number, log index):
a log the index lacks is *missing*, a row the chain lacks is *extra* (an invented event), and a
row whose transaction, block, contract, event or arguments differ is *altered*, with the fields
named. `verify_index` does this for a block range of every followed contract and, over the whole
indexed range, compares the projections with a fresh fold of the chain's own logs.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import delete, select
from sqlalchemy.orm import Session
from web3 import Web3

from backend.chain import loan_token
from backend.chain.client import blocks_by_number, get_web3, reading
from backend.chain.indexer import CHECKPOINT, Followed, Indexer, followed_contracts, read_logs
from backend.chain.models import ChainEvent, IndexerCheckpoint
from backend.chain.projections import PROJECTIONS, EventSubjects, apply_all, event_subjects, reset_all
from backend.config import Settings
from backend.db.session import begin_write, session_scope

# What the indexer stores of a log besides its place; every one of them is compared.
EVENT_FIELDS = ("tx_hash", "tx_index", "block_hash", "block_timestamp", "contract", "address", "event", "args")
LOAN_ARGS = ("loanId", "id", "ids")  # where `event_subjects` reads the loans an event is about
SURROGATE = ("id", "event_id")  # row ids of the index database, not facts of the chain


@dataclass(frozen=True)
class Difference:
    kind: str  # missing (on chain, not indexed) | extra (indexed, not on chain) | altered
    block_number: int
    log_index: int
    tx_hash: str
    event: str
    detail: str

    def __str__(self) -> str:
        return f"{self.kind} {self.event} at block {self.block_number} log {self.log_index} (tx {self.tx_hash}): {self.detail}"


# ---------------------------------------------------------------------------- comparing


def _leaf(value: Any) -> Any:
    """Integers are stored as ints or, beyond 2**53, as decimal strings: the same number either way."""
    if isinstance(value, str) and value.isdigit():
        return int(value)
    return value


def arg_differences(indexed: Any, on_chain: Any, path: str = "") -> list[str]:
    """`path: index X, chain Y` for every argument (nested in structs and arrays) that differs."""
    if isinstance(indexed, dict) and isinstance(on_chain, dict):
        keys = list(on_chain) + [k for k in indexed if k not in on_chain]
        return [d for k in keys for d in arg_differences(indexed.get(k), on_chain.get(k), f"{path}.{k}" if path else k)]
    if isinstance(indexed, list) and isinstance(on_chain, list) and len(indexed) == len(on_chain):
        return [d for i, (a, b) in enumerate(zip(indexed, on_chain)) for d in arg_differences(a, b, f"{path}[{i}]")]
    if _leaf(indexed) != _leaf(on_chain):
        return [f"{path or 'args'}: index {indexed!r}, chain {on_chain!r}"]
    return []


def event_differences(indexed: Iterable[ChainEvent], on_chain: Iterable[ChainEvent]) -> list[Difference]:
    """The index's rows against the chain's logs, paired by (block number, log index)."""
    mine = {(e.block_number, e.log_index): e for e in indexed}
    theirs = {(e.block_number, e.log_index): e for e in on_chain}
    found = []
    for key in sorted(mine.keys() | theirs.keys()):
        row, log = mine.get(key), theirs.get(key)
        if row is None:
            found.append(Difference("missing", *key, log.tx_hash, log.event, "on chain, not in the index"))
        elif log is None:
            found.append(Difference("extra", *key, row.tx_hash, row.event, "in the index, no such log on chain"))
        else:
            fields = [d for name in EVENT_FIELDS for d in _field_differences(name, getattr(row, name), getattr(log, name))]
            if fields:
                found.append(Difference("altered", *key, log.tx_hash, log.event, "; ".join(fields)))
    return found


def _field_differences(name: str, indexed: Any, on_chain: Any) -> list[str]:
    if name == "args":
        return arg_differences(indexed, on_chain)
    return [] if indexed == on_chain else [f"{name}: index {indexed!r}, chain {on_chain!r}"]


# ---------------------------------------------------------------------------- fetching


def _block_times(w3: Web3, numbers: Iterable[int]) -> dict[int, int]:
    return {n: block["timestamp"] for n, block in blocks_by_number(w3, numbers).items()}


def fetch_events(settings: Settings, followed: Followed, filters: Sequence[dict], start: int, end: int,
                 *, by_batch: bool = False, keep: Callable[[Any], bool] | None = None) -> list[ChainEvent]:  # fmt: skip
    """The logs matching any of `filters` (`address` and `topics`) in blocks [start, end], decoded
    as the indexer decodes them (unsaved `ChainEvent`s), in chain order. `by_batch`: in the
    indexer's ranges (for unfiltered reads of everything); else a topic-filtered read of the
    whole range at once, split only if the node refuses it. `keep`: a sift of the raw logs, so
    that only those it keeps cost a block read and a decode."""
    w3, logs, batch = get_web3(settings), {}, settings.indexer_batch_blocks
    with reading("the chain's logs"):
        for first in range(start, end + 1, batch if by_batch else max(end - start + 1, 1)):
            last = min(end, first + batch - 1) if by_batch else end
            for query in filters:
                for lg in read_logs(w3, query, first, last):
                    if keep is None or keep(lg):
                        logs[(lg["blockNumber"], lg["logIndex"])] = lg
        times = _block_times(w3, (n for n, _ in logs))
    decoded = (Indexer._decode(followed, logs[key], times[key[0]]) for key in sorted(logs))
    return [ev for ev in decoded if ev is not None]


def _disbursed_before(settings: Settings, followed: Followed, block: int, wallets: Iterable[str] | None = None
                      ) -> dict[str, list[loan_token.Disbursal]]:  # fmt: skip
    """Each borrower wallet's `LoanDisbursed` up to `block`, read from the node by topic (of `wallets`
    only, when given: the borrower is LoanDisbursed's second indexed argument)."""
    if followed.book is None or block < followed.start_block:
        return {}
    topic0 = "0x" + loan_token.DISBURSED_TOPIC.hex()
    if wallets is None:
        filters = [{"address": followed.book, "topics": [topic0]}]
    else:
        filters = [{"address": followed.book, "topics": [topic0, None, [loan_token.topic_of(w) for w in chunk]]}
                   for chunk in _chunked(sorted(set(wallets)), loan_token.SENDERS_PER_QUERY)]  # fmt: skip
    if not filters:
        return {}
    return disbursals_of(fetch_events(settings, followed, filters, followed.start_block, block))


def disbursals_of(events: Iterable[ChainEvent]) -> dict[str, list[loan_token.Disbursal]]:
    """The `LoanDisbursed` among decoded `events`, by borrower wallet, in chain order."""
    found: dict[str, list[loan_token.Disbursal]] = {}
    for ev in sorted(events, key=lambda e: (e.block_number, e.log_index)):
        if (ev.contract, ev.event) == ("LoanBook", "LoanDisbursed"):
            found.setdefault(ev.args["borrower"], []).append(((ev.block_number, ev.log_index), int(ev.args["startTime"])))
    return found


def _chunked(items: list, size: int) -> list[list]:
    return [items[i : i + size] for i in range(0, len(items), size)]


def token_events(settings: Settings, followed: Followed, events: Iterable[ChainEvent], start: int, end: int,
                 known: Mapping[str, list[loan_token.Disbursal]] | None = None) -> list[ChainEvent]:  # fmt: skip
    """The loan token's logs of blocks [start, end] that the indexer keeps (`loan_token.py`), read
    from the node, given the chain's own `events` of the platform's contracts in the range, and the
    disbursals `known` before it (None: read from the node too)."""
    if followed.token is None or start > end:
        return []
    if known is None:
        known = _disbursed_before(settings, followed, start - 1)
    disbursals = loan_token.joined(known, disbursals_of(events))
    w3 = get_web3(settings)
    times: dict[int, int] = {}

    def timed_logs(query: dict) -> list:
        # Split while refused, as the indexer's read: the borrowers' traffic, not ours, sizes the answer.
        logs = read_logs(w3, query, start, end)
        times.update(_block_times(w3, {lg["blockNumber"] for lg in logs} - times.keys()))  # in batches
        return logs

    with reading("the loan token's transfers"):
        logs = loan_token.borrower_transfers(timed_logs, followed.token, disbursals, followed.addresses, times.__getitem__)
    logs = sorted(logs, key=lambda lg: (lg["blockNumber"], lg["logIndex"]))
    return [Indexer._decode(followed, lg, times[lg["blockNumber"]]) for lg in logs]


def _topic(value: int) -> str:
    return "0x" + value.to_bytes(32, "big").hex()


def _loan_filters(followed: Followed, loan_id: int) -> list[dict]:
    """Filters for every log that can name the loan, of the contracts whose events a loan's trace
    holds: by topic where the loan id is indexed, else by event (then sifted once decoded)."""
    by_position: dict[tuple[str, int | None], list[str]] = {}
    for address, (name, events) in followed.by_address.items():
        if not EventSubjects().wants(ChainEvent(contract=name)):
            continue
        for topic0, abi in events.items():
            names = [i["name"] for i in abi["inputs"]]
            if not set(LOAN_ARGS) & set(names):
                continue
            indexed = [i["name"] for i in abi["inputs"] if i.get("indexed")]
            position = indexed.index("loanId") + 1 if "loanId" in indexed else None
            by_position.setdefault((address, position), []).append("0x" + topic0.hex())
    filters = []
    for (address, position), topics0 in sorted(by_position.items(), key=repr):
        topics: list = [sorted(topics0)]
        if position is not None:
            topics += [None] * (position - 1) + [_topic(loan_id)]
        filters.append({"address": address, "topics": topics})
    return filters


def _may_name(loan_id: int) -> Callable[[Any], bool]:
    """Whether a raw log can name the loan: its id as an indexed argument (a topic after the
    event's own) or in the log's data, where the ABI puts each uint256, an array's elements too, at
    an offset that is a multiple of 32 bytes. A log this drops names no such loan, so sifting with
    it before the decode changes nothing `event_subjects` decides; it spares the block read and the
    decode of every other loan's note transfers (ERC-1155 `TransferSingle`/`TransferBatch` carry
    their ids in the data, so no topic filter can leave them out)."""
    word = loan_id.to_bytes(32, "big")

    def keep(lg: Any) -> bool:
        if any(bytes(t) == word for t in lg["topics"][1:]):
            return True
        data, at = bytes(lg["data"]), -1
        while (at := data.find(word, at + 1)) != -1:
            if at % 32 == 0:
                return True
        return False

    return keep


def loan_events_on_chain(settings: Settings, loan_id: int, to_block: int) -> list[ChainEvent]:
    """Every log up to `to_block` that the index would file under the loan (`event_subjects`),
    read from the node. Its `LoanCreated` is looked for from the deployment on (by topic: cheap);
    nothing about the loan can come before it."""
    followed = followed_contracts(settings)
    book = next((a for a, (name, _) in followed.by_address.items() if name == "LoanBook"), None)
    if book is None:
        return []
    created_topic = next("0x" + t.hex() for t, abi in followed.by_address[book][1].items() if abi["name"] == "LoanCreated")
    created = fetch_events(settings, followed, [{"address": book, "topics": [created_topic, _topic(loan_id)]}],
                           followed.start_block, to_block)  # fmt: skip
    if not created:
        return []
    found = fetch_events(settings, followed, _loan_filters(followed, loan_id), created[0].block_number, to_block,
                         keep=_may_name(loan_id))  # fmt: skip
    return [ev for ev in found if loan_id in event_subjects(ev)[0]]


def receipt_events(settings: Settings, tx_hash: str) -> tuple[dict | None, list[ChainEvent]]:
    """The transaction's receipt (None when the node has no such mined transaction) and its logs
    of followed contracts, decoded as the indexer decodes them."""
    from web3.exceptions import TransactionNotFound

    followed, w3 = followed_contracts(settings), get_web3(settings)
    with reading(f"the receipt of {tx_hash}"):
        try:
            receipt = w3.eth.get_transaction_receipt(tx_hash)
        except TransactionNotFound:
            return None, []
        timestamp = w3.eth.get_block(receipt["blockNumber"])["timestamp"]
    logs = [lg for lg in receipt["logs"] if Web3.to_checksum_address(lg["address"]) != followed.token]
    if len(logs) < len(receipt["logs"]):
        logs += _kept_token_logs(settings, followed, receipt, timestamp)
    decoded = (Indexer._decode(followed, lg, timestamp) for lg in sorted(logs, key=lambda lg: lg["logIndex"]))
    return dict(receipt), [ev for ev in decoded if ev is not None]


def _kept_token_logs(settings: Settings, followed: Followed, receipt, timestamp: int) -> list:
    """The receipt's logs of the loan token that the index keeps: out of a wallet disbursed to within
    the follow window before them (LoanDisbursed read from the node by topic), into no platform contract."""
    mine = [lg for lg in receipt["logs"] if Web3.to_checksum_address(lg["address"]) == followed.token
            and len(lg["topics"]) == 3 and bytes(lg["topics"][0]) == loan_token.TRANSFER_TOPIC]  # fmt: skip
    senders = {Web3.to_checksum_address(bytes(lg["topics"][1])[-20:]) for lg in mine}
    disbursed = _disbursed_before(settings, followed, receipt["blockNumber"], senders)

    def from_receipt(query: dict) -> list:
        return [lg for lg in mine if "0x" + bytes(lg["topics"][1]).hex() in query["topics"][1]]

    return loan_token.borrower_transfers(from_receipt, followed.token, disbursed, followed.addresses,
                                         lambda _block: timestamp)  # fmt: skip


# ---------------------------------------------------------------------------- the whole index


@dataclass
class IndexVerification:
    from_block: int
    to_block: int
    indexed_through: int | None  # the index's checkpoint
    events_on_chain: int
    events_indexed: int
    differences: list[Difference] = field(default_factory=list)
    projections_checked: bool = False
    projection_differences: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    confirmed_head: int | None = None  # the chain's latest block − confirmations, when it was read
    lag_blocks: int = 0  # confirmed blocks the index lacks
    lag_seconds: int = 0  # how long the oldest of them has been due (backend/chain/index_lag.py)
    current: bool = True  # within LOANCHAIN_INDEX_STALE_AFTER of the confirmed head (judged when the range reaches it)
    lag: str = ""  # the same, in words
    not_indexed_yet: list[Difference] = field(default_factory=list)  # logs past the checkpoint the index lacks

    @property
    def ok(self) -> bool:
        return not self.differences and not self.projection_differences and self.current


def verify_index(settings: Settings, from_block: int | None = None, to_block: int | None = None) -> IndexVerification:
    """Re-fetch the logs of every followed contract in [from_block, to_block] (by default up to the
    chain's confirmed head, not the index's checkpoint: an index taken back and kept stopped agrees
    with the chain up to there) and compare them with `chain_events`. Logs past the checkpoint that
    the index lacks are *not indexed yet*, not differences; the index must then be current
    (`index_lag`). Over the whole range, also compare every projection with a fresh fold of the
    logs up to the checkpoint (in a savepoint that is rolled back)."""
    from backend.chain.index_lag import index_lag

    followed = followed_contracts(settings)
    with session_scope(settings) as session:
        cp = session.get(IndexerCheckpoint, CHECKPOINT)
        indexed_through = cp.block_number if cp else None
    notes: list[str] = []
    start = followed.start_block if from_block is None else max(from_block, followed.start_block)
    if indexed_through is None:
        return IndexVerification(start, start - 1, None, 0, 0, notes=[
            "nothing is indexed yet: the platform's indexer (or, with the platform stopped, `loanchain index sync`) indexes the chain"])
    lag = index_lag(settings, indexed_through)
    reach = max(lag.confirmed, indexed_through)
    end = reach if to_block is None else min(to_block, reach)
    if to_block is not None and to_block > reach:
        notes.append(f"the chain is confirmed only through block {lag.confirmed}: checked up to {end}")
    everything = [{"address": followed.addresses}] if followed.addresses else []
    on_chain = fetch_events(settings, followed, everything, start, end, by_batch=True) if start <= end else []
    on_chain += token_events(settings, followed, on_chain, start, end)
    whole = start == followed.start_block and to_block is None
    with session_scope(settings) as session:
        if whole:
            # Hold the indexer back while the projections are read and folded (its round updates
            # the checkpoint last), and take in what it indexed since the logs were fetched.
            begin_write(session, IndexerCheckpoint)
            now = session.get(IndexerCheckpoint, CHECKPOINT, with_for_update=True).block_number
            if now > end:
                later = fetch_events(settings, followed, everything, end + 1, now, by_batch=True)
                on_chain += later + token_events(settings, followed, later, end + 1, now, disbursals_of(on_chain))
                end = now
            if now != indexed_through:
                indexed_through, lag = now, index_lag(settings, now)
        on_chain.sort(key=lambda e: (e.block_number, e.log_index))
        indexed = list(session.scalars(select(ChainEvent).where(ChainEvent.block_number.between(start, end))
                                       .order_by(ChainEvent.block_number, ChainEvent.log_index)))  # fmt: skip
        differences = event_differences(indexed, on_chain)
        pending = [d for d in differences if d.kind == "missing" and d.block_number > indexed_through]
        report = IndexVerification(start, end, indexed_through, len(on_chain), len(indexed),
                                   [d for d in differences if d not in pending], notes=notes,
                                   confirmed_head=lag.confirmed, lag_blocks=lag.blocks, lag_seconds=lag.seconds,
                                   lag=lag.describe(), not_indexed_yet=pending)  # fmt: skip
        if end > indexed_through:  # the range reaches past the checkpoint: is the index keeping up?
            report.current = lag.current
        if whole:
            report.projections_checked = True
            folded = [e for e in on_chain if e.block_number <= indexed_through]
            report.projection_differences = projection_differences(session, folded)
        else:
            notes.append("projections are compared with a fresh fold only over the whole indexed range "
                         "(no --from-block/--to-block): each folds every event from the deployment on")  # fmt: skip
    return report


def _state(session: Session) -> dict[str, list[dict]]:
    models = {m for projection in PROJECTIONS for m in projection.models}
    state = {}
    for model in sorted(models, key=lambda m: m.__tablename__):
        columns = [c.key for c in model.__table__.columns if c.key not in SURROGATE]
        state[model.__tablename__] = [{c: getattr(r, c) for c in columns} for r in session.scalars(select(model))]
    return state


def _keys(table: str) -> list[str]:
    model = next(m for p in PROJECTIONS for m in p.models if m.__tablename__ == table)
    keys = [c.key for c in model.__table__.primary_key.columns]
    return [] if set(keys) & set(SURROGATE) else keys


def projection_differences(session: Session, on_chain: list[ChainEvent]) -> list[str]:
    """Every projection row that differs from what folding the chain's own logs from scratch gives,
    named by table and key. The fold runs in a savepoint that is always rolled back."""
    before = _state(session)
    savepoint = session.begin_nested()
    try:
        reset_all(session)
        session.execute(delete(ChainEvent))
        session.flush()
        for log in on_chain:
            fresh = ChainEvent(**{c.key: getattr(log, c.key) for c in ChainEvent.__table__.columns if c.key != "id"})
            session.add(fresh)
            session.flush()
            apply_all(session, fresh)
        session.flush()
        after = _state(session)
    finally:
        savepoint.rollback()
    found = []
    for table in before:
        found += _table_differences(table, _keys(table), before[table], after[table])
    return found


def _table_differences(table: str, keys: list[str], indexed: list[dict], folded: list[dict]) -> list[str]:
    if not keys:  # one row per event: rows are compared whole
        a = Counter(tuple(sorted(r.items(), key=lambda kv: kv[0])) for r in indexed)
        b = Counter(tuple(sorted(r.items(), key=lambda kv: kv[0])) for r in folded)
        return ([f"{table}: row {dict(row)} in the index, not in a fresh fold" for row in (a - b).elements()]
                + [f"{table}: row {dict(row)} in a fresh fold, not in the index" for row in (b - a).elements()])  # fmt: skip
    mine = {tuple(r[k] for k in keys): r for r in indexed}
    fold = {tuple(r[k] for k in keys): r for r in folded}
    found = []
    for key in sorted(mine.keys() | fold.keys(), key=repr):
        name = ", ".join(f"{k}={v}" for k, v in zip(keys, key))
        row, fresh = mine.get(key), fold.get(key)
        if fresh is None:
            found.append(f"{table} {name}: in the index, not in a fresh fold")
        elif row is None:
            found.append(f"{table} {name}: in a fresh fold, not in the index")
        else:
            changed = [f"{c} index {row[c]!r}, fold {fresh[c]!r}" for c in row if row[c] != fresh[c]]
            if changed:
                found.append(f"{table} {name}: " + "; ".join(changed))
    return found
