"""RepaymentAgent (autopay without custody): a payer signs a repayment mandate once; its executor
alone has the agent pay what the loan bills, from the payer's wallet straight into LoanBook, no
sooner than three days before the due date, never ahead of the schedule, never above the cap (up
to which it pays when more is due),
never a loan that is not Active, never after expiry or cancellation; the agent keeps nothing."""

from __future__ import annotations

from backend.chain import repayment_mandates as rm
from backend.chain.loan_terms import period_interest
from tests.contracts.helpers import DAY, REPAID, events, expect_revert
from tests.contracts.model import LoanModel

UNIT, MAX_UINT = 10**6, 2**256 - 1


def _mandate(world, loan_id: int, **overrides) -> rm.RepaymentMandate:
    amount = world.loan(loan_id)["installmentAmount"]
    values = dict(payer=world.borrower.address, executor=world.admin.address, loan_id=loan_id,
                  max_per_payment=2 * amount, expiry=world.chain.now() + 400 * DAY, salt=1)  # fmt: skip
    return rm.RepaymentMandate(**(values | overrides))


def _sign(world, mandate, key=None) -> bytes:
    return rm.sign(mandate, key or world.borrower, world.chain_id, world.agent.address)


def _pay(world, mandate, signature):
    return world.agent.functions.payWithMandate(mandate.as_tuple(), signature)


def _model(world, loan_id: int) -> LoanModel:
    loan, book = world.loan(loan_id), world.book
    return LoanModel(principal=loan["principal"], apr_bps=loan["aprBps"], installments=loan["installments"],
                     period=loan["installmentPeriod"], start=loan["startTime"], grace=book.functions.gracePeriod().call(),
                     late_fee_bps=book.functions.lateFeeBps().call())  # fmt: skip


def test_the_executor_pays_each_installment_from_the_payers_wallet_as_it_falls_due(world, snapshot):
    agent, book, chain = world.agent, world.book, world.chain
    loan_id, start = world.active_loan()
    chain.tx(world.token.functions.approve(agent.address, MAX_UINT), world.borrower.address)
    mandate = _mandate(world, loan_id)
    signature = _sign(world, mandate)
    digest = rm.digest(mandate, world.chain_id, agent.address)
    assert agent.functions.hashRepaymentMandate(mandate.as_tuple()).call() == digest
    amount = world.loan(loan_id)["installmentAmount"]

    # Billed from the payout on, but not paid until three days before it falls due.
    expect_revert(chain, _pay(world, mandate, signature), world.admin.address, "RepaymentAgentNotYetDue",
                  loan_id, start + 30 * DAY, at=start + 26 * DAY)  # fmt: skip
    before = world.balance(world.borrower)
    receipt = chain.tx(_pay(world, mandate, signature), world.admin.address, at=start + 28 * DAY)
    assert events(receipt, agent, "PaidWithMandate") == [{"mandateHash": digest, "payer": world.borrower.address,
                                                          "loanId": loan_id, "amount": amount}]  # fmt: skip
    (payment,) = events(receipt, book, "LoanPayment")
    assert (payment["installment"], payment["payer"]) == (1, agent.address)
    assert world.balance(world.borrower) == before - amount and world.balance(agent) == 0  # it keeps nothing
    assert world.loan(loan_id)["installmentsPaid"] == 1
    # Nothing more is billed before installment 2's period starts: never ahead of the schedule.
    expect_revert(chain, _pay(world, mandate, signature), world.admin.address, "RepaymentAgentNothingDue", loan_id,
                  at=start + 29 * DAY)  # fmt: skip

    # Installments 2 (past its grace period: its late fee) and 3 (due on day 90) unpaid on day 95, and
    # installment 4 billed but not due before day 120: two installments and a fee are due, above a cap
    # of two installments, within one of three; installment 4 is not paid.
    late = start + 95 * DAY
    chain.mine_at(late)
    due = book.functions.amountDue(loan_id).call()[0]
    model = _model(world, loan_id)
    assert due == 2 * amount + model.late_fee
    wider = _mandate(world, loan_id, max_per_payment=3 * amount, salt=2)
    snap = chain.snapshot()
    receipt = chain.tx(_pay(world, wider, _sign(world, wider)), world.admin.address, at=late + 2)
    # The installments first, then the fee (reported on its own, towards the oldest unsettled).
    assert [(p["installment"], p["feePaid"]) for p in events(receipt, book, "LoanPayment")] == [
        (2, 0), (3, 0), (4, model.late_fee)]  # fmt: skip
    assert world.loan(loan_id)["installmentsPaid"] == 3 and world.balance(agent) == 0
    chain.revert(snap)

    # The review's L-3: above the cap, autopay pays the cap (it once refused, and never paid again
    # as what is due only grew). LoanBook applies it oldest installment first: installments 2 and 3,
    # the fee left for the next payment, which waits for installment 4's window (never ahead of it).
    before = world.balance(world.borrower)
    receipt = chain.tx(_pay(world, mandate, signature), world.admin.address, at=late + 1)
    assert events(receipt, agent, "PaidWithMandate")[0]["amount"] == 2 * amount
    assert [(p["installment"], p["feePaid"]) for p in events(receipt, book, "LoanPayment")] == [(2, 0), (3, 0)]
    loan = world.loan(loan_id)
    assert (loan["installmentsPaid"], loan["feesDue"]) == (3, model.late_fee)
    assert world.balance(world.borrower) == before - 2 * amount and world.balance(agent) == 0
    fourth_due = start + 120 * DAY
    expect_revert(chain, _pay(world, mandate, signature), world.admin.address, "RepaymentAgentNotYetDue",
                  loan_id, fourth_due, at=late + 2)  # fmt: skip
    receipt = chain.tx(_pay(world, mandate, signature), world.admin.address, at=fourth_due - DAY)
    assert events(receipt, agent, "PaidWithMandate")[0]["amount"] == amount + model.late_fee
    loan = world.loan(loan_id)
    assert (loan["installmentsPaid"], loan["feesDue"]) == (4, 0) and world.balance(agent) == 0


