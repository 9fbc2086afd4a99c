"""Funding mandates as EIP-712 typed data, exactly as `LoanBook.fundWithMandate` verifies them.

An investor signs `typed_data(...)` once (in a wallet: `eth_signTypedData_v4`); the platform's
keeper (the mandate's `executor`) then funds new loans with it, within its bounds, which LoanBook
checks on every use. The digest is the mandate's id on chain (`LoanBook.mandateSpent(digest)`).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

from eth_utils import to_checksum_address

from backend.chain import eip712
from backend.chain.client import reading
from backend.chain.deploy import deployed_contract
from backend.chain.signers import platform_account
from backend.config import Settings

# Field order and types must match FUNDING_MANDATE_TYPEHASH in LoanBook.sol.
FUNDING_MANDATE_TYPE = [
    {"name": "investor", "type": "address"},
    {"name": "executor", "type": "address"},
    {"name": "perLoan", "type": "uint128"},
    {"name": "budget", "type": "uint128"},
    {"name": "minAprBps", "type": "uint16"},
    {"name": "maxAprBps", "type": "uint16"},
    {"name": "maxInstallments", "type": "uint16"},
    {"name": "expiry", "type": "uint40"},
    {"name": "salt", "type": "uint256"},
]


@dataclass(frozen=True)
class FundingMandate:
    """What an investor lets the platform's keeper fund for it (amounts in base units)."""

    investor: str
    executor: str
    per_loan: int
    budget: int
    min_apr_bps: int
    max_apr_bps: int
    max_installments: int
    expiry: int
    salt: int

    def __post_init__(self) -> None:
        object.__setattr__(self, "investor", to_checksum_address(self.investor))
        object.__setattr__(self, "executor", to_checksum_address(self.executor))

    def message(self) -> dict[str, Any]:
        """The EIP-712 message (camelCase keys, as in the Solidity struct)."""
        return {
            "investor": self.investor, "executor": self.executor, "perLoan": self.per_loan, "budget": self.budget,
            "minAprBps": self.min_apr_bps, "maxAprBps": self.max_apr_bps, "maxInstallments": self.max_installments,
            "expiry": self.expiry, "salt": self.salt,
        }  # fmt: skip

    def as_tuple(self) -> tuple:
        """The `FundingMandate` struct argument (web3.py, outbox arguments)."""
        return tuple(self.message().values())

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


def typed_data(mandate: FundingMandate, chain_id: int, verifying_contract: str) -> dict[str, Any]:
    """The full EIP-712 document (what `eth_signTypedData_v4` takes)."""
    return eip712.document("LoanBook", chain_id, verifying_contract, "FundingMandate", FUNDING_MANDATE_TYPE,
                           mandate.message())  # fmt: skip


def digest(mandate: FundingMandate, chain_id: int, verifying_contract: str) -> bytes:
    """The 32-byte hash the investor signs (`LoanBook.hashFundingMandate`): the mandate's id."""
    return eip712.digest_of(typed_data(mandate, chain_id, verifying_contract))


def sign(mandate: FundingMandate, private_key: Any, chain_id: int, verifying_contract: str) -> bytes:
    """A 65-byte signature by `private_key` (a key or a LocalAccount) over the mandate."""
    return eip712.sign_document(typed_data(mandate, chain_id, verifying_contract), private_key)


# --- what the keeper and the API read from the chain ---------------------------------------


def executor_address(settings: Settings) -> str:
    """The account the outbox sends from: the only one a mandate may name as its executor."""
    from backend.chain.sender import SIGNER_ROLE

    return platform_account(settings, SIGNER_ROLE).address


def investor_signed(settings: Settings, mandate: FundingMandate, chain_id: int, verifying_contract: str,
                    signature: bytes) -> bool:  # fmt: skip
    """Whether `signature` is the investor's over the mandate, as LoanBook's SignatureChecker will
    judge it: an ECDSA signature by the investor's key, or one its contract wallet accepts."""
    return eip712.signed(settings, mandate.investor, typed_data(mandate, chain_id, verifying_contract), signature)


def mandate_spent(settings: Settings, mandate_hash: str) -> int:
    """What LoanBook has funded under the mandate (its whole budget once cancelled)."""
    book = deployed_contract(settings, "LoanBook")
    with reading("LoanBook"):
        return int(book.functions.mandateSpent(bytes.fromhex(mandate_hash.removeprefix("0x"))).call())


def book_paused(settings: Settings) -> bool:
    book = deployed_contract(settings, "LoanBook")
    with reading("LoanBook"):
        return bool(book.functions.paused().call())
