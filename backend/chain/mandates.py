"""Funding mandates as EIP-712 typed data, exactly as `FundingAgent.fundWithMandate` verifies
them, and what the keeper and the API read of the agent.

An investor authorizes the FundingAgent on LoanBook once (`setAuthorization`) and signs
`typed_data(...)` (in a wallet: `eth_signTypedData_v4`); the platform's keeper (the mandate's
`executor`) then has the agent fund new loans with it, within its bounds, which the agent checks on
every use (LoanBook applies its own rules of funding). The digest is the mandate's id on chain
(`FundingAgent.mandateSpent(digest)`).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

from eth_utils import to_checksum_address

from backend.chain import eip712
from backend.chain.client import get_web3, reading
from backend.chain.deploy import deployed_contract
from backend.chain.signers import platform_account
from backend.chain.wallet_calls import WalletCall
from backend.config import Settings

# Field order and types must match FUNDING_MANDATE_TYPEHASH in FundingAgent.sol.
FUNDING_MANDATE_TYPE = [
    {"name": "investor", "type": "address"},
    {"name": "executor", "type": "address"},
    {"name": "perLoan", "type": "uint128"},
    {"name": "budget", "type": "uint128"},
    {"name": "minAprBps", "type": "uint16"},
    {"name": "maxAprBps", "type": "uint16"},
    {"name": "maxInstallments", "type": "uint16"},
    {"name": "maxTerm", "type": "uint32"},
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
    max_term: int  # seconds: installments x installment period, at most
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
            "maxTerm": self.max_term, "expiry": self.expiry, "salt": self.salt,
        }  # fmt: skip

    def as_tuple(self) -> tuple:
        """The `FundingMandate` struct argument (web3.py, outbox arguments)."""
        return tuple(self.message().values())

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


def typed_data(mandate: FundingMandate, chain_id: int, verifying_contract: str) -> dict[str, Any]:
    """The full EIP-712 document (what `eth_signTypedData_v4` takes)."""
    return eip712.document("FundingAgent", chain_id, verifying_contract, "FundingMandate", FUNDING_MANDATE_TYPE,
                           mandate.message())  # fmt: skip


def digest(mandate: FundingMandate, chain_id: int, verifying_contract: str) -> bytes:
    """The 32-byte hash the investor signs (`FundingAgent.hashFundingMandate`): the mandate's id."""
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
    """Whether `signature` is the investor's over the mandate, as the agent's SignatureChecker will
    judge it: an ECDSA signature by the investor's key, or one its contract wallet accepts."""
    return eip712.signed(settings, mandate.investor, typed_data(mandate, chain_id, verifying_contract), signature)


@dataclass(frozen=True)
class AgentDomain:
    """Where a funding mandate is signed for: the chain and the FundingAgent (its EIP-712 domain)."""

    chain_id: int
    address: str


def agent_domain(settings: Settings) -> AgentDomain:
    agent = deployed_contract(settings, "FundingAgent")
    with reading("FundingAgent"):
        return AgentDomain(int(get_web3(settings).eth.chain_id), agent.address)


def mandate_spent(settings: Settings, mandate_hash: str) -> int:
    """What the agent has funded under the mandate (its whole budget once cancelled)."""
    agent = deployed_contract(settings, "FundingAgent")
    with reading("FundingAgent"):
        return int(agent.functions.mandateSpent(bytes.fromhex(mandate_hash.removeprefix("0x"))).call())


def agent_authorized(settings: Settings, investor: str) -> bool:
    """Whether the investor lets the FundingAgent fund loans for it (`LoanBook.isAuthorized`)."""
    book, agent = deployed_contract(settings, "LoanBook"), deployed_contract(settings, "FundingAgent")
    with reading("LoanBook"):
        return bool(book.functions.isAuthorized(to_checksum_address(investor), agent.address).call())


def authorize_call(settings: Settings, authorized: bool) -> WalletCall:
    """The investor's LoanBook call letting the FundingAgent fund for it, or taking that back."""
    book, agent = deployed_contract(settings, "LoanBook"), deployed_contract(settings, "FundingAgent")
    data = book.encode_abi("setAuthorization", [agent.address, authorized])
    what = ("let the funding agent fund loans for your wallet, within mandates you sign" if authorized
            else "take back the funding agent's authorization (a new mandate asks for it again)")  # fmt: skip
    return WalletCall(book.address, data, what)


def cancel_call(settings: Settings, mandate: FundingMandate) -> WalletCall:
    agent = deployed_contract(settings, "FundingAgent")
    data = agent.encode_abi("cancelMandate", [mandate.as_tuple()])
    return WalletCall(agent.address, data, "cancel the funding mandate on chain, for good")


def book_paused(settings: Settings) -> bool:
    book = deployed_contract(settings, "LoanBook")
    with reading("LoanBook"):
        return bool(book.functions.paused().call())