def test_right_after_a_due_date_only_that_installment_is_due_and_autopay_pays_just_it(world, snapshot):
    """Installment 2's period starts when installment 1 falls due, so from the next second it is
    billed (it may be paid early, and the payoff counts its interest), but it is not due: what is
    due now is installment 1 alone, which a mandate capped at one installment pays."""
    agent, book, chain = world.agent, world.book, world.chain
    loan_id, start = world.active_loan()
    chain.tx(world.token.functions.approve(agent.address, MAX_UINT), world.borrower.address)
    amount = world.loan(loan_id)["installmentAmount"]
    one = _mandate(world, loan_id, max_per_payment=amount)  # the smallest cap the backend allows
    model = _model(world, loan_id)
    first_due = start + 30 * DAY
    chain.mine_at(first_due + 1)
    due, payoff, due_date = book.functions.amountDue(loan_id).call()
    assert (due, due_date) == (amount, first_due) and (due, payoff) == model.quote(first_due + 1)
    receipt = chain.tx(_pay(world, one, _sign(world, one)), world.admin.address, at=first_due + 2)
    assert events(receipt, agent, "PaidWithMandate")[0]["amount"] == amount
    assert [p["installment"] for p in events(receipt, book, "LoanPayment")] == [1]
    assert world.loan(loan_id)["installmentsPaid"] == 1 and world.balance(agent) == 0
    model.repay(amount, first_due + 2)
    # The payoff read before held installment 1, the balance after it and installment 2's interest
    # for the one day of its period begun.
    assert payoff == amount + model.outstanding + period_interest(model.outstanding, model.apr_bps, DAY)
    # Installment 2 is now the oldest unpaid and billed, so due now, yet autopay waits for its window.
    assert tuple(book.functions.amountDue(loan_id).call()) == (*model.quote(first_due + 2), first_due + 30 * DAY)
    expect_revert(chain, _pay(world, one, _sign(world, one)), world.admin.address, "RepaymentAgentNotYetDue",
                  loan_id, first_due + 30 * DAY, at=first_due + 3)  # fmt: skip

    # The payoff, interest of the days begun included, closes the loan, exactly.
    at = first_due + 4
    chain.mine_at(at)
    payoff = book.functions.amountDue(loan_id).call()[1]
    assert payoff == model.quote(at + 1)[1]
    before = world.balance(world.borrower)
    receipt = world.repay(loan_id, payoff, at=at + 1)
    assert world.balance(world.borrower) == before - payoff
    assert world.loan(loan_id)["status"] == REPAID and world.loan(loan_id)["principalOutstanding"] == 0
    assert book.functions.amountDue(loan_id).call() == [0, 0, 0]


