"""Transaction fees for the outbox: one quote per sending round, and replace-by-fee for a
transaction left unmined (re-signed at the same nonce with higher fees, up to a configured cap)."""

from __future__ import annotations

import logging
from datetime import datetime, timedelta

from eth_account.signers.local import LocalAccount
from hexbytes import HexBytes
from web3 import Web3
from web3.exceptions import TransactionNotFound

from backend.chain.models import Intent, utcnow
from backend.config import Settings
from backend.db.base import as_utc

log = logging.getLogger("loanchain.outbox")

# Replacement needs at least +10% on both fee fields at geth, Anvil and most pools; 12.5% is the
# margin most wallets use.
FEE_BUMP_NUMERATOR, FEE_BUMP_DENOMINATOR = 9, 8


def fee_fields(w3: Web3) -> dict[str, int]:
    """EIP-1559 fees as web3.py would fill them (tip + 2 x base fee), or a legacy gas price on a
    chain without a base fee."""
    base_fee = w3.eth.get_block("latest").get("baseFeePerGas")
    if base_fee is None:
        return {"gasPrice": w3.eth.gas_price}
    tip = w3.eth.max_priority_fee
    return {"maxFeePerGas": tip + 2 * base_fee, "maxPriorityFeePerGas": tip}


def bump_due(settings: Settings, intent: Intent) -> bool:
    """Time for a fee bump? The first check only starts the clock (in `next_attempt_at`, which
    pending intents use for back-off and sent ones for this)."""
    if settings.outbox_fee_bump_after <= 0:
        return False
    if intent.next_attempt_at is None:
        intent.next_attempt_at = next_bump_at(settings)
        return False
    return as_utc(intent.next_attempt_at) <= utcnow()


def next_bump_at(settings: Settings) -> datetime:
    return utcnow() + timedelta(seconds=settings.outbox_fee_bump_after)


def _bumped(old: int, floor: int) -> int:
    return max(-(-old * FEE_BUMP_NUMERATOR // FEE_BUMP_DENOMINATOR), floor)


def bump_fees(settings: Settings, w3: Web3, account: LocalAccount, intent: Intent) -> bool:
    """Re-sign the intent's transaction at the same nonce with higher fees, at least today's, and
    commit the new bytes (the caller broadcasts them): one left unmined, or one the node refused
    for its fees. False when the fee cap leaves no room."""
    from eth_account.typed_transactions import TypedTransaction

    if account.address != intent.sender:
        return False  # signed by another key (rotated signer): only that key can replace it
    if intent.raw_tx is None:  # matched by a restore reconcile that could not read its bytes: nothing to re-sign from
        intent.error = intent.error or "unmined, and its signed bytes are not on record: cannot bump its fee"
        return False
    if intent.raw_tx[2:4] in ("01", "02"):  # typed envelope; a legacy RLP list starts at 0xc0+
        tx = {k: v for k, v in TypedTransaction.from_bytes(HexBytes(intent.raw_tx)).as_dict().items() if k not in "vrs"}
    else:
        tx = _legacy_fields(w3, intent)
        if tx is None:
            intent.error = "unmined legacy transaction the node no longer shows: cannot read it to bump its fee"
            return False
    cap = Web3.to_wei(settings.outbox_max_fee_gwei, "gwei")
    if "gasPrice" in tx:  # legacy or type 1
        price = min(_bumped(tx["gasPrice"], w3.eth.gas_price), cap)
        if price <= tx["gasPrice"]:
            return _at_cap(settings, intent)
        tx["gasPrice"] = price
    else:  # type 2 (EIP-1559): both fields must rise for the pool to accept the replacement
        base_fee = w3.eth.get_block("latest").get("baseFeePerGas") or 0
        tip = _bumped(tx["maxPriorityFeePerGas"], w3.eth.max_priority_fee)
        fee = min(_bumped(tx["maxFeePerGas"], 2 * base_fee + tip), cap)
        if fee <= tx["maxFeePerGas"]:
            return _at_cap(settings, intent)
        tx["maxFeePerGas"], tx["maxPriorityFeePerGas"] = fee, min(tip, fee)
    signed = account.sign_transaction(tx)
    log.warning("intent %s: fee bump %s -> %s (%s)", intent.key, intent.tx_hash, signed.hash.to_0x_hex(),
                intent.error or f"unmined after {settings.outbox_fee_bump_after}s")  # fmt: skip
    intent.replaced_tx_hashes = [*(intent.replaced_tx_hashes or []), intent.tx_hash]
    intent.tx_hash = signed.hash.to_0x_hex()
    intent.raw_tx = signed.raw_transaction.to_0x_hex()
    intent.attempts += 1
    intent.next_attempt_at = next_bump_at(settings)
    intent.error = None
    return True


def _legacy_fields(w3: Web3, intent: Intent) -> dict | None:
    """A pre-EIP-2718 transaction's fields, read back from the node (pre-London chains only)."""
    try:
        sent = w3.eth.get_transaction(intent.tx_hash)
    except TransactionNotFound:
        return None
    return {
        "nonce": sent["nonce"], "gas": sent["gas"], "gasPrice": sent["gasPrice"], "to": sent["to"],
        "value": sent["value"], "data": sent["input"], "chainId": w3.eth.chain_id,
    }  # fmt: skip


def _at_cap(settings: Settings, intent: Intent) -> bool:
    intent.error = f"unmined, and fees are at the {settings.outbox_max_fee_gwei:g} gwei cap: raise it to bump"
    intent.next_attempt_at = next_bump_at(settings)
    return False
