"""After a restore, the outbox holds until the chain has been read for what it already did.

A backup holds the outbox as it was when it was taken. An intent pending, signed or sent then may
have been sent and mined since, by the host that was lost; the restored database does not know,
and the sender would sign the same call again at the chain's next nonce: a second mint, a second
funding, a second payment, an attest after its revoke. So `restore_backup` sets a hold (a `meta`
row) whenever it restores such an intent, and the sender does nothing while it is set
(`OutboxHeld`: the worker logs it each round, `GET /health` shows it under `outbox`).

`reconcile_after_restore` (`loanchain outbox reconcile`) lifts it. It scans the blocks from the
one that was the chain's head when the backup was taken to today's head for the transactions of
the outbox signer (and of any signer the restored intents name), and matches each restored
pending/signed/sent intent whose own hashes have no receipt to one of them by `to`, `input` and
`value`, one transaction per intent, preferring the intent's own nonce; transactions the restored
database already knows by hash are not candidates. A matched intent takes that transaction's
hash, nonce and raw bytes and becomes `sent`, so the sender records its receipt and confirms it
(or fails it if it reverted), and never signs it again. The rest stay as they were (pending ones
are then sent once) and are listed, with the signer's transactions that match nothing (calls
whose intents were enqueued after the backup, and are lost with it) for the operator to check.

The range's start is the head recorded in the backup's header (`chain_position`, read before the
backup's snapshot began, so every transaction signed after the snapshot is in a later block). A
backup without it (the node was unreachable, or an older backup) starts at the first block
stamped `MARGIN` before the backup's `created_at`; a chain whose clock lags more than that would
need `--from-block`.

The reconcile is refused, the hold kept, while the node cannot show everything the lost host
sent: a node serving another chain, syncing, behind the backup's head, or without the block the
backup saw below its head (a chain reset; the header's `settled_hash`), and while a signer has a
transaction in the node's pool or mined after the last block read (its pending nonce is above its
nonce at that block). Run it again once they are mined. One transaction broadcast only to another
node and not yet relayed to this one cannot be seen from here."""

from __future__ import annotations

import json
import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from hexbytes import HexBytes
from sqlalchemy import delete, select
from sqlalchemy.orm import Session
from web3 import Web3

from backend.chain.models import Intent, IntentStatus, utcnow
from backend.chain.nonce_proof import Call, call_of_tx, raw_tx_of
from backend.config import Settings
from backend.db.meta import MetaEntry
from backend.db.session import session_scope
from backend.errors import Conflict, ValidationFailed

log = logging.getLogger("loanchain.outbox")

HOLD = "outbox_held_after_restore"
MARGIN = timedelta(minutes=10)  # block timestamps vs the backup host's clock, when the header has no block
UNSENT = (IntentStatus.PENDING, IntentStatus.SIGNED, IntentStatus.SENT)  # what the sender may (re)sign


class OutboxHeld(Conflict):
    code = "outbox_held"


# ------------------------------------------------------------------ the hold (no chain access)


def chain_position(settings: Settings) -> dict[str, Any] | None:
    """The chain's id and head now, for a backup's header, with the hash of a block
    `settings.confirmations` below the head (`settled_block`, `settled_hash`): a reconcile checks the
    node still has that block, which a chain reset under the same id has not (the head itself could
    be replaced by an ordinary reorg). None when the node cannot be read (the backup is taken
    anyway: a reconcile then starts from the backup's time)."""
    from backend.chain.client import get_web3
    from backend.db.migrate import where

    try:
        w3 = get_web3(settings)
        chain_id, block = w3.eth.chain_id, w3.eth.block_number
        settled = max(block - settings.confirmations, 0)
        settled_hash = w3.eth.get_block(settled)["hash"].to_0x_hex()
    except Exception as exc:  # a backup must not depend on the node being up
        log.info("backup: chain head not recorded (%s from the node at %s)", type(exc).__name__, where(settings.rpc_url))
        return None
    return {"chain_id": chain_id, "block": block, "settled_block": settled, "settled_hash": settled_hash}


def hold_outbox(session: Session, header: dict[str, Any]) -> int:
    """In the restore's transaction: hold the outbox if the restored database has intents the
    sender could sign; returns how many. The hold names where the reconcile starts."""
    unsent = len(session.scalars(select(Intent.id).where(Intent.status.in_(UNSENT))).all())
    if not unsent:
        return 0
    value = json.dumps({"backup_created_at": header.get("created_at"), "chain": header.get("chain"),
                        "restored_at": datetime.now(UTC).isoformat(), "unsent": unsent})  # fmt: skip
    session.merge(MetaEntry(key=HOLD, value=value))
    return unsent


def outbox_hold(session: Session) -> dict[str, Any] | None:
    value = session.scalar(select(MetaEntry.value).where(MetaEntry.key == HOLD))
    return json.loads(value) if value else None


