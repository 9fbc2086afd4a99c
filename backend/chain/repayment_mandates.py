"""Repayment mandates (autopay) as EIP-712 typed data, exactly as `RepaymentAgent.payWithMandate`
verifies them, and what the keeper and the API read of the agent and the loan.

A payer signs `typed_data(...)` once; the platform's keeper (the mandate's `executor`) then has the
agent pay each installment of the loan as it falls due, from the payer's wallet, which approved
the agent. The digest is the mandate's id on chain (`RepaymentAgent.cancelled(digest)`)."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

from eth_utils import to_checksum_address

from backend.amounts import money
from backend.chain import eip712
from backend.chain.client import contract_at, reading
from backend.chain.deploy import deployed_contract
from backend.chain.wallet_calls import WalletCall, approval
from backend.config import Settings

# Field order and types must match REPAYMENT_MANDATE_TYPEHASH in RepaymentAgent.sol.
REPAYMENT_MANDATE_TYPE = [
    {"name": "payer", "type": "address"},
    {"name": "executor", "type": "address"},
    {"name": "loanId", "type": "uint256"},
    {"name": "maxPerPayment", "type": "uint128"},
    {"name": "expiry", "type": "uint40"},
    {"name": "salt", "type": "uint256"},
]
PAY_WINDOW = 3 * 86_400  # RepaymentAgent.PAY_WINDOW


@dataclass(frozen=True)
class RepaymentMandate:
    """What a payer lets the platform's keeper pay from its wallet (amounts in base units)."""

    payer: str
    executor: str
    loan_id: int
    max_per_payment: int
    expiry: int
    salt: int

    def __post_init__(self) -> None:
        object.__setattr__(self, "payer", to_checksum_address(self.payer))
        object.__setattr__(self, "executor", to_checksum_address(self.executor))

    def message(self) -> dict[str, Any]:
        return {"payer": self.payer, "executor": self.executor, "loanId": self.loan_id,
                "maxPerPayment": self.max_per_payment, "expiry": self.expiry, "salt": self.salt}  # fmt: skip

    def as_tuple(self) -> tuple:
        return tuple(self.message().values())

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


def typed_data(mandate: RepaymentMandate, chain_id: int, verifying_contract: str) -> dict[str, Any]:
    return eip712.document("RepaymentAgent", chain_id, verifying_contract, "RepaymentMandate", REPAYMENT_MANDATE_TYPE,
                           mandate.message())  # fmt: skip


def digest(mandate: RepaymentMandate, chain_id: int, verifying_contract: str) -> bytes:
    """What the payer signs (`RepaymentAgent.hashRepaymentMandate`): the mandate's id."""
    return eip712.digest_of(typed_data(mandate, chain_id, verifying_contract))


def sign(mandate: RepaymentMandate, private_key: Any, chain_id: int, verifying_contract: str) -> bytes:
    return eip712.sign_document(typed_data(mandate, chain_id, verifying_contract), private_key)


def payer_signed(settings: Settings, mandate: RepaymentMandate, chain_id: int, verifying_contract: str,
                 signature: bytes) -> bool:  # fmt: skip
    return eip712.signed(settings, mandate.payer, typed_data(mandate, chain_id, verifying_contract), signature)


class AgentView:
    """RepaymentAgent and its token as one payer sees them."""

    def __init__(self, settings: Settings, payer: str) -> None:
        self.agent = deployed_contract(settings, "RepaymentAgent")
        self.payer = to_checksum_address(payer)
        with reading("RepaymentAgent"):
            self.token = contract_at(settings, "MockStablecoin", self.agent.functions.asset().call())

    def _read(self, fn):
        with reading("RepaymentAgent"):
            return fn.call()

    def tokens(self, amount: int) -> str:
        """`amount` base units as a wallet prompt words it: "1,000.00 tokens"."""
        if not hasattr(self, "_decimals"):
            self._decimals = int(self._read(self.token.functions.decimals()))
        return f"{money(amount, self._decimals)} tokens"

    def cancelled(self, mandate_hash: str) -> bool:
        return bool(self._read(self.agent.functions.cancelled(bytes.fromhex(mandate_hash.removeprefix("0x")))))

    def takeable(self) -> int:
        """What the agent can take from the payer's wallet now: the lower of balance and allowance."""
        return min(int(self._read(self.token.functions.balanceOf(self.payer))),
                   int(self._read(self.token.functions.allowance(self.payer, self.agent.address))))  # fmt: skip

    def allowance(self) -> int:
        return int(self._read(self.token.functions.allowance(self.payer, self.agent.address)))

    def approve(self, amount: int) -> WalletCall:
        return approval(self.token, self.agent.address, "the repayment agent", self.tokens(amount), amount)

    def cancel(self, mandate: RepaymentMandate) -> WalletCall:
        data = self.agent.encode_abi("cancelMandate", [mandate.as_tuple()])
        return WalletCall(self.agent.address, data, "cancel the autopay mandate on chain, for good")
