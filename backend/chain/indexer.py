"""Follows every loanchain contract's events into SQL, resumable and reorg-safe.

Each round indexes one block range `(checkpoint, min(head - confirmations, checkpoint + batch)]`
in a single database transaction: decoded events, the projections they feed, the hashes of the
range's recent blocks, and the new checkpoint. Before a range is indexed, the checkpoint's
block hash and the range's first parent hash are compared with the chain; on a mismatch the
index rolls back to the newest stored block the chain still has (the common ancestor) and
re-indexes from there. If no stored block matches, it rebuilds from the deploy block.
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

from eth_utils import event_abi_to_log_topic
from sqlalchemy import delete, func, select
from sqlalchemy.orm import Session
from web3 import Web3
from web3._utils.events import get_event_data
from web3.exceptions import Web3Exception

from backend.chain import loan_token
from backend.chain.abi_args import to_json
from backend.chain.block_logs import block_logs
from backend.chain.client import blocks_by_number, get_web3
from backend.chain.compiler import artifact_version, parsed_artifact
from backend.chain.deploy import load_manifest
from backend.chain.models import ChainEvent, IndexedBlock, IndexerCheckpoint
from backend.chain.projection_models import DisbursalRow
from backend.chain.projections import apply_all, refold_all, reset_all, rollback_all
from backend.config import Settings
from backend.db.session import session_scope
from backend.errors import ChainError

log = logging.getLogger("loanchain.indexer")

CHECKPOINT = "main"

# Who may move money or stop the platform: OpenZeppelin AccessControl's and Pausable's events,
# decoded from every followed contract whatever its own ABI says, so a role granted or a pause on
# any of them is in the index for monitoring (backend/audit/monitoring.py) to flag.
_ROLE_ARGS = [{"indexed": True, "name": "role", "type": "bytes32"},
              {"indexed": True, "name": "account", "type": "address"},
              {"indexed": True, "name": "sender", "type": "address"}]  # fmt: skip
GOVERNANCE_EVENTS: list[dict] = [
    {"type": "event", "anonymous": False, "name": "RoleGranted", "inputs": _ROLE_ARGS},
    {"type": "event", "anonymous": False, "name": "RoleRevoked", "inputs": _ROLE_ARGS},
    {"type": "event", "anonymous": False, "name": "RoleAdminChanged", "inputs": [
        {"indexed": True, "name": "role", "type": "bytes32"},
        {"indexed": True, "name": "previousAdminRole", "type": "bytes32"},
        {"indexed": True, "name": "newAdminRole", "type": "bytes32"}]},
    {"type": "event", "anonymous": False, "name": "Paused", "inputs": [{"indexed": False, "name": "account", "type": "address"}]},
    {"type": "event", "anonymous": False, "name": "Unpaused", "inputs": [{"indexed": False, "name": "account", "type": "address"}]},
]  # fmt: skip


@dataclass(frozen=True)
class Followed:
    """The contracts the index follows: address -> (name, topic0 -> event ABI); and the loan token,
    whose transfers out of borrower wallets only are followed (`loan_token.py`)."""

    by_address: dict[str, tuple[str, dict[bytes, dict]]]
    start_block: int
    deployment_hash: str
    token: str | None = None
    # The fingerprints of the same contracts before the token was followed, or under an earlier rule of
    # its transfers: such an index is upgraded where it stands (`index_upgrade.py`), not rebuilt.
    earlier_hashes: tuple[str, ...] = ()

    @property
    def addresses(self) -> list[str]:
        return sorted(self.by_address)

    @property
    def book(self) -> str | None:
        return next((a for a, (name, _) in self.by_address.items() if name == "LoanBook"), None)

    def contract_of(self, address: str) -> tuple[str | None, dict[bytes, dict]]:
        if address == self.token:
            return loan_token.NAME, {loan_token.TRANSFER_TOPIC: loan_token.TRANSFER_EVENT}
        return self.by_address.get(address, (None, {}))


# Part of the deployment's fingerprint: the rule `loan_token.py` keeps the token's transfers by. An
# index made under an earlier one (or before the token was followed) has its transfers read again up to
# its checkpoint, in place (`index_upgrade.py`). 1: transfers of 0 were kept too; 2: every transfer from
# the sender's first disbursal on, however long after. 3: within TOKEN_FOLLOW_DAYS of one (a new
# TOKEN_FOLLOW_DAYS is a new rule, this one then among the earlier ones).
TOKEN_TRANSFERS = "token-transfers:3"
EARLIER_TOKEN_RULES = ("token-transfers:1", "token-transfers:2")


def legacy_fingerprint(manifest: dict) -> str:
    """The fingerprint as the code before migration 0051 took it: every contract of the manifest by name
    and address (the token among them on a local chain). An index under it is upgraded where it stands
    (`index_upgrade.py`), not rebuilt: nothing but the token's transfers is missing from it."""
    contracts = sorted((Web3.to_checksum_address(e["address"]), name) for name, e in manifest["contracts"].items())
    return hashlib.sha256("|".join(f"{name}:{address}" for address, name in contracts).encode()).hexdigest()


