"""ERC-1271: whether a smart-contract wallet accepts a signature over a digest. Used by sign-in
for wallets whose "signature" is not an ECDSA signature by their own address (Safe and other
contract accounts)."""

from __future__ import annotations

from eth_account import Account
from eth_account.messages import SignableMessage
from eth_utils import keccak
from web3 import Web3
from web3.exceptions import BadFunctionCallOutput, ContractLogicError, Web3Exception

from backend.chain.client import get_web3
from backend.config import Settings
from backend.errors import ChainUnavailable

MAGIC_VALUE = bytes.fromhex("1626ba7e")  # IERC1271.isValidSignature.selector
_ABI = [
    {
        "type": "function",
        "name": "isValidSignature",
        "stateMutability": "view",
        "inputs": [{"name": "hash", "type": "bytes32"}, {"name": "signature", "type": "bytes"}],
        "outputs": [{"name": "magicValue", "type": "bytes4"}],
    }
]


def contract_wallet_accepts(settings: Settings, wallet: str, digest: bytes, signature: bytes) -> bool:
    """True when `wallet` has code and its isValidSignature(digest, signature) returns the magic
    value. An account without code, a revert or a malformed answer is False; an unreachable node
    raises ChainUnavailable."""
    w3 = get_web3(settings)
    address = Web3.to_checksum_address(wallet)
    try:
        if not w3.eth.get_code(address):
            return False
        answer = w3.eth.contract(address=address, abi=_ABI).functions.isValidSignature(digest, signature).call()
    except (ContractLogicError, BadFunctionCallOutput):
        return False
    except (Web3Exception, OSError) as exc:
        raise ChainUnavailable(f"could not ask {address} to check a signature: {exc}") from exc
    return bytes(answer) == MAGIC_VALUE


def signed_by(settings: Settings, signer: str, signable: SignableMessage, signature: bytes) -> bool:
    """Whether `signature` is `signer`'s over an EIP-712 message, as OpenZeppelin's SignatureChecker
    judges it on chain: an ECDSA signature by the signer's key, or one its contract wallet accepts."""
    if len(signature) == 65:
        try:
            if Account.recover_message(signable, signature=signature) == Web3.to_checksum_address(signer):
                return True
        except Exception:  # noqa: BLE001, S110 - malformed r/s/v values raise assorted errors: not the signer's
            pass
    digest = keccak(b"\x19" + signable.version + signable.header + signable.body)
    return contract_wallet_accepts(settings, signer, digest, signature)
