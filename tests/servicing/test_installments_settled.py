"""The index counts the installments a loan has settled as LoanBook does (`installmentsPaid`), not
the last one a payment touched: a part payment, or a payment of late fees only, names the
installment it went towards without settling it (the review's M2)."""

from __future__ import annotations

from sqlalchemy import select

from backend.chain.projection_models import LoanRow
from backend.chain.projections import Loans
from backend.db.session import session_scope
from backend.servicing.roll_rates import LATE_BUCKETS, Episode, outcomes
from tests.servicing.conftest import index

DAY = 86_400


def _indexed(settings, loan_id: int) -> LoanRow:
    with session_scope(settings) as session:
        row = session.scalar(select(LoanRow).where(LoanRow.loan_id == loan_id))
        session.expunge(row)
    return row


def test_the_index_counts_the_installments_the_chain_counts_as_paid(servicing_settings, world):
    settings, book = servicing_settings, world.book
    loan_id, start = world.active_loan()
    terms = world.loan(loan_id)
    amount, period = terms["installmentAmount"], terms["installmentPeriod"]

    def step(pay: int, at: int) -> None:
        world.repay(loan_id, pay, at=at)
        index(settings)
        row, on_chain = _indexed(settings, loan_id), world.loan(loan_id)
        assert row.installments_settled == on_chain["installmentsPaid"], (pay, at)

    step(amount, start + period)  # installment 1 exactly: settled, with nothing touching 2
    step(amount // 3, start + 2 * period - DAY)  # part of 2
    step(amount // 3, start + 2 * period)  # more of 2, still short
    assert _indexed(settings, loan_id).last_installment == 2  # touched, not settled
    step(book.functions.amountDue(loan_id).call()[0], start + 2 * period + DAY)  # the rest of 2
    # 3 goes late: its fee is assessed and paid first, with a little of 3
    fee_and_some = terms["installmentAmount"] * 5 // 100 + 2 + 10
    step(fee_and_some, start + 3 * period + 20 * DAY)
    step(2 * amount, start + 3 * period + 21 * DAY)  # the rest of 3 and all of 4 (its period has started)
    step(amount // 2, start + 4 * period - DAY)  # nothing billed: a prepayment
    step(3 * amount, start + 5 * period + DAY)  # settles 5 (billed on the prepaid balance), part of 6


def test_a_part_paid_installment_is_not_settled_whatever_order_the_fees_come_in():
    # The review's numbers: installment 1 paid; a payment towards 2 after a late fee; then a fee
    # on its own. However LoanBook reports fees (first, last, or in an event of their own naming
    # the next installment unpaid), only interest and principal settle an installment.
    principal, apr, period, n = 12_000_000_000, 1_200, 30 * DAY, 12
    amount = 1_065_262_883
    row = LoanRow(loan_id=1, installments=n, apr_bps=apr, installment_period=period, installment_amount=amount,
                  principal_outstanding=principal, last_installment=0, installments_settled=0, billed_unpaid=0,
                  fees_paid=0, interest_paid=0, principal_paid=0)  # fmt: skip

    def pay(k: int, fee: int, interest: int, principal_paid: int) -> None:
        row.principal_outstanding -= principal_paid
        Loans._fold(row, "LoanPayment", {"installment": k, "feePaid": fee, "interestPaid": interest,
                                         "principalPaid": principal_paid, "principalOutstanding": row.principal_outstanding})  # fmt: skip

    pay(1, 0, 118_356_165, amount - 118_356_165)  # interest ceil(12,000 x 12% x 30/365) and the rest
    assert (row.installments_settled, row.last_installment) == (1, 1)
    pay(2, 53_263_145, 109_016_811, 370_351_485)  # the review's part payment: A / 2 = fee, interest, some principal
    assert (row.installments_settled, row.last_installment) == (1, 2)
    pay(2, 53_263_145, 0, 0)  # a fee only, naming the installment still unpaid
    pay(1, 53_263_145, 0, 0)  # or naming the one it was assessed on
    assert row.installments_settled == 1


def test_a_loan_part_paid_in_collections_defaults_on_the_installment_it_never_settled(servicing_settings, world):
    # The review's scenario on the chain: installment 1 paid; 40 days after installment 2's due
    # date half an installment (the late fee, the interest, part of the principal); then default.
    settings, book = servicing_settings, world.book
    loan_id, start = world.active_loan()
    amount, period = world.loan(loan_id)["installmentAmount"], world.loan(loan_id)["installmentPeriod"]
    world.repay(loan_id, amount, at=start + period)
    world.repay(loan_id, amount // 2, at=start + 2 * period + 40 * DAY)
    at = book.functions.defaultableAt(loan_id).call() + 1
    world.chain.mine_at(at)
    world.chain.tx(book.functions.markDefault(loan_id), world.admin.address, at=at + 1)
    index(settings)
    row = _indexed(settings, loan_id)
    assert (row.status, row.last_installment, row.installments_settled) == ("defaulted", 2, world.loan(loan_id)["installmentsPaid"]) == ("defaulted", 2, 1)
    late_on_2 = Episode(loan_id, 2, LATE_BUCKETS.index("late_31_120"))  # as the servicing passes saw it
    assert outcomes([late_on_2], {loan_id: row}, {}) == [(Episode(loan_id, 2, len(LATE_BUCKETS) - 1), True)]