ANCHOR = "DocumentAnchor"


def event_topics(settings: Settings, name: str) -> dict[bytes, dict]:
    """topic0 -> event ABI of contract `name`, the governance events included (shared: never modified)."""
    return _topics(artifact_version(settings, name))


@lru_cache(maxsize=32)
def _topics(version: tuple[str, int, int]) -> dict[bytes, dict]:
    """Hashed once per artifact file: every indexer round and trace asks for them."""
    abi = GOVERNANCE_EVENTS + parsed_artifact(version)["abi"]  # the contract's own ABI wins a topic
    return {event_abi_to_log_topic(e): e for e in abi if e.get("type") == "event" and not e.get("anonymous")}


def followed_contracts(settings: Settings) -> Followed:
    manifest = load_manifest(settings, settings.chain_id)
    token = loan_token.token_of(manifest)
    by_address: dict[str, tuple[str, dict[bytes, dict]]] = {}
    for name, entry in sorted(manifest["contracts"].items()):
        address = Web3.to_checksum_address(entry["address"])
        if address == token:
            continue  # MockStablecoin on a local chain: followed as the loan token, as a real one is elsewhere
        by_address[address] = (name, event_topics(settings, name))
    # A replaced DocumentAnchor keeps the roots anchored on it (a month's report binding among them), which
    # stay provable (`verification.replaced_anchors`): the index reads them too. Other replaced contracts
    # are left behind on purpose: the platform follows one deployment.
    replaced = [h["replaced"] for h in manifest.get("history", [])
                if h.get("contract") == ANCHOR and (h.get("replaced") or {}).get("address")]  # fmt: skip
    for entry in replaced:
        address = Web3.to_checksum_address(entry["address"])
        by_address.setdefault(address, (ANCHOR, event_topics(settings, ANCHOR)))
    blocks = [entry.get("block", 0) for entry in [*manifest["contracts"].values(), *replaced]]

    def fingerprint(rule: str) -> str:
        named = [*(f"{name}:{addr}" for addr, (name, _) in sorted(by_address.items())), f"{loan_token.NAME}:{token}"]
        return hashlib.sha256("|".join([*named, rule]).encode()).hexdigest()

    earlier = (legacy_fingerprint(manifest), *map(fingerprint, EARLIER_TOKEN_RULES))
    return Followed(by_address, min(blocks, default=0), fingerprint(TOKEN_TRANSFERS), token, earlier)


@dataclass
class IndexStatus:
    head: int | None
    target: int | None
    indexed: int | None
    lag: int | None
    events: int
    reorgs: int
    start_block: int | None


# One ABI codec for every log (a Web3() a log cost about a millisecond of CPU each: a trace or a
# rebuild decodes hundreds). It holds no state between decodes.
_CODEC = Web3().codec


