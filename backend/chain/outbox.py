"""The transaction outbox: every on-chain action the platform takes, exactly once.

Services call `enqueue(...)` inside their own database transaction, so the intent is committed
together with the business change that needs it (or not at all). One sender (see
`backend/workers/`, which holds the advisory lock) owns the platform signer's nonce and drives
each intent:

    pending -> signed -> sent -> mined -> confirmed
          \\-> failed (reverted at estimate or in its receipt: decoded custom error stored)

`signed` means nonce, hash and raw transaction are persisted *before* the broadcast, so after a
crash the same bytes (same hash) are re-broadcast instead of a second transaction being signed.
The sender logic itself lives in `backend/chain/sender.py`.
"""

from __future__ import annotations

import time
from typing import Any

from sqlalchemy import func, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from backend.chain.abi_args import find_function, to_json, to_python
from backend.chain.compiler import load_artifact
from backend.chain.models import Intent, IntentStatus, key_prefixed
from backend.config import Settings, get_settings
from backend.db.session import session_scope
from backend.errors import ChainError, CompilerError, Conflict, ValidationFailed

__all__ = [
    "Intent",
    "IntentStatus",
    "OutboxSender",
    "enqueue",
    "enqueue_once",
    "get_intent",
    "list_intents",
    "outbox_counts",
    "process_until_idle",
    "stalled_intents",
    "withdraw_pending",
]


def canonical_call(settings: Settings, contract: str, function: str, args: list) -> tuple[str, list]:
    """Validate a call against the contract's ABI; return its signature and canonical JSON args."""
    try:
        abi = load_artifact(settings, contract)["abi"]
    except CompilerError:
        raise ValidationFailed(f"unknown contract {contract!r}") from None
    fn_abi = find_function(abi, function, len(args) if isinstance(args, (list, tuple)) else -1)
    if fn_abi.get("stateMutability") in ("view", "pure"):
        raise ValidationFailed(f"{contract}.{fn_abi['name']} is read-only: call it, do not enqueue it")
    return fn_abi["name"] if "(" not in function else function, to_json(to_python(fn_abi["inputs"], list(args)))


def enqueue(
    session: Session,
    *,
    key: str,
    contract: str,
    function: str,
    args: list,
    value: int = 0,
    settings: Settings | None = None,
) -> Intent:
    """Record the intent to call `contract.function(*args)` once; idempotent by `key`.

    The same key returns the existing intent (whatever its status); a different call under the
    same key raises Conflict. The row is flushed, not committed: it commits with the caller's
    transaction. Arguments are validated against the ABI now (ValidationFailed, 422).
    """
    return _enqueue(session, key, contract, function, args, value, settings)[0]


def enqueue_once(
    session: Session,
    *,
    key: str,
    contract: str,
    function: str,
    args: list,
    value: int = 0,
    settings: Settings | None = None,
) -> bool:
    """`enqueue`, True only when this call created the intent: False when the key was there, or
    another transaction (a second worker round overlapping this one) inserted it first. What a
    caller records of the call (an audit entry, a count) it records only when True."""
    return _enqueue(session, key, contract, function, args, value, settings)[1]


def _enqueue(
    session: Session,
    key: str,
    contract: str,
    function: str,
    args: list,
    value: int = 0,
    settings: Settings | None = None,
) -> tuple[Intent, bool]:
    settings = settings or get_settings()
    if not key or len(key) > 200:
        raise ValidationFailed("an intent key must be 1 to 200 characters")
    if not isinstance(value, int) or value < 0:
        raise ValidationFailed("value must be a non-negative integer (wei)")
    function, canonical_args = canonical_call(settings, contract, function, args)

    existing = get_intent(session, key)
    if existing is None:
        intent = Intent(
            key=key,
            contract=contract,
            address=_manifest_address(settings, contract),
            function=function,
            args=canonical_args,
            value=value,
            status=IntentStatus.PENDING,
            replaced_tx_hashes=[],
            attempts=0,
        )
        try:
            with session.begin_nested():  # a concurrent enqueue of the same key loses cleanly
                session.add(intent)
                session.flush()
            return intent, True
        except IntegrityError:
            existing = get_intent(session, key)
            if existing is None:
                raise
    if (existing.contract, existing.function, existing.args, int(existing.value)) != (
        contract,
        function,
        canonical_args,
        value,
    ):
        raise Conflict(
            f"intent {key!r} already exists for a different call",
            existing={"contract": existing.contract, "function": existing.function, "args": existing.args},
        )
    return existing, False


def _manifest_address(settings: Settings, contract: str) -> str | None:
    from backend.chain.deploy import deployed_addresses

    return deployed_addresses(settings).get(contract)