def test_every_bound_the_payer_signed_is_enforced(world, snapshot):
    agent, chain, admin = world.agent, world.chain, world.admin.address
    loan_id, start = world.active_loan()
    chain.tx(world.token.functions.approve(agent.address, MAX_UINT), world.borrower.address)
    mandate = _mandate(world, loan_id)
    signature = _sign(world, mandate)
    digest = rm.digest(mandate, world.chain_id, agent.address)
    chain.mine_at(start + 29 * DAY)
    outsider = world.investors[0].address
    expect_revert(chain, _pay(world, mandate, signature), outsider, "RepaymentAgentWrongExecutor", digest, admin, outsider)
    expect_revert(chain, _pay(world, mandate, _sign(world, mandate, world.investors[0])), admin,
                  "RepaymentAgentInvalidSignature", world.borrower.address)  # fmt: skip
    other = _mandate(world, loan_id, max_per_payment=10**12)  # never signed, with the signature of another
    expect_revert(chain, _pay(world, other, signature), admin, "RepaymentAgentInvalidSignature", world.borrower.address)
    funding, _ = world.create()
    unfunded = _mandate(world, funding)
    expect_revert(chain, _pay(world, unfunded, _sign(world, unfunded)), admin, "RepaymentAgentNotActive", funding)
    capless = _mandate(world, loan_id, max_per_payment=0, salt=4)
    expect_revert(chain, _pay(world, capless, _sign(world, capless)), admin, "RepaymentAgentZeroCap",
                  rm.digest(capless, world.chain_id, agent.address))  # fmt: skip
    expect_revert(chain, agent.functions.cancelMandate(mandate.as_tuple()), admin, "RepaymentAgentNotPayer",
                  admin, world.borrower.address)  # fmt: skip
    receipt = chain.tx(agent.functions.cancelMandate(mandate.as_tuple()), world.borrower.address)
    assert events(receipt, agent, "MandateCancelled") == [{"mandateHash": digest, "payer": world.borrower.address}]
    assert agent.functions.cancelled(digest).call()
    expect_revert(chain, _pay(world, mandate, signature), admin, "RepaymentAgentCancelled", digest)
    short = _mandate(world, loan_id, expiry=start + 29 * DAY + 10, salt=3)
    chain.mine_at(start + 29 * DAY + 20)
    expect_revert(chain, _pay(world, short, _sign(world, short)), admin, "RepaymentAgentExpired",
                  rm.digest(short, world.chain_id, agent.address), short.expiry)  # fmt: skip
    assert world.loan(loan_id)["installmentsPaid"] == 0  # nothing was paid


def test_a_defaulted_loan_is_never_paid_by_autopay(world, snapshot):
    """After a default, `amountDue` is what is left to recover: autopay must not pay that."""
    agent, book, chain = world.agent, world.book, world.chain
    loan_id, _ = world.active_loan()
    chain.tx(world.token.functions.approve(agent.address, MAX_UINT), world.borrower.address)
    mandate = _mandate(world, loan_id, max_per_payment=10**15)
    chain.tx(book.functions.markDefault(loan_id), world.admin.address, at=book.functions.defaultableAt(loan_id).call() + 1)
    assert book.functions.amountDue(loan_id).call()[0] > 0  # a recovery is owed...
    expect_revert(chain, _pay(world, mandate, _sign(world, mandate)), world.admin.address,
                  "RepaymentAgentNotActive", loan_id)  # ...but not by autopay  # fmt: skip
