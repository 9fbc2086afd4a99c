"""Whether an open order's maker can still see it through. NoteMarket holds neither a bid's money nor
a listing's notes, so an order can stay open in the book long after it stopped being able to fill:
a bid fills only while its bidder may receive notes (LoanBook: verified at the investor KYC level,
not the loan's borrower; the platform: nor another wallet of the borrower's person) and NoteMarket can take its money (balance up to allowance); a listing only
while its seller holds the notes and lets NoteMarket move them. The keeper's matches, a taker's
plan and the API's steering of a new order towards an existing one all ask these same questions,
so none of them acts on an order the others would pass over. NoteMarket and LoanBook check again
on chain; these reads can be outrun by the makers.

A `Makers` reads each wallet's facts from the chain once, and is meant for one plan or one keeper
pass: what that plan commits of a wallet's money or notes is passed in (`committed`, `selling`)."""

from __future__ import annotations

from sqlalchemy.orm import Session

from backend.chain.kyc_reader import is_verified
from backend.chain.market_calls import NoteMarketWallet
from backend.chain.projection_models import LoanRow
from backend.config import Settings
from backend.identity.persons import same_borrower_person


class Makers:
    def __init__(self, settings: Settings, db: Session) -> None:
        self.settings, self.db = settings, db
        self._wallets: dict[str, NoteMarketWallet] = {}
        self._level: int | None = None
        self._verified: dict[str, bool] = {}
        self._money: dict[str, int] = {}
        self._held: dict[tuple[str, int], int] = {}
        self._moves: dict[str, bool] = {}
        self._own: dict[tuple[str, str], bool] = {}

    def wallet(self, address: str) -> NoteMarketWallet:
        if address not in self._wallets:
            self._wallets[address] = NoteMarketWallet(self.settings, address)
        return self._wallets[address]

    def level(self, via: str) -> int:
        """The KYC level LoanBook asks of anyone receiving notes: one setting for every wallet, read
        once (through `via`'s view of LoanBook)."""
        if self._level is None:
            self._level = self.wallet(via).investor_level()
        return self._level

    def borrowers_person(self, wallet: str, loan: LoanRow) -> bool:
        """Is `wallet` the loan's borrower, or another wallet of its person? A bid placed before the
        two were known to be one person (a wallet verified with the borrower's national ID later)
        stays in the book, and must not fill."""
        if (wallet, loan.borrower) not in self._own:
            self._own[wallet, loan.borrower] = wallet == loan.borrower or same_borrower_person(self.db, wallet, loan.borrower)
        return self._own[wallet, loan.borrower]

    def may_receive(self, wallet: str, loan: LoanRow) -> bool:
        """LoanBook's rules for receiving notes of `loan`: never its borrower, and verified at the
        investor KYC level now (an attestation can lapse or be revoked after the bid was placed);
        and the platform's: nor another wallet of the borrower's person."""
        if self.borrowers_person(wallet, loan):
            return False
        if wallet not in self._verified:
            self._verified[wallet] = is_verified(self.settings, wallet, self.level(wallet))
        return self._verified[wallet]

    def money(self, bidder: str) -> int:
        """What NoteMarket can take from the bidder now: its balance, up to its allowance."""
        if bidder not in self._money:
            self._money[bidder] = self.wallet(bidder).takeable()
        return self._money[bidder]

    def pays(self, bidder: str, loan: LoanRow, amount: int, committed: int = 0) -> bool:
        """Whether a bid of `bidder` for notes of `loan` can pay `amount` on top of what this plan
        already takes from it (`committed`)."""
        return self.may_receive(bidder, loan) and committed + amount <= self.money(bidder)

    def held(self, seller: str, loan_id: int) -> int:
        if (seller, loan_id) not in self._held:
            self._held[seller, loan_id] = self.wallet(seller).notes(loan_id)
        return self._held[seller, loan_id]

    def lets_market_move(self, seller: str) -> bool:
        if seller not in self._moves:
            self._moves[seller] = self.wallet(seller).market_may_move_notes()
        return self._moves[seller]

    def delivers(self, seller: str, loan_id: int, notes: int, selling: int = 0) -> bool:
        """Whether a listing of `seller` can deliver `notes` notes of the loan on top of what this
        plan already moves from it (`selling`)."""
        return selling + notes <= self.held(seller, loan_id) and self.lets_market_move(seller)
