"""The outbox sender: the single owner of the platform signer's nonce.

Each round first *reconciles* what is in flight (signed, sent, mined, and confirmed intents
the node no longer has), then signs and broadcasts pending intents in order. Every state change
is committed before the next step, so the process may die anywhere:

- after `signed` is committed the exact raw transaction is in the database; a restart
  re-broadcasts those bytes (same hash) while the nonce is still free on chain;
- a nonce consumed by a *different* transaction proves ours can never be mined; only then is the
  intent re-signed at a fresh nonce (the old hash is kept in `replaced_tx_hashes`);
- a mined or confirmed transaction the node forgot (restart from an older state dump) is
  re-broadcast from its raw bytes, which recreates the same transaction;
- a *reverted* transaction the node forgot is not: its intent is failed and the business logic
  may already have retried the call under a new key, so its bytes could execute it twice. Its
  nonce, which every later transaction waits for, is filled with a 0-value transfer to ourselves;
- a transaction left unmined for `outbox_fee_bump_after` seconds is re-signed at the *same*
  nonce with higher fees (replace-by-fee). The new bytes are committed before they are
  broadcast and every earlier hash is kept in `replaced_tx_hashes`; all of them are the same
  call at the same nonce, so at most one is ever mined, and receipts are looked up under all;
- after the signing key is rotated, what the old key left in flight is reconciled like the rest
  (per-sender nonces): only a fee bump needs the old key, so a slow one is kept broadcast and
  shown as stalled, and one whose nonce went elsewhere is re-signed under today's key.
"""

from __future__ import annotations

import logging
import os
import socket
import sys
import threading
from collections import Counter
from datetime import timedelta

import requests
from eth_account.signers.local import LocalAccount
from hexbytes import HexBytes
from sqlalchemy import func, or_, select, update
from sqlalchemy.orm import aliased
from web3 import Web3
from web3.exceptions import (
    ContractLogicError,
    TimeExhausted,
    TransactionNotFound,
    Web3RPCError,
    Web3ValidationError,
)

from backend.chain.abi_args import find_function, to_python
from backend.chain.client import get_web3, node_failure
from backend.chain.compiler import load_artifact
from backend.chain.deploy import deployed_addresses
from backend.chain.errors import decode_revert, revert_data_of
from backend.chain.fees import bump_due, bump_fees, fee_fields
from backend.chain.models import Intent, IntentStatus, utcnow
from backend.chain.nonce_proof import resolve_consumed_nonce
from backend.chain.restore_reconcile import raise_if_held
from backend.chain.signers import platform_account
from backend.config import Settings
from backend.db.base import as_utc
from backend.db.session import session_scope
from backend.errors import ChainUnavailable, LoanchainError

log = logging.getLogger("loanchain.outbox")

TRANSIENT = (
    requests.exceptions.ConnectionError,
    requests.exceptions.Timeout,
    ConnectionError,
    TimeoutError,
    TimeExhausted,
)
GAS_MARGIN = 1.25  # state can change between estimate and inclusion
SIGNER_ROLE = "outbox"  # falls back to the deployer key (Anvil account 0 on local chains)
GAP_GRACE_WITHOUT_BUMPS = 120.0  # seconds a nonce gap waits for its transaction when fee bumps are off
CRASH_POINTS = ("before_sign", "after_sign", "after_broadcast", "after_mined", "after_bump_sign")


def instance_id() -> str:
    return f"{socket.gethostname()}:{os.getpid()}:{threading.get_ident()}"


_crash_hits: Counter[str] = Counter()


def crash_point(settings: Settings, point: str) -> None:
    """Crash drill: abort the process like a SIGKILL would (no cleanup, no commit).

    `outbox_crash_at` lists points, each optionally `point:n` to die at its n-th hit in this
    process (so a drill at `before_sign:2` still lets every restart make progress)."""
    if not settings.outbox_crash_at:
        return
    for spec in settings.outbox_crash_at.split(","):
        name, _, nth = spec.strip().partition(":")
        if name == point:
            _crash_hits[point] += 1
            if _crash_hits[point] >= int(nth or 1):
                print(f"outbox crash drill: exiting at {point}", file=sys.stderr, flush=True)
                os._exit(137)


