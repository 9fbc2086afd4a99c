"""Transactions for a user's own wallet to send (`eth_sendTransaction`): calldata for LoanBook and
the loan token, and the reads that decide which calls are needed. The backend never signs these:
investors' and borrowers' money moves from their wallets straight to the contract."""

from __future__ import annotations

from dataclasses import dataclass

from web3 import Web3

from backend.amounts import money
from backend.chain.client import contract_at, read_many, reading
from backend.chain.deploy import deployed_contract
from backend.config import Settings


@dataclass(frozen=True)
class WalletCall:
    to: str
    data: str
    description: str


def approval(token, spender: str, name: str, in_tokens: str, amount: int, covering: str = "") -> WalletCall:
    """The wallet's ERC-20 `approve` of `amount` to `spender` (`name` in the prompt, `in_tokens` the
    amount worded); `covering`: what the amount is for, when more than the one call that follows."""
    why = f" ({covering})" if covering else ""
    return WalletCall(token.address, token.encode_abi("approve", [spender, amount]),
                      f"allow {name} to take up to {in_tokens} from your wallet{why}")


class LoanBookWallet:
    """LoanBook and its token, as seen by one wallet."""

    def __init__(self, settings: Settings, wallet: str) -> None:
        self.wallet = Web3.to_checksum_address(wallet)
        self.book = deployed_contract(settings, "LoanBook")
        with reading("LoanBook"):
            # Any ERC-20 answers MockStablecoin's allowance/balanceOf/approve ABI.
            self.token = contract_at(settings, "MockStablecoin", self.book.functions.asset().call())

    def _read(self, fn):
        with reading("LoanBook"):
            return fn.call()

    def decimals(self) -> int:
        """The loan token's decimals, to word amounts in tokens for people."""
        if not hasattr(self, "_decimals"):
            self._decimals = int(self._read(self.token.functions.decimals()))
        return self._decimals

    def tokens(self, amount: int) -> str:
        """`amount` base units as a wallet prompt words it: "1,000.00 tokens"."""
        return f"{money(amount, self.decimals())} tokens"

    def min_ticket(self) -> int:
        return int(self._read(self.book.functions.minTicket()))

    def late_fee_bps(self) -> int:
        """LoanBook's late fee (immutable: read once)."""
        if not hasattr(self, "_late_fee_bps"):
            self._late_fee_bps = int(self._read(self.book.functions.lateFeeBps()))
        return self._late_fee_bps

    def investor_level(self) -> int:
        """The KYC level LoanBook asks of anyone funding or receiving notes."""
        return int(self._read(self.book.functions.investorKycLevel()))

    def amount_due(self, loan_id: int) -> tuple[int, int]:
        """(due now, payoff)."""
        due_now, payoff, _ = self.standing(loan_id)
        return due_now, payoff

    def standing(self, loan_id: int) -> tuple[int, int, int]:
        """(due now, payoff, the oldest unpaid due date), as LoanBook's `amountDue` says now."""
        due_now, payoff, due_date = self._read(self.book.functions.amountDue(loan_id))
        return int(due_now), int(payoff), int(due_date)

    def claimable(self, loan_id: int) -> int:
        return int(self._read(self.book.functions.claimableOf(loan_id, self.wallet)))

    def claimable_of(self, loan_ids: list[int]) -> dict[int, int]:
        """`claimable` of each loan, read in JSON-RPC batches (a portfolio can hold hundreds)."""
        calls = [self.book.functions.claimableOf(loan_id, self.wallet) for loan_id in loan_ids]
        return {loan_id: int(amount) for loan_id, amount in zip(loan_ids, read_many(calls, "LoanBook"), strict=True)}

    def notes(self, loan_id: int) -> int:
        """The wallet's notes of the loan: what it funded and has not had refunded."""
        return int(self._read(self.book.functions.balanceOf(self.wallet, loan_id)))

    def allowance(self) -> int:
        return int(self._read(self.token.functions.allowance(self.wallet, self.book.address)))

    def balance(self) -> int:
        return int(self._read(self.token.functions.balanceOf(self.wallet)))

    def approve(self, amount: int, covering: str = "") -> WalletCall:
        return approval(self.token, self.book.address, "LoanBook", self.tokens(amount), amount, covering)

    def call(self, function: str, args: list, description: str) -> WalletCall:
        return WalletCall(self.book.address, self.book.encode_abi(function, args), description)
