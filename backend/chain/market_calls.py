"""NoteMarket as seen by one wallet: the reads that decide which calls a listing, a bid, a purchase,
a sale or a withdrawal needs, and their calldata. As for LoanBook, the backend never signs these."""

from __future__ import annotations

from dataclasses import dataclass

from backend.chain.client import reading
from backend.chain.deploy import deployed_contract
from backend.chain.wallet_calls import LoanBookWallet, WalletCall, approval
from backend.config import Settings


def market_paused(settings: Settings) -> bool:
    with reading("NoteMarket"):
        return bool(deployed_contract(settings, "NoteMarket").functions.paused().call())


@dataclass(frozen=True)
class LoanStanding:
    """A loan's principal and what is left of it on chain now: what NoteMarket's prices apply to."""

    principal: int
    principal_outstanding: int


class NoteMarketWallet:
    """Built on the wallet's LoanBook view: the notes, the token and the balance are LoanBook's
    (NoteMarket trades in LoanBook's asset); only the spender of approvals differs."""

    def __init__(self, settings: Settings, wallet: str) -> None:
        self.holder = LoanBookWallet(settings, wallet)
        self.wallet, self.book, self.token = self.holder.wallet, self.holder.book, self.holder.token
        self.decimals, self.tokens = self.holder.decimals, self.holder.tokens
        self.market = deployed_contract(settings, "NoteMarket")

    def _read(self, fn):
        with reading("NoteMarket"):
            return fn.call()

    def notes(self, loan_id: int) -> int:
        return self.holder.notes(loan_id)

    def market_may_move_notes(self) -> bool:
        return bool(self._read(self.book.functions.isApprovedForAll(self.wallet, self.market.address)))

    def investor_level(self) -> int:
        """The KYC level LoanBook asks of anyone receiving notes."""
        return self.holder.investor_level()

    def cost(self, listing_id: int, notes: int) -> int:
        """What buying `notes` of the listing costs now (NoteMarket's price of the principal outstanding now)."""
        return int(self._read(self.market.functions.costOf(listing_id, notes)))

    def proceeds(self, bid_id: int, notes: int) -> int:
        return int(self._read(self.market.functions.proceedsOf(bid_id, notes)))

    def standing(self, loan_id: int) -> LoanStanding:
        """The loan's principal and principal outstanding now, which NoteMarket's prices apply to."""
        loan = self._read(self.book.functions.loan(loan_id))
        names = [c["name"] for c in self.book.get_function_by_name("loan").abi["outputs"][0]["components"]]
        fields = dict(zip(names, loan))
        return LoanStanding(principal=int(fields["principal"]), principal_outstanding=int(fields["principalOutstanding"]))

    def balance(self, of: str | None = None) -> int:
        """The loan token held by this wallet, or by `of` (a bidder whose bid is to be hit)."""
        return int(self._read(self.token.functions.balanceOf(of or self.wallet)))

    def allowance(self, of: str | None = None) -> int:
        return int(self._read(self.token.functions.allowance(of or self.wallet, self.market.address)))

    def takeable(self, of: str | None = None) -> int:
        """What NoteMarket can take now from this wallet (or from `of`) to pay a fill: its balance
        of the loan token, up to what it allows NoteMarket."""
        return min(self.balance(of), self.allowance(of))

    def let_market_move_notes(self) -> WalletCall:
        data = self.book.encode_abi("setApprovalForAll", [self.market.address, True])
        return WalletCall(self.book.address, data, "let NoteMarket move your notes when a buyer takes them")

    def approve(self, amount: int, covering: str = "") -> WalletCall:
        return approval(self.token, self.market.address, "NoteMarket", self.tokens(amount), amount, covering)

    def call(self, function: str, args: list, description: str) -> WalletCall:
        return WalletCall(self.market.address, self.market.encode_abi(function, args), description)