class Indexer:
    def run_once(self, settings: Settings) -> int:
        """Index the next block range; returns how many blocks it advanced (0 when caught up)."""
        followed = followed_contracts(settings)
        if not followed.by_address:
            return 0
        w3 = get_web3(settings)
        head = w3.eth.block_number
        target = head - settings.confirmations
        with session_scope(settings) as session:
            cp = self._checkpoint(session, followed)
            behind = cp.block_number > head
            reorged = self._reorged_below(w3, session, head) if behind else self._reorged(w3, session, cp)
            if behind and not reorged:
                # A node behind the index (a load-balanced RPC's lagging backend, a fail-over node
                # still syncing) lacks the checkpoint's block without any reorg: wait for it. Only
                # a different hash at a height the node has proves a reorg.
                log.warning("node behind the index: its head is %s, the index is at %s; waiting", head, cp.block_number)
                return 0
            if reorged:
                self._rollback(w3, session, cp, followed)
                return 0
            if cp.deployment_hash != followed.deployment_hash:  # made under an earlier rule of the token's transfers
                from backend.chain.index_upgrade import add_token_transfers  # it reads as index_check does

                add_token_transfers(settings, w3, session, cp, followed)
                return 0
            start = cp.block_number + 1
            if start > target:
                return 0
            end = min(target, start + settings.indexer_batch_blocks - 1)
            if not self._index_range(settings, w3, session, cp, followed, start, end, head):
                log.info("chain changed while indexing blocks %s-%s; retrying", start, end)
                return 0
            return end - start + 1

    def catch_up(self, settings: Settings, max_rounds: int = 10_000) -> int:
        """Index until the checkpoint reaches head - confirmations (tests, CLI)."""
        total = 0
        for _ in range(max_rounds):
            advanced = self.run_once(settings)
            if advanced == 0 and self._caught_up(settings):
                return total
            total += advanced
        raise ChainError("indexer did not catch up")

    def _caught_up(self, settings: Settings) -> bool:
        status = index_status(settings)
        return status.indexed is not None and status.target is not None and status.indexed >= status.target

    # ------------------------------------------------------------------ checkpoint & reorgs

    def _checkpoint(self, session: Session, followed: Followed) -> IndexerCheckpoint:
        cp = session.get(IndexerCheckpoint, CHECKPOINT)
        if cp is not None and cp.deployment_hash in (followed.deployment_hash, *followed.earlier_hashes):
            return cp  # one made before the token's rule of today is upgraded in run_once, not rebuilt
        if cp is not None:
            log.warning("deployment changed: rebuilding the index from block %s", followed.start_block)
        clear_index(session)
        cp = IndexerCheckpoint(
            name=CHECKPOINT, block_number=followed.start_block - 1, block_hash=None,
            deployment_hash=followed.deployment_hash, reorgs=0,
        )  # fmt: skip
        session.add(cp)
        session.flush()
        return cp

    def _reorged(self, w3: Web3, session: Session, cp: IndexerCheckpoint) -> bool:
        if cp.block_hash is None:
            return False
        block = _block_or_none(w3, cp.block_number)
        # Not found at a height the node reports having (a backend of a load-balanced RPC that
        # answers apart): no proof of a reorg, and this round reads nothing new.
        return block is not None and block["hash"].to_0x_hex() != cp.block_hash

    def _reorged_below(self, w3: Web3, session: Session, head: int) -> bool:
        """The node is behind the index: is the highest block both know a different one on it?
        Nothing to compare (the node is behind the whole reorg window) is no proof: not a reorg."""
        stored = session.scalars(
            select(IndexedBlock).where(IndexedBlock.number <= head).order_by(IndexedBlock.number.desc()).limit(1)
        ).first()
        block = _block_or_none(w3, stored.number) if stored is not None else None
        return block is not None and block["hash"].to_0x_hex() != stored.hash

    def _rollback(self, w3: Web3, session: Session, cp: IndexerCheckpoint, followed: Followed) -> None:
        ancestor, ancestor_hash = followed.start_block - 1, None
        head = w3.eth.block_number
        # Blocks above the node's head are not evidence either way: skipped, not counted as lost.
        for stored in session.scalars(
            select(IndexedBlock).where(IndexedBlock.number <= head).order_by(IndexedBlock.number.desc())
        ):
            block = _block_or_none(w3, stored.number)
            if block is not None and block["hash"].to_0x_hex() == stored.hash:
                ancestor, ancestor_hash = stored.number, stored.hash
                break
        log.warning("reorg: index at %s rolls back to common ancestor %s", cp.block_number, ancestor)
        undo_after(session, ancestor)
        cp.block_number, cp.block_hash, cp.reorgs = ancestor, ancestor_hash, cp.reorgs + 1

    # ------------------------------------------------------------------ one range

    def _index_range(
        self, settings: Settings, w3: Web3, session: Session, cp: IndexerCheckpoint,
        followed: Followed, start: int, end: int, head: int,
    ) -> bool:  # fmt: skip
        end_before = w3.eth.get_block(end)["hash"]  # the chain the logs are read from ...
        # Split while the node refuses the answer: how many logs a range holds is not ours to choose.
        logs = read_logs(w3, {"address": followed.addresses}, start, end)
        headers: dict[int, Any] = {}

        def block(n: int):  # each header read once, those the token's read needs the times of included
            if n not in headers:
                headers[n] = w3.eth.get_block(n)
            return headers[n]

        logs += token_transfer_logs(w3, session, followed, logs, start, end, lambda n: block(n)["timestamp"])
        recent_from = max(start, head - settings.indexer_reorg_window)
        wanted = {end, start} | set(range(recent_from, end + 1)) | {lg["blockNumber"] for lg in logs}
        headers.update(blocks_by_number(w3, wanted - headers.keys()))
        if headers[end]["hash"] != end_before:
            return False  # ... is not the chain the headers were read from: a reorg in between
        if cp.block_hash is not None and headers[start]["parentHash"].to_0x_hex() != cp.block_hash:
            return False  # the chain moved under us; the next round's reorg check handles it
        for lg in logs:
            if lg["blockHash"] != headers[lg["blockNumber"]]["hash"]:
                return False

        for lg in sorted(logs, key=lambda x: (x["blockNumber"], x["logIndex"])):
            event = self._decode(followed, lg, headers[lg["blockNumber"]]["timestamp"])
            if event is not None:
                session.add(event)
                session.flush()  # row projections reference the event id
                apply_all(session, event)
        for n, header in headers.items():
            if n >= recent_from or n == end:
                session.merge(IndexedBlock(
                    number=n, hash=header["hash"].to_0x_hex(), parent_hash=header["parentHash"].to_0x_hex(),
                    timestamp=header["timestamp"],
                ))  # fmt: skip
        # Older hashes are only needed to find an ancestor within the reorg window.
        session.execute(delete(IndexedBlock).where(IndexedBlock.number < end - settings.indexer_reorg_window))
        cp.block_number, cp.block_hash = end, headers[end]["hash"].to_0x_hex()
        return True

    @staticmethod
    def _decode(followed: Followed, lg, timestamp: int) -> ChainEvent | None:
        name, topics = followed.contract_of(Web3.to_checksum_address(lg["address"]))
        if not lg["topics"] or name is None:
            return None
        event_abi = topics.get(bytes(lg["topics"][0]))
        if event_abi is None:
            log.warning("unknown event %s from %s", lg["topics"][0].to_0x_hex(), name)
            return None
        data = get_event_data(_CODEC, event_abi, lg)
        return ChainEvent(
            block_number=lg["blockNumber"], block_hash=lg["blockHash"].to_0x_hex(),
            tx_hash=lg["transactionHash"].to_0x_hex(), tx_index=lg["transactionIndex"], log_index=lg["logIndex"],
            contract=name, address=Web3.to_checksum_address(lg["address"]), event=data["event"],
            args=to_json(dict(data["args"])), block_timestamp=timestamp,
        )  # fmt: skip