class OutboxSender:
    """Stateless between rounds: everything it knows is in the database or on chain."""

    def __init__(self, account: LocalAccount | None = None) -> None:
        self._account = account
        self.instance = instance_id()

    # ---------------------------------------------------------------- entry points

    def run_once(self, settings: Settings) -> int:
        """One round: reconcile in-flight intents, then send pending ones. Returns how many
        intents changed status. Raises ChainUnavailable when the node cannot be reached."""
        # After a restore, intents the lost host already sent look unsent: nothing until reconciled.
        raise_if_held(settings)  # OutboxHeld (restore_reconcile.py)
        try:
            w3 = get_web3(settings)
            account = self._account or platform_account(settings, SIGNER_ROLE)
            changed = self._reconcile(settings, w3, account)
            changed += self._send_pending(settings, w3, account)
            return changed
        except TRANSIENT as exc:
            from backend.db.migrate import where

            # Never the URL itself nor requests' text, which repeats it: a hosted node's key is in it.
            raise ChainUnavailable(f"node at {where(settings.rpc_url)} unreachable ({node_failure(exc)})") from exc

    def run_forever(self, settings: Settings, stop_event: threading.Event) -> None:
        """Run rounds until `stop_event` is set, holding the `outbox` worker lock."""
        from backend.workers.registry import build_worker

        build_worker("outbox").run(settings, stop_event)

    # ---------------------------------------------------------------- reconcile

    def _reconcile(self, settings: Settings, w3: Web3, account: LocalAccount) -> int:
        head = w3.eth.block_number
        with session_scope(settings) as session:
            # Every sender with something in flight, not only today's key: what a rotated-out key
            # left behind still needs its receipt, its re-broadcast or its consumed-nonce check.
            senders = {account.address} | set(
                session.scalars(select(Intent.sender).where(Intent.status.in_(IntentStatus.IN_FLIGHT)).distinct())
            )
            latest_nonces = {sender: w3.eth.get_transaction_count(sender, "latest") for sender in sorted(senders)}
            ids = list(
                session.scalars(
                    select(Intent.id)
                    .where(or_(*(
                        (Intent.sender == sender)
                        & (
                            Intent.status.in_(IntentStatus.IN_FLIGHT)
                            # confirmed at a nonce the chain has not reached: the node lost blocks
                            | ((Intent.status == IntentStatus.CONFIRMED) & (Intent.nonce >= latest))
                        )
                        for sender, latest in latest_nonces.items()
                    )))
                    .order_by(Intent.nonce)
                )
            )  # fmt: skip
        # Before the re-broadcasts below, so an automining node mines what waited behind the gap
        # in this same round. Only today's key can sign the filler.
        self._fill_lost_nonces(settings, w3, account, latest_nonces[account.address])
        self._fill_nonce_gap(settings, w3, account, latest_nonces[account.address])
        changed = 0
        for intent_id in ids:
            changed += self._track(settings, w3, intent_id, head, latest_nonces)
        return changed

    def _fill_lost_nonces(self, settings: Settings, w3: Web3, account: LocalAccount, latest_nonce: int) -> None:
        """A failed intent whose reverted transaction was mined keeps its nonce; if the node then
        loses that block, nothing of ours would use the nonce again and every later transaction
        would wait behind it for good. Its own bytes must not be replayed (the failure has been
        acted on: a retry may be queued under a new key, and on today's state the replay might
        succeed), so a no-op takes the nonce. Stateless and repeatable: one transaction per nonce
        can be mined, so a filler sent twice, or beside another transaction at that nonce, is
        harmless; a round that cannot send it leaves it to the next."""
        other = aliased(Intent)
        nonce_held = (
            select(other.id)
            .where(other.sender == Intent.sender, other.nonce == Intent.nonce, other.id != Intent.id)
            .where(other.status.in_((*IntentStatus.IN_FLIGHT, IntentStatus.CONFIRMED)))
            .exists()
        )
        with session_scope(settings) as session:
            ids = list(
                session.scalars(
                    select(Intent.id)
                    .where(Intent.sender == account.address, Intent.status == IntentStatus.FAILED)
                    .where(Intent.block_number.is_not(None), Intent.nonce >= latest_nonce, ~nonce_held)
                    .order_by(Intent.nonce)
                )
            )
        if not ids:
            return
        fees = fee_fields(w3)
        filled: set[int] = set()
        for intent_id in ids:
            with session_scope(settings) as session:
                intent = session.get(Intent, intent_id)
                if intent.nonce in filled:
                    continue
                filled.add(intent.nonce)
                reason, _, note = (intent.error or "").partition(LOST_BLOCK_NOTE)
                if note and _known_to_node(w3, note.rsplit(" ", 1)[-1]):
                    continue  # our earlier filler still waits in the pool (for nonces below it)
                signed = account.sign_transaction({
                    "to": account.address, "value": 0, "data": "0x", "gas": 21_000, "nonce": intent.nonce,
                    "chainId": settings.chain_id, **fees,
                })  # fmt: skip
                filler = signed.hash.to_0x_hex()
                try:
                    w3.eth.send_raw_transaction(signed.raw_transaction)
                except Web3RPCError as exc:
                    message = (exc.message or str(exc)).lower()
                    if not ("already" in message or "known" in message):
                        # "nonce too low" / "underpriced": something else holds the nonce now, which
                        # closes the gap as well; anything else: the next round tries again.
                        level = logging.INFO if "nonce" in message or "underpriced" in message else logging.WARNING
                        log.log(level, "intent %s: no-op for lost nonce %s not accepted: %s", intent.key,
                                intent.nonce, exc.message)  # fmt: skip
                        continue
                log.warning("intent %s: the block of its reverted transaction was lost; nonce %s filled by a no-op %s",
                            intent.key, intent.nonce, filler)  # fmt: skip
                intent.error = f"{reason}{LOST_BLOCK_NOTE}nonce {intent.nonce} filled by a no-op {filler}"

    def _fill_nonce_gap(self, settings: Settings, w3: Web3, account: LocalAccount, latest_nonce: int) -> None:
        """The sender takes its first nonce from the node's pending count, so it builds on an
        out-of-band transaction of its key still in the pool (an operator's deploy or top-up). If
        that one then leaves the pool (evicted, lost in a node restart), every intent above its
        nonce waits for good, and no fee bump can help. A nonce below our lowest waiting intent
        that no intent holds and nothing pending at the node holds is such a gap: the waiting
        intent says so (listed as stalled in /health), and once it has waited a fee-bump period
        (time for a late out-of-band transaction to show up) the gap is filled with the no-op
        a lost nonce gets. Harmless if something else takes the nonce first: one is mined."""
        with session_scope(settings) as session:
            lowest = session.scalars(
                select(Intent)
                .where(Intent.sender == account.address, Intent.status.in_((IntentStatus.SIGNED, IntentStatus.SENT)))
                .where(Intent.nonce > latest_nonce)
                .order_by(Intent.nonce)
                .limit(1)
            ).first()
            if lowest is None or lowest.sent_at is None:
                return
            held = set(session.scalars(select(Intent.nonce).where(
                Intent.sender == account.address, Intent.nonce >= latest_nonce, Intent.nonce < lowest.nonce
            )))  # fmt: skip
            gap = [nonce for nonce in range(latest_nonce, lowest.nonce) if nonce not in held]
            if not gap or w3.eth.get_transaction_count(account.address, "pending") > gap[0]:
                return  # no gap, or the node holds a transaction at it (it is mined in its turn)
            note = f"waits behind nonce {', '.join(map(str, gap))} of this key, which no transaction holds"
            grace = settings.outbox_fee_bump_after or GAP_GRACE_WITHOUT_BUMPS
            if utcnow() - as_utc(lowest.sent_at) < timedelta(seconds=grace):
                if not (lowest.error or "").startswith(note):
                    log.warning("intent %s: %s", lowest.key, note)
                    lowest.error = note
                return
            fees, fillers = fee_fields(w3), []
            for nonce in gap:
                signed = account.sign_transaction({
                    "to": account.address, "value": 0, "data": "0x", "gas": 21_000, "nonce": nonce,
                    "chainId": settings.chain_id, **fees,
                })  # fmt: skip
                try:
                    w3.eth.send_raw_transaction(signed.raw_transaction)
                except Web3RPCError as exc:  # taken meanwhile, or refused: the next round looks again
                    log.info("intent %s: no-op for nonce gap %s not accepted: %s", lowest.key, nonce, exc.message)
                    return
                fillers.append(signed.hash.to_0x_hex())
            log.warning("intent %s: %s; filled by a no-op %s", lowest.key, note, ", ".join(fillers))
            lowest.error = f"{note}; filled by a no-op {', '.join(fillers)}"

    def _track(self, settings: Settings, w3: Web3, intent_id: int, head: int, latest_nonces: dict[str, int]) -> int:
        with session_scope(settings) as session:
            intent = session.get(Intent, intent_id)
            before = intent.status
            latest_nonce = latest_nonces[intent.sender]
            receipt = _receipt_of_any(w3, intent)
            # Mined in a block the node has not reached (a lagging backend, a node still syncing):
            # not proof the block was lost. Its bytes are offered again, which is harmless and
            # recreates it if the node did lose it, but it keeps its status and block meanwhile.
            behind = intent.block_number is not None and intent.block_number > head
            if receipt is None and intent.nonce >= latest_nonce and _ensure_broadcast(w3, intent, keep_final=behind):
                receipt = _receipt_of_any(w3, intent)  # an automining node has it mined already
            elif receipt is None and intent.nonce < latest_nonce:
                if resolve_consumed_nonce(settings, w3, intent, head):
                    receipt = _receipt_of_any(w3, intent)  # its own call, under a hash it had lost
            bump = receipt is None and (
                (intent.status == IntentStatus.SENT and bump_due(settings, intent))
                # Refused for its fees (the base fee rose past them, say after an outage): nothing
                # else would ever send it, and every intent behind it waits for its nonce.
                or (intent.status == IntentStatus.SIGNED and intent.nonce >= latest_nonce and refused_for_fees(intent))
            )
            if bump:
                signer = self._account or platform_account(settings, SIGNER_ROLE)
                if intent.sender == signer.address:
                    bump = bump_fees(settings, w3, signer, intent)
                else:
                    # Only the rotated-out key can replace its transaction at that nonce, and sending the
                    # call anew under today's key could run it twice while the old bytes may still be
                    # mined: keep them broadcast, and show the intent as stalled to the operator.
                    bump = False
                    if not (intent.error or "").startswith(ROTATED_OUT):
                        reason = intent.error or f"unmined after {settings.outbox_fee_bump_after:g}s"
                        intent.error = f"{ROTATED_OUT}{reason}"
            mined_now = False
            if receipt is not None:
                self._record_receipt(settings, w3, session, intent, receipt)
                mined_now = before != intent.status and intent.status == IntentStatus.MINED
            reverted = receipt is not None and receipt["status"] != 1
            changed = int(intent.status != before)
        if bump:
            crash_point(settings, "after_bump_sign")
            with session_scope(settings) as session:
                _ensure_broadcast(w3, session.get(Intent, intent_id))
            changed += 1
        if mined_now:
            crash_point(settings, "after_mined")
            with session_scope(settings) as session:
                intent = session.get(Intent, intent_id)
                _confirm_if_deep(settings, intent, w3.eth.block_number, reverted)
                changed += int(intent.status != IntentStatus.MINED)
        return changed

    def _record_receipt(self, settings: Settings, w3: Web3, session, intent: Intent, receipt) -> None:
        block_hash = receipt["blockHash"].to_0x_hex()
        if (intent.error or "").startswith(NO_RAW_TX):
            intent.error = None  # the node has it again: no longer a stall
        if intent.status not in (IntentStatus.MINED, IntentStatus.CONFIRMED) or intent.block_hash != block_hash:
            intent.block_number = receipt["blockNumber"]
            intent.block_hash = block_hash
            intent.gas_used = receipt["gasUsed"]
            intent.mined_at = utcnow()
            intent.status = IntentStatus.MINED
            if receipt["status"] != 1:
                # Why, recorded now; failed only at confirmation depth, as a success is confirmed:
                # a reorg may yet drop this block and include the same bytes again, successfully.
                intent.error, intent.error_name, intent.error_args = _replay_revert(settings, w3, intent, receipt["blockNumber"])
            else:
                intent.error = intent.error_name = intent.error_args = None
            session.flush()
            return
        _confirm_if_deep(settings, intent, w3.eth.block_number, receipt["status"] != 1)

    # ---------------------------------------------------------------- send

    def _send_pending(self, settings: Settings, w3: Web3, account: LocalAccount) -> int:
        with session_scope(settings) as session:
            if session.scalar(
                select(func.count()).where(Intent.sender == account.address, Intent.status == IntentStatus.SIGNED)
            ):
                return 0  # a signed transaction the node has not accepted yet blocks the nonce sequence
            now = utcnow()
            ids = list(
                session.scalars(
                    select(Intent.id)
                    .where(Intent.status == IntentStatus.PENDING)
                    .where((Intent.next_attempt_at.is_(None)) | (Intent.next_attempt_at <= now))
                    .order_by(Intent.id)
                    .limit(settings.outbox_batch)
                )
            )
            in_flight_max = session.scalar(
                select(func.max(Intent.nonce)).where(
                    Intent.sender == account.address, Intent.status.in_(IntentStatus.IN_FLIGHT)
                )
            )
        if not ids:
            return 0
        nonce = w3.eth.get_transaction_count(account.address, "pending")
        if in_flight_max is not None:
            nonce = max(nonce, in_flight_max + 1)
        # One fee quote per round, not per transaction: the round takes seconds, and a fee that
        # turns out short is what replace-by-fee (_bump_fees) is for.
        fees = fee_fields(w3)
        changed, sent = 0, []
        for intent_id in ids:
            crash_point(settings, "before_sign")
            outcome = self._sign_and_send(settings, w3, account, intent_id, nonce, fees)
            if outcome == "sent":
                nonce += 1
                changed += 1
                sent.append(intent_id)
            elif outcome == "failed":
                changed += 1
            elif outcome == "stop":
                break
        if sent:  # an automining node has mined them already: record that in the same round
            head, latest_nonces = w3.eth.block_number, {account.address: w3.eth.get_transaction_count(account.address)}
            for intent_id in sent:
                changed += self._track(settings, w3, intent_id, head, latest_nonces)
        return changed

    def _sign_and_send(
        self, settings: Settings, w3: Web3, account: LocalAccount, intent_id: int, nonce: int, fees: dict[str, int]
    ) -> str:
        with session_scope(settings) as session:
            intent = session.get(Intent, intent_id)
            if intent.status != IntentStatus.PENDING:
                return "skip"
            try:
                fn = _contract_function(settings, w3, intent)
                params = {"from": account.address, "value": int(intent.value), "chainId": settings.chain_id}
                gas = int(fn.estimate_gas(params) * GAS_MARGIN)
                tx = fn.build_transaction({**params, **fees, "nonce": nonce, "gas": gas})
            except ContractLogicError as exc:
                if nonce > w3.eth.get_transaction_count(account.address, "latest"):
                    # The estimate ran on a state without our earlier transactions, and this call may
                    # depend on one (a revoke behind its attest): judge it once they are mined. No
                    # back-off, and nothing else is sent this round, so it stays first in line and
                    # is judged as soon as they are (a call that truly reverts still fails then).
                    intent.error = f"estimate reverted behind our unmined transactions: {_decoded(settings, exc)[0]}"
                    return "stop"
                _fail(intent, *_decoded(settings, exc))
                return "failed"
            except TRANSIENT:
                _backoff(settings, intent, "node unreachable while estimating gas")
                return "stop"
            except Web3RPCError as exc:  # e.g. insufficient funds for the value: retry later
                _backoff(settings, intent, f"estimate rejected: {exc.message}")
                return "skip"
            except (LoanchainError, Web3ValidationError, TypeError, ValueError) as exc:
                # The call no longer fits the contract (ABI changed since it was enqueued): it can
                # never be sent, and must not block the intents behind it.
                _fail(intent, f"cannot build the transaction: {exc}", None, None)
                return "failed"
            signed = account.sign_transaction(tx)
            claim = self._claim(session, intent_id, account, nonce, signed, gas)
            if claim != "claimed":
                return claim
        crash_point(settings, "after_sign")
        with session_scope(settings) as session:
            intent = session.get(Intent, intent_id)
            if not _ensure_broadcast(w3, intent):
                return "stop"
        crash_point(settings, "after_broadcast")
        return "sent"

    def _claim(self, session, intent_id: int, account: LocalAccount, nonce: int, signed, gas: int) -> str:
        """Record the signed transaction only if the intent is still pending: the estimate took a
        round trip, in which its mandate may have been withdrawn (`withdraw_pending`) or another
        sender, one that lost the lock mid-round, may have signed it. A plain update by id would
        overwrite either and send the call anyway, or twice at two nonces. "claimed", or "skip"
        (withdrawn: the nonce stays free for the next intent) or "stop" (someone else signs).
        The execute autoflushes what the estimate wrote (the address it looked up) first, under the
        pending compare-and-set (models.py): a stale sender's round ends there with Conflict."""
        claimed = session.execute(
            update(Intent)
            .where(Intent.id == intent_id, Intent.status == IntentStatus.PENDING)
            .values(sender=account.address, sent_by=self.instance, nonce=nonce, tx_hash=signed.hash.to_0x_hex(),
                    raw_tx=signed.raw_transaction.to_0x_hex(), gas_limit=gas, attempts=Intent.attempts + 1,
                    status=IntentStatus.SIGNED, error=None)
            .execution_options(synchronize_session=False)
        ).rowcount  # fmt: skip
        if claimed == 1:
            return "claimed"
        session.expire_all()  # drop what the estimate left on the stale object: nothing more is written
        status = session.scalar(select(Intent.status).where(Intent.id == intent_id))
        log.warning("intent %s: %s before it could be signed; not sent", intent_id, status)
        return "skip" if status == IntentStatus.FAILED else "stop"


