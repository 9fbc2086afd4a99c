"""Read-only LoanBook calls for loan servicing: where an active loan stands right now, as the
contract itself computes it (`amountDue`, `defaultableAt`), so the backend never re-implements the
servicing math it would then have to keep in step with the contract."""

from __future__ import annotations

from dataclasses import dataclass

from backend.chain.client import contract_at, read_many, reading
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


@dataclass(frozen=True)
class FundingFacts:
    """What LoanBook says now of a loan the index shows open for funding past its deadline: what a
    `cancel` or `disburse` sent now would be judged on (the index trails the chain)."""

    loan_id: int
    status: str
    principal: int
    funded: int
    funding_deadline: int
    borrower_verified: bool  # at the level LoanBook wants for a payout


@dataclass(frozen=True)
class BookNow:
    block_time: int  # the latest block's timestamp: what an estimate sent now is judged against
    paused: bool
    loans: list[FundingFacts]


def funding_facts(settings: Settings, loan_ids: list[int]) -> BookNow:
    """Funding facts of `loan_ids`, the pause and the clock, all read at one block."""
    book = deployed_contract(settings, "LoanBook")
    with reading("the chain's clock"):
        block = book.w3.eth.get_block("latest")
    at = block["number"]
    paused, level, registry_address, *loans = read_many(
        [book.functions.paused(), book.functions.borrowerKycLevel(), book.functions.kycRegistry()]
        + [book.functions.loan(loan_id) for loan_id in loan_ids], "LoanBook", at)  # fmt: skip
    registry = contract_at(settings, "KYCRegistry", registry_address)
    # Loan struct: [0] borrower, [1] status, [5] fundingDeadline, [6] principal, [7] funded (see ILoanBook.Loan)
    verified = read_many([registry.functions.isVerified(loan[0], level) for loan in loans], "KYCRegistry", at)
    facts = [FundingFacts(loan_id, STATUS_NAMES[loan[1]], loan[6], loan[7], loan[5], ok)
             for loan_id, loan, ok in zip(loan_ids, loans, verified, strict=True)]  # fmt: skip
    return BookNow(int(block["timestamp"]), bool(paused), facts)