def withdraw_pending(session: Session, key_prefix: str, reason: str) -> int:
    """Marks failed, with `reason`, every intent under `key_prefix` that nothing has signed yet (so
    nothing of it can reach the chain); returns how many. One the sender has taken already goes
    ahead: the WHERE on `pending` loses that race cleanly."""
    result = session.execute(update(Intent).where(key_prefixed(key_prefix),
                                                  Intent.status == IntentStatus.PENDING)
                             .values(status=IntentStatus.FAILED, error=reason, error_name="Withdrawn"))  # fmt: skip
    return result.rowcount or 0


def get_intent(session: Session, key: str) -> Intent | None:
    return session.scalars(select(Intent).where(Intent.key == key)).one_or_none()


def list_intents(session: Session, status: str | None = None, limit: int = 50) -> list[Intent]:
    query = select(Intent).order_by(Intent.id.desc()).limit(limit)
    if status:
        if status not in IntentStatus.ALL:
            raise ValidationFailed(f"unknown status {status!r}; one of {', '.join(IntentStatus.ALL)}")
        query = query.where(Intent.status == status)
    return list(session.scalars(query))


def outbox_counts(session: Session) -> dict[str, int]:
    rows = session.execute(select(Intent.status, func.count()).group_by(Intent.status)).all()
    counts = {status: 0 for status in IntentStatus.ALL}
    counts.update({status: n for status, n in rows})
    return counts


STALLED_PENDING_ATTEMPTS = 3  # estimates the node rejected before a pending intent counts as stalled


def stalled_intents(session: Session, limit: int = 5) -> list[Intent]:
    """Signed or sent intents with an error the sender may not get past by itself (the node refuses
    the bytes, the fee is at its cap, a consumed nonce is unproven), and mined ones the node lost
    with no bytes on record to send again, oldest nonce first. Each
    holds up every intent behind it: the nonces are sequential. Then pending intents whose
    estimate the node keeps rejecting (gas required exceeds allowance, insufficient funds for a
    payable call): retried with back-off for ever, they would show only as a growing count."""
    from backend.chain.sender import NO_RAW_TX

    in_flight = (Intent.status.in_((IntentStatus.SIGNED, IntentStatus.SENT))) & Intent.error.is_not(None)
    # Mined or confirmed, then lost by the node, with no bytes to give it again (sender._without_bytes).
    lost = Intent.status.in_((IntentStatus.MINED, IntentStatus.CONFIRMED)) & Intent.error.startswith(NO_RAW_TX)
    retried = (
        (Intent.status == IntentStatus.PENDING) & Intent.error.is_not(None) & Intent.next_attempt_at.is_not(None)
        & (Intent.attempts >= STALLED_PENDING_ATTEMPTS)
    )  # fmt: skip
    return list(session.scalars(select(Intent).where(in_flight | lost | retried)
                                .order_by(Intent.nonce.is_(None), Intent.nonce, Intent.id).limit(limit)))  # fmt: skip


def intent_public(intent: Intent) -> dict[str, Any]:
    from backend.chain.schemas import IntentPublic

    return IntentPublic.model_validate(intent).model_dump(mode="json")


def process_until_idle(settings: Settings, timeout: float = 60.0) -> None:
    """Send and confirm every open intent (tests, CLI). The caller must be the only sender:
    use it where no background outbox worker runs, or take the worker lock first."""
    from backend.chain.sender import OutboxSender

    sender = OutboxSender()
    deadline = time.monotonic() + timeout
    while True:
        sender.run_once(settings)
        with session_scope(settings) as session:
            open_count = session.scalar(select(func.count()).where(Intent.status.in_(IntentStatus.OPEN)))
        if not open_count:
            return
        if time.monotonic() > deadline:
            raise ChainError(f"outbox not idle after {timeout:.0f}s: {open_count} intents open")
        time.sleep(0.05)


def send_unless_a_worker_does(settings: Settings, timeout: float = 60.0) -> bool:
    """Send every open intent now if no outbox worker holds the lock (a CLI run beside a stopped
    API); otherwise leave them to that worker. True when this process sent them."""
    from backend.workers.lock import make_lock

    lock = make_lock(settings, "outbox")
    if not lock.acquire():
        return False
    try:
        process_until_idle(settings, timeout=timeout)
    finally:
        lock.release()
    return True


def __getattr__(name: str):
    # `from backend.chain.outbox import OutboxSender` without a circular import at module load.
    if name == "OutboxSender":
        from backend.chain.sender import OutboxSender

        return OutboxSender
    raise AttributeError(name)
