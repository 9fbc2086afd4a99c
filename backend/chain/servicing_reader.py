"""Read-only LoanBook calls for loan servicing: where an active loan stands right now, as the
contract itself computes it (`amountDue`, `defaultableAt`), so the backend never re-implements the
servicing math it would then have to keep in step with the contract."""

from __future__ import annotations

from dataclasses import dataclass

from backend.chain.client import read_many
from backend.chain.deploy import deployed_contract
from backend.config import Settings

STATUS_NAMES = ("none", "funding", "active", "repaid", "defaulted", "cancelled")  # ILoanBook.LoanStatus


@dataclass(frozen=True)
class LoanPosition:
    loan_id: int
    status: str
    installments_paid: int
    due_now: int  # fees, the oldest unsettled installment and any later one past its due date: what brings the loan up to date
    payoff: int  # everything owed today
    next_due_date: int  # the oldest unsettled installment's due date (0 when not active)
    defaultable_at: int  # after this, anyone may call markDefault (0 when not active)


def loan_positions(settings: Settings, loan_ids: list[int], block: int | None = None) -> list[LoanPosition]:
    """Positions now, or as the contract computed them at an earlier `block` (at its timestamp),
    which needs a node that still keeps that block's state (an archive node, for old blocks)."""
    book = deployed_contract(settings, "LoanBook")
    at = "latest" if block is None else block
    what = "LoanBook" if block is None else f"LoanBook at block {block} (old state needs an archive node)"
    calls = [fn for loan_id in loan_ids for fn in (book.functions.loan(loan_id), book.functions.amountDue(loan_id),
                                                     book.functions.defaultableAt(loan_id))]  # fmt: skip
    answers = read_many(calls, what, at)
    positions = []
    for i, loan_id in enumerate(loan_ids):
        loan, (due_now, payoff, next_due), defaultable_at = answers[3 * i : 3 * i + 3]
        # Loan struct: [0] borrower, [1] status, ..., [11] installmentsPaid (see ILoanBook.Loan)
        positions.append(LoanPosition(loan_id, STATUS_NAMES[loan[1]], loan[11], due_now, payoff, next_due, defaultable_at))
    return positions
