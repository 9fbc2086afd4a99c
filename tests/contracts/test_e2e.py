"""End to end, on Anvil and on Ganache: a 12-installment loan with 10 investors through full
repayment; then the same loan defaulting halfway, covered by the reserve, with a recovery."""

from __future__ import annotations

import pytest
from eth_account import Account
from web3 import Web3

from backend.chain import loan_terms as lt
from tests.contracts.helpers import ACTIVE, DAY, DEFAULTED, FUNDING, REPAID, events

UNIT = 10**6
PRINCIPAL = 12_000 * UNIT
PERIOD = 30 * DAY
TICKETS = [500, 700, 1_000, 1_300, 1_500, 1_200, 800, 1_800, 2_000, 1_200]  # sums to 12,000


@pytest.fixture
def investors(any_world):
    wallets = [Account.from_key(Web3.keccak(text=f"e2e-investor-{i}")) for i in range(10)]
    any_world.onboard(wallets, 10_000 * UNIT)
    return wallets


def originate(world, investors) -> tuple[int, int]:
    """Create (relayed by the platform), fund in 10 unequal tickets, disburse."""
    book, chain = world.book, world.chain
    loan_id, receipt = world.create(principal=PRINCIPAL, apr_bps=1_200, installments=12, installment_period=PERIOD,
                                    origination_fee_bps=100)  # fmt: skip
    assert world.loan(loan_id)["status"] == FUNDING
    for inv, ticket in zip(investors, TICKETS):
        chain.send_as(book.functions.fund(loan_id, ticket * UNIT), inv)
        assert book.functions.balanceOf(inv.address, loan_id).call() == ticket * UNIT
    borrower_before = world.balance(world.borrower)
    reserve_before = world.balance(world.reserve.address)
    receipt = chain.tx(book.functions.disburse(loan_id), world.admin.address)
    (ev,) = events(receipt, book, "LoanDisbursed")
    assert ev["netAmount"] == PRINCIPAL * 99 // 100 and ev["originationFee"] == PRINCIPAL // 100
    assert world.balance(world.borrower) == borrower_before + PRINCIPAL * 99 // 100
    assert world.balance(world.reserve.address) == reserve_before + PRINCIPAL // 100
    assert world.loan(loan_id)["status"] == ACTIVE
    return loan_id, ev["startTime"]


def claim_all(world, loan_id, investors) -> list[int]:
    claimed = []
    for inv in investors:
        receipt = world.chain.send_as(world.book.functions.claim(loan_id), inv)
        claimed.append(events(receipt, world.book, "Claimed")[0]["amount"])
    return claimed


def test_full_repayment(any_world, investors):
    world = any_world
    book = world.book
    loan_id, start = originate(world, investors)
    rows = lt.schedule(PRINCIPAL, 1_200, PERIOD, 12)
    amount = world.loan(loan_id)["installmentAmount"]
    total = 0
    for row in rows:
        pay = amount if row.number < 12 else row.amount
        receipt = world.repay(loan_id, pay, at=start + row.number * PERIOD - 2 * DAY)
        (ev,) = events(receipt, book, "LoanPayment")
        # The last installment, paid two days early, pays the loan off: 28 days of its interest.
        interest = row.interest if row.number < 12 else lt.period_interest(row.principal, 1_200, PERIOD - 2 * DAY)
        assert (ev["installment"], ev["feePaid"], ev["interestPaid"], ev["principalPaid"]) == (
            row.number, 0, interest, row.principal)  # fmt: skip
        assert ev["principalOutstanding"] == row.balance_after and ev["payer"] == world.borrower.address
        total += ev["interestPaid"] + ev["principalPaid"]
    assert world.loan(loan_id)["status"] == REPAID
    assert total == sum(r.amount for r in rows) - rows[-1].interest + interest
    assert total - PRINCIPAL == sum(r.interest for r in rows[:-1]) + interest

    claimed = claim_all(world, loan_id, investors)
    for ticket, got in zip(TICKETS, claimed):
        assert got == total * ticket * UNIT // PRINCIPAL  # the exact share, rounded down
    assert total - len(investors) < sum(claimed) <= total
    assert all(book.functions.claimableOf(loan_id, i.address).call() == 0 for i in investors)


def test_default_halfway_covered_by_the_reserve(any_world, investors):
    world = any_world
    book, reserve, chain = world.book, world.reserve, world.chain
    loan_id, start = originate(world, investors)
    rows = lt.schedule(PRINCIPAL, 1_200, PERIOD, 12)
    amount = world.loan(loan_id)["installmentAmount"]
    for row in rows[:6]:
        world.repay(loan_id, amount, at=start + row.number * PERIOD - DAY)
    paid = 6 * amount
    outstanding = rows[5].balance_after
    assert world.loan(loan_id)["principalOutstanding"] == outstanding

    threshold = book.functions.defaultableAt(loan_id).call()
    assert threshold == start + 7 * PERIOD + book.functions.defaultAfter().call()
    reserve_balance = reserve.functions.balance().call()
    cover = min(outstanding * 8_000 // 10_000, reserve_balance)
    receipt = chain.tx(book.functions.markDefault(loan_id), world.outsider.address, at=threshold + 5)
    (ev,) = events(receipt, book, "LoanDefaulted")
    assert ev["principalOutstanding"] == outstanding and ev["cover"] == cover
    # The debt: principal, the interest of every billed installment, and their late fees.
    # The borrower still owes all of it: the cover insures the investors, it pays no debt.
    assert ev["debt"] > outstanding and ev["recoverable"] == ev["debt"]
    assert reserve.functions.balance().call() == reserve_balance - cover
    loan = world.loan(loan_id)
    assert loan["status"] == DEFAULTED and loan["coverPaid"] == cover

    # A recovery after default is spread the same way.
    recovery = 1_000 * UNIT
    receipt = world.repay(loan_id, recovery, payer=world.borrower)
    assert events(receipt, book, "LoanRecovery")[0]["amount"] == recovery

    distributed = paid + cover + recovery
    claimed = claim_all(world, loan_id, investors)
    for ticket, got in zip(TICKETS, claimed):
        assert got == distributed * ticket * UNIT // PRINCIPAL
    assert distributed - len(investors) < sum(claimed) <= distributed
    # Investors lost only what neither the borrower nor the reserve paid.
    assert sum(claimed) < PRINCIPAL + sum(r.interest for r in rows)