# -------------------------------------------------------------------- helpers


def _contract_function(settings: Settings, w3: Web3, intent: Intent):
    if not intent.address:
        intent.address = deployed_addresses(settings).get(intent.contract)
        if not intent.address:
            raise ChainUnavailable(f"{intent.contract} is not deployed on chain {settings.chain_id}")
    abi = load_artifact(settings, intent.contract)["abi"]
    fn_abi = find_function(abi, intent.function, len(intent.args))
    contract = w3.eth.contract(address=Web3.to_checksum_address(intent.address), abi=abi)
    return contract.get_function_by_signature(_signature(fn_abi))(*to_python(fn_abi["inputs"], intent.args))


def _signature(fn_abi: dict) -> str:
    from backend.chain.abi_args import signature

    return signature(fn_abi)


def _receipt(w3: Web3, tx_hash: str | None):
    if not tx_hash:
        return None
    try:
        return w3.eth.get_transaction_receipt(tx_hash)
    except TransactionNotFound:
        return None


def _receipt_of_any(w3: Web3, intent: Intent):
    """The receipt of whichever of the intent's transactions was mined (the current one or one
    it replaced by a fee bump); the intent then points at the mined hash."""
    receipt = _receipt(w3, intent.tx_hash)
    if receipt is not None:
        return receipt
    for old in reversed(intent.replaced_tx_hashes or []):
        receipt = _receipt(w3, old)
        if receipt is not None:
            log.info("intent %s: mined as %s, an earlier fee level", intent.key, old)
            # Keep the set of hashes whole: the current one joins the replaced list.
            intent.replaced_tx_hashes = [h for h in intent.replaced_tx_hashes if h != old] + [intent.tx_hash]
            intent.tx_hash = old
            return receipt
    return None


