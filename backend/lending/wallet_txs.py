"""Wallet-ready transactions for funding, repaying and claiming: checked here first, so a user
gets a clear 4xx instead of a reverted transaction and wasted gas. The contract checks again;
these checks read the chain index and the contract, and can be outrun by other wallets."""

from __future__ import annotations

from sqlalchemy.orm import Session

from backend.chain.deploy_params import DAY
from backend.chain.kyc_reader import is_verified
from backend.chain.loan_book import deadline_clock
from backend.chain.loan_terms import BPS, period_interest
from backend.chain.projection_models import LoanRow
from backend.chain.wallet_calls import LoanBookWallet, WalletCall
from backend.config import Settings
from backend.errors import Conflict, Forbidden, NotFound, ValidationFailed
from backend.identity.persons import same_borrower_person
from backend.lending.loans import refundable
from backend.lending.mandates import funding_approval
from backend.lending.schemas import WalletCallPublic, WalletTxCreate, WalletTxPublic
from backend.servicing.funding import DISBURSEMENT_WINDOW
from backend.servicing.notices import money

PAYOFF_LEEWAY_DAYS = 7


def _fund(db: Session, settings: Settings, book: LoanBookWallet, row: LoanRow, amount: int | None,
          now: int) -> tuple[int, list[WalletCall]]:  # fmt: skip
    if row.status != "funding":
        raise Conflict(f"loan {row.loan_id} is {row.status}, not open for funding", status=row.status)
    if now > row.funding_deadline:
        raise Conflict(f"loan {row.loan_id}: funding closed at {row.funding_deadline}", loan_id=row.loan_id)
    if row.borrower.lower() == book.wallet.lower():
        raise Forbidden(f"loan {row.loan_id} is your own: a borrower cannot fund it (no self-funding)", loan_id=row.loan_id)
    if same_borrower_person(db, book.wallet, row.borrower):  # LoanBook compares wallets only; the platform knows the person
        raise Forbidden(f"loan {row.loan_id} is your own person's (its borrower's wallet shares your national ID): a "
                        "borrower cannot fund it from another wallet (no self-funding)", loan_id=row.loan_id,
                        rule="same_person")  # fmt: skip
    level = book.investor_level()
    if not is_verified(settings, book.wallet, level):  # LoanBook would revert the fund, after the wallet paid gas
        raise Forbidden(f"only wallets verified at KYC level {level} may fund: pass KYC first", level=level)
    if amount is None:
        raise ValidationFailed("amount: required to fund", field="amount")
    remaining, ticket = row.principal - row.funded, book.min_ticket()
    if amount > remaining:
        raise ValidationFailed(f"amount: at most {book.tokens(remaining)}, what the loan still needs",
                               field="amount", remaining=remaining)  # fmt: skip
    if amount < ticket and amount != remaining:
        raise ValidationFailed(f"amount: at least the minimum ticket of {book.tokens(ticket)}",
                               field="amount", min_ticket=ticket)  # fmt: skip
    return amount, [book.call("fund", [row.loan_id, amount], f"fund loan {row.loan_id} with {book.tokens(amount)}")]


