"""EIP-712 documents for the structs the contracts verify (mandates; loan terms keep their own
module): the document a wallet signs with `eth_signTypedData_v4`, its digest (what the contract's
`_hashTypedDataV4` computes, and the struct's id on chain), a signature by a local key, and the
check of a signature as OpenZeppelin's SignatureChecker makes it (ECDSA or ERC-1271)."""

from __future__ import annotations

from typing import Any

from eth_account import Account
from eth_account.messages import encode_typed_data
from eth_utils import keccak, to_checksum_address

from backend.chain.signature_checker import signed_by
from backend.config import Settings

DOMAIN_TYPE = [
    {"name": "name", "type": "string"},
    {"name": "version", "type": "string"},
    {"name": "chainId", "type": "uint256"},
    {"name": "verifyingContract", "type": "address"},
]


def document(name: str, chain_id: int, verifying_contract: str, primary: str, fields: list[dict],
             message: dict[str, Any]) -> dict[str, Any]:  # fmt: skip
    """The full EIP-712 document of one `primary` struct under the domain `name`/`1`."""
    return {
        "types": {"EIP712Domain": DOMAIN_TYPE, primary: fields},
        "primaryType": primary,
        "domain": {"name": name, "version": "1", "chainId": chain_id, "verifyingContract": to_checksum_address(verifying_contract)},
        "message": message,
    }


def digest_of(doc: dict[str, Any]) -> bytes:
    msg = encode_typed_data(full_message=doc)
    return keccak(b"\x19" + msg.version + msg.header + msg.body)


def sign_document(doc: dict[str, Any], private_key: Any) -> bytes:
    """A 65-byte signature by `private_key` (a key or a LocalAccount)."""
    return bytes(Account.sign_typed_data(getattr(private_key, "key", private_key), full_message=doc).signature)


def signed(settings: Settings, signer: str, doc: dict[str, Any], signature: bytes) -> bool:
    """Whether `signature` is `signer`'s over the document, as SignatureChecker judges it on chain."""
    return signed_by(settings, signer, encode_typed_data(full_message=doc), signature)