def _known_to_node(w3: Web3, tx_hash: str) -> bool:
    try:
        return w3.eth.get_transaction(tx_hash) is not None
    except TransactionNotFound:
        return False


def _ensure_broadcast(w3: Web3, intent: Intent, keep_final: bool = False) -> bool:
    """Make sure the node has the exact signed bytes; returns False to stop this round."""
    was_final = intent.status in (IntentStatus.MINED, IntentStatus.CONFIRMED)
    if was_final and keep_final:
        _offer(w3, intent)
        return True
    if not _known_to_node(w3, intent.tx_hash):
        if intent.raw_tx is None:
            _without_bytes(intent)
            return False
        try:
            w3.eth.send_raw_transaction(HexBytes(intent.raw_tx))
        except TRANSIENT:
            return False
        except Web3RPCError as exc:
            message = (exc.message or str(exc)).lower()
            if "already" in message or "known" in message:
                pass  # it reached the node after all
            elif "nonce" in message:
                return False  # consumed meanwhile: the next reconcile resolves it
            else:
                intent.error = f"{BROADCAST_REJECTED}{exc.message}"
                return False
    if was_final:
        log.warning("intent %s: node lost its block (tx %s); re-broadcast the same bytes", intent.key, intent.tx_hash)
        intent.block_number = intent.block_hash = intent.mined_at = intent.confirmed_at = None
    if intent.status != IntentStatus.SENT:
        intent.status = IntentStatus.SENT
        intent.sent_at = intent.sent_at or utcnow()
    if (intent.error or "").startswith(BROADCAST_REJECTED):
        intent.error = None  # accepted after all: no longer a stall to report
    return True