def payoff_limit(book: LoanBookWallet, row: LoanRow, payoff: int) -> int:
    """What a payoff transaction offers LoanBook, which takes only what is owed when it is mined.

    An active loan's payoff grows as each day of its period begins (and by a late fee when one is
    assessed), and a payoff that arrives short is a partial prepayment, charged its period's whole
    interest: the transaction allows for PAYOFF_LEEWAY_DAYS more days of interest and one late fee.
    A defaulted loan's debt is frozen: exactly what it says."""
    if row.status != "active":
        return payoff
    interest = period_interest(row.principal_outstanding, row.apr_bps, PAYOFF_LEEWAY_DAYS * DAY)
    fee = -(-row.installment_amount * book.late_fee_bps() // BPS)  # rounded up, as LoanBook assesses it
    return payoff + interest + fee


def _repay(book: LoanBookWallet, row: LoanRow, amount: int | None, everything: bool = False) -> tuple[int, list[WalletCall]]:
    if row.status not in ("active", "defaulted"):
        raise Conflict(f"loan {row.loan_id} is {row.status}: nothing to repay", status=row.status)
    due_now, payoff = book.amount_due(row.loan_id)
    if everything:  # early repayment is free: the rest of the principal, interest (days begun) and fees to date
        limit = payoff_limit(book, row, payoff)
        worded = f"pay off loan {row.loan_id}: {book.tokens(payoff)} today"
        if limit > payoff:
            worded += f" (LoanBook takes what is owed when it is mined, at most {book.tokens(limit)})"
        return payoff, [book.call("repay", [row.loan_id, limit], worded)]
    amount = amount or due_now
    if amount == 0:
        raise Conflict(f"loan {row.loan_id}: nothing is due now; to prepay, send an amount, or pay the loan off",
                       loan_id=row.loan_id)  # fmt: skip
    if amount > payoff:
        raise ValidationFailed(f"amount: at most {book.tokens(payoff)}, everything owed today",
                               field="amount", payoff=payoff)  # fmt: skip
    return amount, [book.call("repay", [row.loan_id, amount], f"pay {book.tokens(amount)} towards loan {row.loan_id}")]


def _disburse(book: LoanBookWallet, row: LoanRow) -> tuple[int, list[WalletCall]]:
    if row.status != "funding" or row.funded != row.principal:
        raise Conflict(f"loan {row.loan_id} is not fully funded and waiting for disbursal", status=row.status)
    return row.principal, [book.call("disburse", [row.loan_id], f"pay out loan {row.loan_id} to its borrower")]


def _refund(book: LoanBookWallet, row: LoanRow, now: int) -> tuple[int, list[WalletCall]]:
    if not refundable(row, now):
        raise Conflict(f"loan {row.loan_id} is {row.status}: refunds are for loans not fully funded by their deadline, "
                       f"or not paid out within {DISBURSEMENT_WINDOW // DAY} days of it", status=row.status)  # fmt: skip
    amount = book.notes(row.loan_id)
    if amount == 0:
        raise Conflict(f"loan {row.loan_id}: {book.wallet} funded nothing that is still to refund", loan_id=row.loan_id)
    return amount, [book.call("refund", [row.loan_id], f"take back the {book.tokens(amount)} funded into loan {row.loan_id}")]


def _claim(book: LoanBookWallet, row: LoanRow) -> tuple[int, list[WalletCall]]:
    amount = book.claimable(row.loan_id)
    if amount == 0:
        raise Conflict(f"loan {row.loan_id}: nothing to claim for {book.wallet}", loan_id=row.loan_id)
    return amount, [book.call("claim", [row.loan_id], f"claim {book.tokens(amount)} from loan {row.loan_id}")]


def prepare(db: Session, settings: Settings, wallet: str, loan_id: int, request: WalletTxCreate) -> WalletTxPublic:
    row = db.get(LoanRow, loan_id)
    if row is None:
        raise NotFound(f"no loan {loan_id} in the chain index", loan_id=loan_id)
    book = LoanBookWallet(settings, wallet)
    now = deadline_clock(settings)
    if request.action == "fund":
        amount, calls = _fund(db, settings, book, row, request.amount, now)
    elif request.action in ("repay", "payoff"):
        amount, calls = _repay(book, row, request.amount, everything=request.action == "payoff")
    elif request.action == "refund":
        amount, calls = _refund(book, row, now)
    elif request.action == "claim":
        amount, calls = _claim(book, row)
    else:
        amount, calls = _disburse(book, row)
    if request.action in ("fund", "repay", "payoff"):  # money leaves the wallet: check it holds and allows it
        balance = book.balance()
        if balance < amount:
            raise Conflict(f"the wallet holds {book.tokens(balance)}, less than the "
                           f"{money(amount, book.decimals())} this needs", balance=balance, amount=amount)  # fmt: skip
        if request.action == "fund":
            calls[:0] = funding_approval(db, settings, book, amount, now, "this funding")
        else:  # a payoff offers a little more than today's figure (payoff_limit); the balance need not hold it
            allowed = payoff_limit(book, row, amount) if request.action == "payoff" else amount
            if book.allowance() < allowed:
                calls.insert(0, book.approve(allowed))
    return WalletTxPublic(
        loan_id=loan_id, action=request.action, amount=amount,
        transactions=WalletCallPublic.of(calls),
    )  # fmt: skip