def raise_if_held(settings: Settings) -> None:
    """The sender's first step each round: nothing is sent while a restore's hold is set."""
    with session_scope(settings) as session:
        hold = outbox_hold(session)
    if hold is not None:
        raise OutboxHeld(
            f"outbox held after restore ({hold.get('unsent')} intents restored unsent from the backup of "
            f"{hold.get('backup_created_at')}): run `loanchain outbox reconcile` before anything is sent",
            hold=hold,
        )  # fmt: skip


# ------------------------------------------------------------------ the reconcile


@dataclass
class ReconcileReport:
    held: bool  # False: no hold was set, nothing was done
    from_block: int | None = None
    to_block: int | None = None
    matched: list[dict[str, Any]] = field(default_factory=list)  # intents found executed: now `sent`
    left: list[dict[str, Any]] = field(default_factory=list)  # intents not found on chain: sent from now on
    unknown: list[dict[str, Any]] = field(default_factory=list)  # signer transactions no restored intent names


def _start_block(w3: Web3, hold: dict[str, Any]) -> int:
    chain = hold.get("chain") or {}
    if isinstance(chain.get("block"), int):
        return chain["block"]
    created = hold.get("backup_created_at")
    if not created:
        raise ValidationFailed("the hold does not say when the backup was taken: give --from-block")
    since = int((datetime.fromisoformat(created) - MARGIN).timestamp())
    low, high = 0, w3.eth.block_number  # the first block stamped at or after `since`
    while low < high:
        middle = (low + high) // 2
        if w3.eth.get_block(middle)["timestamp"] < since:
            low = middle + 1
        else:
            high = middle
    return low


def _call_of(settings: Settings, w3: Web3, intent: Intent) -> Call | None:
    """The call the intent makes, rebuilt from its record (an unsigned intent has no bytes to read)."""
    from backend.chain.sender import _contract_function

    try:
        fn = _contract_function(settings, w3, intent)
        data = fn._encode_transaction_data()
    except Exception as exc:  # an intent that no longer fits the contract: the sender fails it
        log.warning("intent %s: call not rebuilt for the reconcile: %s", intent.key, exc)
        return None
    return intent.address.lower(), bytes(HexBytes(data)), int(intent.value)


def reconcile_after_restore(settings: Settings, from_block: int | None = None,
                            progress: Callable[[int, int], None] | None = None) -> ReconcileReport:  # fmt: skip
    """Match the restored unsent intents to what the signer sent since the backup; lift the hold.
    `progress(blocks read, blocks to read)` follows the scan, a block at a time (a day is thousands).
    Refused (Conflict, the hold kept) while the node cannot show everything the lost host sent:
    see `_refuse_unless_the_node_shows_it_all` and `_refuse_while_unmined`."""
    from backend.chain.client import get_web3
    from backend.chain.sender import SIGNER_ROLE, _receipt
    from backend.chain.signers import platform_account

    w3 = get_web3(settings)
    with session_scope(settings) as session:
        hold = outbox_hold(session)
        if hold is None and from_block is None:
            return ReconcileReport(held=False)
        hold = hold or {}
        head = w3.eth.block_number
        _refuse_unless_the_node_shows_it_all(settings, w3, hold.get("chain") or {}, head, checks_hash=from_block is None)
        start = from_block if from_block is not None else _start_block(w3, hold)
        if start > head:
            raise ValidationFailed(f"--from-block {start} is beyond the node's head (block {head})", field="from_block")
        intents = list(session.scalars(select(Intent).order_by(Intent.id)))
        known = {h.lower() for i in intents for h in [i.tx_hash, *(i.replaced_tx_hashes or [])] if h}
        senders = {platform_account(settings, SIGNER_ROLE).address.lower()} | {i.sender.lower() for i in intents if i.sender}
        _refuse_while_unmined(w3, senders, head)  # before reading thousands of blocks in vain
        # The signer's transactions since the backup that the restored database does not know.
        found = []
        for number in range(start, head + 1):
            for tx in w3.eth.get_block(number, full_transactions=True)["transactions"]:
                tx_hash = tx["hash"].to_0x_hex()
                if tx["from"].lower() in senders and tx_hash.lower() not in known:
                    found.append(tx)
            if progress:
                progress(number - start + 1, head - start + 1)
        _refuse_while_unmined(w3, senders, head)  # what was broadcast or mined while the blocks were read
        report = ReconcileReport(held=bool(hold), from_block=start, to_block=head)
        taken: set[str] = set()
        for intent in (i for i in intents if i.status in UNSENT):
            if any(_receipt(w3, h) is not None for h in [intent.tx_hash, *(intent.replaced_tx_hashes or [])] if h):
                continue  # one of its own transactions was mined: the sender records it
            call = _call_of(settings, w3, intent)
            candidates = [tx for tx in found if tx["hash"].to_0x_hex() not in taken and call is not None
                          and call_of_tx(tx) == call]  # fmt: skip
            if not candidates:
                report.left.append({"key": intent.key, "status": intent.status, "nonce": intent.nonce})
                continue
            tx = next((t for t in candidates if t["nonce"] == intent.nonce), candidates[0])
            _mark_sent(w3, intent, tx)
            taken.add(intent.tx_hash)
            report.matched.append({"key": intent.key, "tx_hash": intent.tx_hash, "nonce": intent.nonce,
                                   "block": tx["blockNumber"]})  # fmt: skip
        report.unknown = [{"tx_hash": t["hash"].to_0x_hex(), "nonce": t["nonce"], "to": t["to"], "block": t["blockNumber"]}
                          for t in found if t["hash"].to_0x_hex() not in taken]  # fmt: skip
        session.execute(delete(MetaEntry).where(MetaEntry.key == HOLD))
    log.warning("outbox reconciled after restore (blocks %d..%d): %d intents found executed, %d left to send; hold lifted",
                start, head, len(report.matched), len(report.left))  # fmt: skip
    return report