def token_transfer_logs(w3: Web3, session: Session, followed: Followed, logs: list, start: int, end: int,
                        time_of: Callable[[int], int]) -> list:  # fmt: skip
    """The loan token's logs of blocks [start, end] the index keeps (`loan_token.py`): out of the
    wallets disbursed to within the follow window before the range (as the index has them), and of
    those the range's `logs` disburse to. Split while the node refuses the answer (down to one block,
    then its receipts): how many transfers up to 1,000 borrower wallets make is theirs to choose, and a
    range over a hosted node's cap would otherwise fail every round, the index stalled for everyone."""
    if followed.token is None:
        return []
    # Block times only grow, so a disbursal older than the window before the range's first block
    # follows nothing in it.
    checkpoint = session.get(IndexedBlock, start - 1)  # the range's parent, kept by the last round
    before = checkpoint.timestamp if checkpoint is not None else time_of(start - 1) if start > 0 else 0
    since = before - loan_token.FOLLOW_SECONDS
    known: dict[str, list[loan_token.Disbursal]] = {}
    d = DisbursalRow
    for borrower, block, log_index, start_time in session.execute(
        select(d.borrower, d.block_number, d.log_index, d.start_time).where(d.start_time >= since)
        .order_by(d.block_number, d.log_index)
    ):  # fmt: skip
        known.setdefault(borrower, []).append(((block, log_index), start_time))
    disbursals = loan_token.joined(known, loan_token.disbursals_in(logs, followed.book))
    return loan_token.borrower_transfers(lambda query: read_logs(w3, query, start, end), followed.token, disbursals,
                                         followed.addresses, time_of)  # fmt: skip