def _offer(w3: Web3, intent: Intent) -> None:
    """Broadcast the bytes of an intent mined in a block the node has not reached, changing nothing:
    the node refuses them once it has that block, and mines them again if it never will."""
    if intent.raw_tx is None:
        return  # nothing to offer (`_without_bytes`); if the node never reaches the block, the next round says so
    if not _known_to_node(w3, intent.tx_hash):
        try:
            w3.eth.send_raw_transaction(HexBytes(intent.raw_tx))
        except (*TRANSIENT, Web3RPCError):
            pass


def _without_bytes(intent: Intent) -> None:
    """The node does not have the transaction and the record has no bytes to give it again: an
    intent the restore reconcile matched on a node without `eth_getRawTransactionByHash`. Nothing
    may sign the call anew while that transaction could still be mined, so the intent keeps its
    status and is listed as stalled (`stalled_intents`) for a person to check."""
    if not (intent.error or "").startswith(NO_RAW_TX):
        log.warning("intent %s: the node lost tx %s and its bytes are not on record", intent.key, intent.tx_hash)
        intent.error = f"{NO_RAW_TX}the node no longer has tx {intent.tx_hash}; check it by hand"


BROADCAST_REJECTED = "broadcast rejected: "
# An intent whose transaction the node lost and whose bytes were never read (see `_without_bytes`).
NO_RAW_TX = "no signed bytes on record to broadcast again: "
ROTATED_OUT = "signed by a rotated-out key, which alone can bump its fee: "
LOST_BLOCK_NOTE = "; its block was lost: "  # appended to a failed intent's revert reason
# How geth, Anvil, Ganache and public endpoints refuse a transaction for its fees ("max fee per gas
# less than block base fee", "transaction underpriced", "replacement transaction underpriced", ...).
FEE_REFUSALS = ("underpriced", "less than block base fee", "fee cap", "feecap", "fee too low", "gas price too low")