def _refuse_unless_the_node_shows_it_all(settings: Settings, w3: Web3, chain: dict[str, Any], head: int,
                                         checks_hash: bool) -> None:  # fmt: skip
    """A node that cannot show the blocks the lost host's transactions are in would find none of
    them: every intent would be left, the hold lifted, and each call signed a second time. So the
    node must serve the platform's chain (and the backup's, when the backup says which), must not be
    syncing, must have reached the backup's head, and must still have the block the backup saw
    below it (a chain reset under the same id has not: skipped with an explicit `--from-block`)."""
    node_chain = w3.eth.chain_id
    if node_chain != settings.chain_id:
        raise Conflict(f"the node is chain {node_chain}, this platform's CHAIN_ID is {settings.chain_id}: "
                       "point RPC_URL at the chain the outbox sends to", chain_id=node_chain)  # fmt: skip
    if chain.get("chain_id") not in (None, node_chain):
        raise Conflict(f"the backup was taken beside chain {chain['chain_id']}, the node is chain {node_chain}: "
                       "reconcile against the chain the backup's outbox sent to", chain_id=chain["chain_id"])  # fmt: skip
    syncing = w3.eth.syncing
    if syncing:
        at = f" (block {syncing['currentBlock']} of {syncing['highestBlock']})" if isinstance(syncing, Mapping) else ""
        raise Conflict(f"the node is still syncing{at}: wait until it has synced, then run the reconcile again")
    backup_head = chain.get("block")
    if isinstance(backup_head, int) and head < backup_head:
        raise Conflict(f"the node is behind the backup's chain head (block {head} < {backup_head}): wait for it to "
                       "sync, then run the reconcile again", block=head, backup_block=backup_head)  # fmt: skip
    settled, settled_hash = chain.get("settled_block"), chain.get("settled_hash")
    if checks_hash and isinstance(settled, int) and settled_hash:
        on_node = w3.eth.get_block(settled)["hash"].to_0x_hex()
        if on_node.lower() != settled_hash.lower():
            raise Conflict(f"block {settled} on the node is not the one the backup saw ({on_node[:12]}…, backup "
                           f"{settled_hash[:12]}…): the chain was reset or replaced since the backup, and what the "
                           "lost host sent is not on it; to scan this chain anyway give --from-block", block=settled)  # fmt: skip


def _refuse_while_unmined(w3: Web3, senders: set[str], head: int) -> None:
    """A transaction of a signer still in the node's pool, or mined after `head` (the last block
    the scan reads), is not in the scan; its intent would be left and signed again at the next
    nonce, and both would be mined. So every signer's pending nonce must equal its nonce at `head`.
    (One broadcast only to another node, and not yet relayed here, cannot be seen from here.)"""
    for sender in sorted(senders):
        address = Web3.to_checksum_address(sender)
        at_head, pending = w3.eth.get_transaction_count(address, head), w3.eth.get_transaction_count(address, "pending")
        if pending > at_head:
            raise Conflict(f"{pending - at_head} transactions of signer {address} are in the node's pool or were "
                           f"mined after block {head}: wait for them to be mined, then run the reconcile again",
                           signer=address, unmined=pending - at_head)  # fmt: skip


def _mark_sent(w3: Web3, intent: Intent, tx) -> None:
    """The intent is the transaction found on chain: the sender records its receipt from here."""
    tx_hash = tx["hash"].to_0x_hex()
    if intent.tx_hash and intent.tx_hash != tx_hash:  # signed before the backup, replaced (fee bump) after it
        intent.replaced_tx_hashes = [*(intent.replaced_tx_hashes or []), intent.tx_hash]
    # Never the old bytes beside the new hash: re-broadcast, they could run the call a second time.
    intent.tx_hash, intent.raw_tx = tx_hash, raw_tx_of(w3, tx_hash)
    intent.nonce, intent.sender, intent.gas_limit = tx["nonce"], Web3.to_checksum_address(tx["from"]), tx["gas"]
    intent.status, intent.sent_at, intent.sent_by = IntentStatus.SENT, intent.sent_at or utcnow(), "restore-reconcile"
    intent.error = None