def read_logs(w3: Web3, query: dict, start: int, end: int) -> list:
    """One request for the whole range; halved while the node refuses it (hosted nodes cap the
    range or the results of eth_getLogs), down to one block, and a block refused alone is read
    from its receipts (`block_logs`): anyone can fill one with logs of transfers of 0."""
    try:
        return list(w3.eth.get_logs({**query, "fromBlock": start, "toBlock": end}))
    except (Web3Exception, ValueError):
        if start >= end:
            log.warning("the node refused block %s's logs: read from its receipts", start)
            return block_logs(w3, start, query)
        middle = (start + end) // 2
        return read_logs(w3, query, start, middle) + read_logs(w3, query, middle + 1, end)


def _block_or_none(w3: Web3, number: int):
    from web3.exceptions import BlockNotFound

    try:
        return w3.eth.get_block(number)
    except BlockNotFound:
        return None


def undo_after(session: Session, block: int) -> None:
    """Take the index back to `block`: every projection ends as a rebuild up to `block` would leave
    it, and the later events and block hashes are gone. The reorg path, and `index_at`."""
    removed = list(session.scalars(select(ChainEvent).where(ChainEvent.block_number > block)))
    rollback_all(session, block, removed)
    session.execute(delete(ChainEvent).where(ChainEvent.block_number > block))
    session.execute(delete(IndexedBlock).where(IndexedBlock.number > block))
    session.flush()
    refold_all(session, block, removed)


@contextmanager
def index_at(session: Session, block: int, block_hash: str) -> Iterator[None]:
    """The index as it stood at `block` (at most the checkpoint), for reading figures as of a past
    block: `undo_after` inside a savepoint that is always rolled back, so nothing of it outlives
    the `with` and the index is left exactly as it was. On PostgreSQL the rows it touches stay
    locked until then; the indexer's next round waits for them."""
    cp = session.get(IndexerCheckpoint, CHECKPOINT)
    if cp is None or cp.block_number < block:
        raise ChainError(f"the index has not reached block {block} yet")
    savepoint = session.begin_nested()
    try:
        undo_after(session, block)
        cp.block_number, cp.block_hash = block, block_hash
        session.flush()
        yield
    finally:
        savepoint.rollback()


def clear_index(session: Session) -> None:
    """Drop every indexed row (projections first: row projections reference events)."""
    reset_all(session)
    session.execute(delete(ChainEvent))
    session.execute(delete(IndexedBlock))
    session.execute(delete(IndexerCheckpoint))
    session.flush()


def rebuild(settings: Settings) -> int:
    """Drop the index and re-read it from the chain; returns the number of events."""
    with session_scope(settings) as session:
        clear_index(session)
    Indexer().catch_up(settings)
    with session_scope(settings) as session:
        return session.scalar(select(func.count()).select_from(ChainEvent)) or 0


def index_status(settings: Settings, with_chain: bool = True) -> IndexStatus:
    head = target = None
    if with_chain:
        head = get_web3(settings).eth.block_number
        target = max(head - settings.confirmations, 0)
    with session_scope(settings) as session:
        cp = session.get(IndexerCheckpoint, CHECKPOINT)
        events = session.scalar(select(func.count()).select_from(ChainEvent)) or 0
    indexed = cp.block_number if cp else None
    lag = None if target is None or indexed is None else max(target - indexed, 0)
    start = None
    try:
        start = followed_contracts(settings).start_block
    except Exception:  # artifacts missing: status still reports what the database knows
        pass
    return IndexStatus(head, target, indexed, lag, events, cp.reorgs if cp else 0, start)