def refused_for_fees(intent: Intent) -> bool:
    """The node refused the intent's signed bytes for their fees: re-signing them at the same
    nonce with fresh fees is safe (one transaction per nonce can be mined) and the only way on."""
    error = (intent.error or "").lower()
    return error.startswith(BROADCAST_REJECTED) and any(refusal in error for refusal in FEE_REFUSALS)


def _confirm_if_deep(settings: Settings, intent: Intent, head: int, reverted: bool) -> None:
    """Final at confirmation depth: confirmed, or failed if its receipt reverted."""
    if intent.status == IntentStatus.MINED and head - intent.block_number >= settings.confirmations:
        if reverted:
            _fail(intent, intent.error or "reverted", intent.error_name, intent.error_args)
            return
        intent.status = IntentStatus.CONFIRMED
        intent.confirmed_at = utcnow()


Failure = tuple[str, str | None, dict | None]  # message, custom error name, its arguments


def _decoded(settings: Settings, exc: BaseException) -> Failure:
    decoded = decode_revert(settings, revert_data_of(exc))
    if decoded is None:
        return f"reverted: {getattr(exc, 'message', None) or exc}", None, None
    return f"reverted with {decoded.describe()}", decoded.name, decoded.args


def _replay_revert(settings: Settings, w3: Web3, intent: Intent, block_number: int) -> Failure:
    """Why a mined transaction reverted: its trace when the node keeps one (exact), otherwise a
    replay as a call on its block's parent state, then on the block's own state."""
    try:
        trace = w3.manager.request_blocking("debug_traceTransaction", [intent.tx_hash, {"tracer": "callTracer"}])
        output = trace.get("output") if trace else None
        if output and output != "0x":
            return _decoded(settings, ContractLogicError("reverted", data=output))
    except Exception:  # no debug namespace on this node: fall back to replaying
        pass
    tx = w3.eth.get_transaction(intent.tx_hash)
    call = {"from": tx["from"], "to": tx["to"], "data": tx["input"], "value": tx["value"], "gas": tx["gas"]}
    for state in (block_number - 1, block_number):
        try:
            w3.eth.call(call, state)
        except ContractLogicError as exc:
            return _decoded(settings, exc)
        except Web3RPCError as exc:
            return f"reverted: {exc.message}", None, None
    return "reverted (no reason recovered: out of gas or state changed within its block)", None, None


def _fail(intent: Intent, message: str, name: str | None, args: dict | None) -> None:
    intent.status = IntentStatus.FAILED
    intent.error, intent.error_name, intent.error_args = message, name, args
    log.warning("intent %s failed: %s", intent.key, message)


def _backoff(settings: Settings, intent: Intent, reason: str) -> None:
    intent.attempts += 1
    delay = min(settings.outbox_max_backoff, 0.5 * 2 ** min(intent.attempts, 10))
    intent.next_attempt_at = utcnow() + timedelta(seconds=delay)
    intent.error = reason
