"""ERC-1271: whether a smart-contract wallet accepts a signature over a digest. Used by sign-in
for wallets whose "signature" is not an ECDSA signature by their own address (Safe and other
contract accounts)."""

from __future__ import annotations

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
