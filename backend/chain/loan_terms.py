"""Loan terms as EIP-712 typed data, exactly as `LoanBook.createLoan` verifies them, and the
repayment schedule the contract will enforce (the same integer math as
`contracts/libraries/AmortizationMath.sol`).

The borrower signs `typed_data(...)` (in a wallet: `eth_signTypedData_v4`), the platform's
underwriter countersigns the same message, and anyone submits `terms.as_tuple()` with both
signatures. The domain binds the chain id and the LoanBook address, and the borrower's nonce
(`LoanBook.nonces(borrower)`) makes each signature usable once.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, replace
from typing import Any

from eth_account import Account
from eth_account.messages import SignableMessage, encode_typed_data
from eth_utils import keccak, to_checksum_address

from backend.errors import ValidationFailed

DOMAIN_NAME = "LoanBook"
DOMAIN_VERSION = "1"

BPS = 10_000
YEAR = 365 * 86_400
RAY = 10**27

EIP712_DOMAIN_TYPE = [
    {"name": "name", "type": "string"},
    {"name": "version", "type": "string"},
    {"name": "chainId", "type": "uint256"},
    {"name": "verifyingContract", "type": "address"},
]

# Field order and types must match LOAN_TERMS_TYPEHASH in LoanBook.sol.
LOAN_TERMS_TYPE = [
    {"name": "borrower", "type": "address"},
    {"name": "principal", "type": "uint128"},
    {"name": "aprBps", "type": "uint16"},
    {"name": "installments", "type": "uint16"},
    {"name": "installmentPeriod", "type": "uint32"},
    {"name": "fundingDeadline", "type": "uint40"},
    {"name": "originationFeeBps", "type": "uint16"},
    {"name": "agreementHash", "type": "bytes32"},
    {"name": "decisionHash", "type": "bytes32"},
    {"name": "nonce", "type": "uint256"},
    {"name": "deadline", "type": "uint256"},
]

TYPE_STRING = "LoanTerms(" + ",".join(f"{f['type']} {f['name']}" for f in LOAN_TERMS_TYPE) + ")"


def _bytes32(value: bytes | str) -> bytes:
    raw = bytes.fromhex(value[2:] if value.startswith("0x") else value) if isinstance(value, str) else bytes(value)
    if len(raw) != 32:
        raise ValueError(f"expected 32 bytes, got {len(raw)}")
    return raw


@dataclass(frozen=True)
class LoanTerms:
    """The signed terms of one loan (amounts in the asset's base units, times in Unix seconds)."""

    borrower: str
    principal: int
    apr_bps: int
    installments: int
    installment_period: int
    funding_deadline: int
    origination_fee_bps: int
    agreement_hash: bytes
    decision_hash: bytes
    nonce: int
    deadline: int

    def __post_init__(self) -> None:
        object.__setattr__(self, "borrower", to_checksum_address(self.borrower))
        object.__setattr__(self, "agreement_hash", _bytes32(self.agreement_hash))
        object.__setattr__(self, "decision_hash", _bytes32(self.decision_hash))

    def message(self) -> dict[str, Any]:
        """The EIP-712 message (camelCase keys, as in the Solidity struct)."""
        return {
            "borrower": self.borrower,
            "principal": self.principal,
            "aprBps": self.apr_bps,
            "installments": self.installments,
            "installmentPeriod": self.installment_period,
            "fundingDeadline": self.funding_deadline,
            "originationFeeBps": self.origination_fee_bps,
            "agreementHash": self.agreement_hash,
            "decisionHash": self.decision_hash,
            "nonce": self.nonce,
            "deadline": self.deadline,
        }

    def json_message(self) -> dict[str, Any]:
        """The message with the bytes32 fields as 0x-hex: for JSON (typed data, outbox arguments)."""
        message = self.message()
        message["agreementHash"] = "0x" + self.agreement_hash.hex()
        message["decisionHash"] = "0x" + self.decision_hash.hex()
        return message

    def as_tuple(self) -> tuple:
        """The `LoanTerms` struct argument for `createLoan`/`hashLoanTerms` (web3.py)."""
        return tuple(self.message().values())

    def to_json(self) -> dict[str, Any]:
        data = asdict(self)
        data["agreement_hash"] = "0x" + self.agreement_hash.hex()
        data["decision_hash"] = "0x" + self.decision_hash.hex()
        return data

    def with_(self, **changes: Any) -> LoanTerms:
        return replace(self, **changes)

    @property
    def installment_amount(self) -> int:
        return installment_amount(self.principal, self.apr_bps, self.installment_period, self.installments)


def domain(chain_id: int, verifying_contract: str) -> dict[str, Any]:
    return {
        "name": DOMAIN_NAME,
        "version": DOMAIN_VERSION,
        "chainId": chain_id,
        "verifyingContract": to_checksum_address(verifying_contract),
    }


def typed_data(terms: LoanTerms, chain_id: int, verifying_contract: str) -> dict[str, Any]:
    """The full EIP-712 document (what `eth_signTypedData_v4` takes, with bytes as 0x-hex)."""
    return {
        "types": {"EIP712Domain": EIP712_DOMAIN_TYPE, "LoanTerms": LOAN_TERMS_TYPE},
        "primaryType": "LoanTerms",
        "domain": domain(chain_id, verifying_contract),
        "message": terms.json_message(),
    }


def signable(terms: LoanTerms, chain_id: int, verifying_contract: str) -> SignableMessage:
    return encode_typed_data(full_message=typed_data(terms, chain_id, verifying_contract))


def digest(terms: LoanTerms, chain_id: int, verifying_contract: str) -> bytes:
    """The 32-byte hash both parties sign (`LoanBook.hashLoanTerms`)."""
    msg = signable(terms, chain_id, verifying_contract)
    return keccak(b"\x19" + msg.version + msg.header + msg.body)


def sign(terms: LoanTerms, private_key: Any, chain_id: int, verifying_contract: str) -> bytes:
    """A 65-byte signature by `private_key` (a key or a LocalAccount) over the terms."""
    key = getattr(private_key, "key", private_key)
    signed = Account.sign_typed_data(key, full_message=typed_data(terms, chain_id, verifying_contract))
    return bytes(signed.signature)


def contract_underwriter_signature(underwriter_contract: str, contract_signature: bytes) -> bytes:
    """The underwriter signature for an ERC-1271 underwriter: its address, then its signature."""
    return bytes.fromhex(to_checksum_address(underwriter_contract)[2:]) + bytes(contract_signature)


# --- schedule (mirrors AmortizationMath / LoanServicing) -------------------------------------


def _mul_div(x: int, y: int, d: int, ceil: bool = False) -> int:
    q, r = divmod(x * y, d)
    return q + 1 if ceil and r else q


def period_interest(balance: int, apr_bps: int, period: int) -> int:
    """Interest for one period on `balance`, rounded up."""
    return _mul_div(balance, apr_bps * period, BPS * YEAR, ceil=True)


def _rpow(x: int, n: int) -> int:
    z = x if n % 2 else RAY
    n //= 2
    while n:
        x = x * x // RAY
        if n % 2:
            z = z * x // RAY
        n //= 2
    return z


def _rate(apr_bps: int, period: int) -> int:
    return apr_bps * period * RAY // (BPS * YEAR)


def annuity(principal: int, apr_bps: int, period: int, installments: int) -> tuple[int, int]:
    """(the equal installment rounded up, the principal the exact schedule's first installment
    repays rounded down), as `AmortizationMath.annuity`; at zero interest the whole installment is
    principal."""
    rate = _rate(apr_bps, period)
    if rate == 0:
        amount = -(-principal // installments)
        return amount, amount
    growth = _rpow(RAY + rate, installments)
    factor = _mul_div(rate, growth, growth - RAY, ceil=True)
    return _mul_div(principal, factor, RAY, ceil=True), principal * rate // (growth - RAY)


def installment_amount(principal: int, apr_bps: int, period: int, installments: int) -> int:
    """The equal installment, rounded up (as `AmortizationMath.installmentAmount`)."""
    return annuity(principal, apr_bps, period, installments)[0]


# LoanBook.MIN_FIRST_PRINCIPAL: the least principal, in base units, the exact schedule's first
# installment must repay; below it `createLoan` reverts `LoanBookScheduleDoesNotAmortize`. Rounding
# then leaves less than P / first principal units (under 1 bp of P) for the last installment.
MIN_FIRST_PRINCIPAL = 10_000


def check_amortizes(principal: int, apr_bps: int, period: int, installments: int) -> None:
    """Refuse (422) terms LoanBook would refuse with `LoanBookScheduleDoesNotAmortize`: a schedule
    whose first installment repays too little principal for the integer schedule to amortize (interest
    taking almost all of every installment, the principal drifting into a balloon). Checked before
    anyone signs."""
    amount, first_principal = annuity(principal, apr_bps, period, installments)
    if apr_bps and first_principal < MIN_FIRST_PRINCIPAL:  # without interest nothing compounds
        raise ValidationFailed(
            f"a loan of {principal} base units at {apr_bps} bps APR over {installments} installments of "
            f"{period} s does not amortize: its first installment of {amount} would repay {first_principal} of "
            f"principal (at least {MIN_FIRST_PRINCIPAL} is needed); shorten it, lower the APR or raise the amount",
            field="installments", installment_amount=amount, first_interest=period_interest(principal, apr_bps, period),
            first_principal=first_principal, min_first_principal=MIN_FIRST_PRINCIPAL,
        )  # fmt: skip


@dataclass(frozen=True)
class Installment:
    number: int
    interest: int
    principal: int
    balance_after: int

    @property
    def amount(self) -> int:
        return self.interest + self.principal


def schedule(principal: int, apr_bps: int, period: int, installments: int) -> list[Installment]:
    """The installments when every one is paid on time and in full, with no prepayment."""
    amount = installment_amount(principal, apr_bps, period, installments)
    return remaining_schedule(principal, apr_bps, period, installments, amount, paid=0)


def remaining_schedule(balance: int, apr_bps: int, period: int, installments: int, amount: int,
                       paid: int) -> list[Installment]:  # fmt: skip
    """The installments after the first `paid`, from `balance` outstanding, when each is paid on time
    and in full: interest on the balance, the fixed `amount`, the last taking what is left (as
    `LoanServicing`). After a prepayment the balance is lower and the loan ends sooner."""
    rows = []
    for k in range(paid + 1, installments + 1):
        if balance == 0:
            break
        interest = period_interest(balance, apr_bps, period)
        part = balance if k == installments else min(max(amount - interest, 0), balance)
        balance -= part
        rows.append(Installment(k, interest, part, balance))
    return rows
