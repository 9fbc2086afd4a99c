"""LoanBook servicing: the annuity schedule, the payment waterfall (late fees, interest,
principal), prepayment, payoff, late fees, claims through the accumulator, note transfers,
default with reserve cover, recoveries; each checked against the Python model."""

from __future__ import annotations

import pytest
from web3.logs import DISCARD

from backend.chain import loan_terms as lt
from tests.contracts.helpers import ACTIVE, DAY, DEFAULTED, FUNDING, REPAID, events, expect_revert
from tests.contracts.model import LoanModel, Payment

UNIT = 10**6
PERIOD = 30 * DAY


def model_of(world, loan_id: int) -> LoanModel:
    loan, book = world.loan(loan_id), world.book
    return LoanModel(
        principal=loan["principal"], apr_bps=loan["aprBps"], installments=loan["installments"],
        period=loan["installmentPeriod"], start=loan["startTime"], grace=book.functions.gracePeriod().call(),
        late_fee_bps=book.functions.lateFeeBps().call(),
    )  # fmt: skip


def payments_of(world, receipt) -> list[Payment]:
    book = world.book
    logs = []
    for e in book.events.LoanPayment().process_receipt(receipt, errors=DISCARD):
        a = e["args"]
        logs.append((e["logIndex"], Payment(a["installment"], a["feePaid"], a["interestPaid"], a["principalPaid"],
                                             a["principalOutstanding"])))  # fmt: skip
    for e in book.events.LoanPrepayment().process_receipt(receipt, errors=DISCARD):
        a = e["args"]
        logs.append((e["logIndex"], Payment(0, a["feePaid"], 0, a["principalPaid"], a["principalOutstanding"])))
    return [p for _, p in sorted(logs, key=lambda x: x[0])]


def repay_checked(world, model: LoanModel, loan_id: int, amount: int, at: int, payer=None):
    """Repay on chain and in the model; assert identical events, amounts and stored state."""
    payer = payer or world.borrower
    before = world.balance(payer)
    receipt = world.repay(loan_id, amount, payer=payer, at=at)
    expected = model.repay(amount, at)
    assert payments_of(world, receipt) == expected.payments
    assessed = events(receipt, world.book, "LateFeeAssessed")
    assert sum(e["amount"] for e in assessed) == expected.assessed
    assert world.balance(payer) == before - expected.paid
    loan = world.loan(loan_id)
    assert loan["principalOutstanding"] == model.outstanding
    assert loan["installmentsPaid"] == model.paid_installments
    assert (loan["interestDue"], loan["principalDue"], loan["feesDue"]) == (
        model.interest_due, model.principal_due, model.fees_due)  # fmt: skip
    assert loan["status"] == (REPAID if expected.repaid else ACTIVE)
    assert bool(events(receipt, world.book, "LoanRepaid")) == expected.repaid
    return receipt, expected


def test_on_time_schedule_matches_the_annuity(world, snapshot):
    loan_id, start = world.active_loan()
    model = model_of(world, loan_id)
    rows = lt.schedule(12_000 * UNIT, 1_200, PERIOD, 12)
    amount = world.loan(loan_id)["installmentAmount"]
    assert amount == model.amount == rows[0].amount
    total = 0
    for row in rows:
        due = start + row.number * PERIOD
        assert world.book.functions.amountDue(loan_id).call(block_identifier="latest")[2] == due
        pay = row.amount if row.number < 12 else rows[-1].amount
        receipt, result = repay_checked(world, model, loan_id, pay, at=due - DAY)
        assert result.payments == [Payment(row.number, 0, row.interest, row.principal, row.balance_after)]
        total += pay
    assert world.loan(loan_id)["status"] == REPAID
    # Interest rounds up each period (towards investors), so principal runs a few units behind
    # the exact annuity and the last installment absorbs that remainder.
    assert amount <= rows[-1].amount <= amount + 12 and sum(r.principal for r in rows) == 12_000 * UNIT
    assert total == sum(r.amount for r in rows)


def test_partial_payments_go_to_interest_first(world, snapshot):
    loan_id, start = world.active_loan()
    model = model_of(world, loan_id)
    interest = lt.period_interest(12_000 * UNIT, 1_200, PERIOD)
    _, r = repay_checked(world, model, loan_id, interest - 1, at=start + DAY)
    assert r.payments == [Payment(1, 0, interest - 1, 0, 12_000 * UNIT)]
    _, r = repay_checked(world, model, loan_id, 101, at=start + 2 * DAY)
    assert r.payments == [Payment(1, 0, 1, 100, 12_000 * UNIT - 100)]
    repay_checked(world, model, loan_id, 10**12, at=start + 3 * DAY)  # finishes #1, prepays the rest
    assert world.loan(loan_id)["status"] == REPAID


def test_prepayment_shortens_the_loan(world, snapshot):
    loan_id, start = world.active_loan()
    model = model_of(world, loan_id)
    amount = model.amount
    _, r = repay_checked(world, model, loan_id, amount + 3_000 * UNIT, at=start + 10 * DAY)
    assert r.payments[-1].installment == 0 and r.payments[-1].principal == 3_000 * UNIT
    # Next installments keep the amount but pay more principal; the loan ends before #12.
    k = 2
    while world.loan(loan_id)["status"] == ACTIVE:
        repay_checked(world, model, loan_id, amount, at=start + k * PERIOD - DAY)
        k += 1
    assert model.paid_installments < 12


def test_prepay_before_the_next_period_starts_is_principal_only(world, snapshot):
    loan_id, start = world.active_loan()
    model = model_of(world, loan_id)
    repay_checked(world, model, loan_id, model.amount, at=start + PERIOD - 5 * DAY)
    # Installment 2's period starts at start + PERIOD: until then money is prepayment.
    _, r = repay_checked(world, model, loan_id, 500 * UNIT, at=start + PERIOD)
    assert r.payments == [Payment(0, 0, 0, 500 * UNIT, model.outstanding)]
    _, r = repay_checked(world, model, loan_id, 1, at=start + PERIOD + 1)
    assert r.payments[0].installment == 2 and r.payments[0].interest == 1


def test_payoff_closes_the_loan_and_overpayment_is_not_taken(world, snapshot):
    loan_id, start = world.active_loan()
    model = model_of(world, loan_id)
    repay_checked(world, model, loan_id, model.amount, at=start + PERIOD)
    at = start + PERIOD + 10 * DAY
    world.chain.mine_at(at)
    due_now, payoff, _ = world.book.functions.amountDue(loan_id).call()
    assert (due_now, payoff) == model.quote(at)
    # One second later (the repay block), the quote is unchanged within the period.
    assert model.quote(at + 1) == (due_now, payoff)
    before = world.balance(world.borrower)
    receipt, r = repay_checked(world, model, loan_id, payoff * 2, at=at + 1)
    assert r.paid == payoff and world.balance(world.borrower) == before - payoff
    assert events(receipt, world.book, "LoanRepaid") == [{"loanId": loan_id, "installmentsPaid": 2}]
    assert world.book.functions.amountDue(loan_id).call() == [0, 0, 0]


def test_late_fee_after_the_grace_period(world, snapshot):
    loan_id, start = world.active_loan()
    model = model_of(world, loan_id)
    grace = world.book.functions.gracePeriod().call()
    due = start + PERIOD
    # Paid at the end of the grace period: no fee.
    _, r = repay_checked(world, model, loan_id, model.amount, at=due + grace)
    assert r.assessed == 0
    # Installment 2 paid one second after its grace period: one fee, paid first.
    receipt, r = repay_checked(world, model, loan_id, model.amount + model.late_fee, at=due + PERIOD + grace + 1)
    fee = -(-model.amount * 500 // 10_000)
    assert r.assessed == fee and r.payments[0].fee == fee
    assert events(receipt, world.book, "LateFeeAssessed") == [{"loanId": loan_id, "throughInstallment": 2,
                                                               "amount": fee}]  # fmt: skip


def test_several_missed_installments_are_settled_in_order(world, snapshot):
    loan_id, start = world.active_loan()
    model = model_of(world, loan_id)
    at = start + 3 * PERIOD + 20 * DAY  # installments 1-3 late, 4 billed
    world.chain.mine_at(at)
    assert tuple(world.book.functions.amountDue(loan_id).call()[:2]) == model.quote(at)
    _, r = repay_checked(world, model, loan_id, 4 * model.amount, at=at + 1)  # fees, #1-#3, part of #4
    assert [p.installment for p in r.payments] == [1, 2, 3, 4]
    assert r.assessed == 3 * model.late_fee
    # The rest of #4 and the schedule go on.
    repay_checked(world, model, loan_id, 2 * model.amount, at=at + 2)


def test_a_prepaid_loan_is_charged_late_fees_only_for_the_installments_it_still_has(world, snapshot):
    """Prepaid down to less than one installment, the loan has one installment left: missing it for
    four months costs one late fee, on what that installment bills, not four on the full amount."""
    loan_id, start = world.active_loan()
    model = model_of(world, loan_id)
    world.chain.mine_at(start + PERIOD - DAY)
    _, payoff, _ = world.book.functions.amountDue(loan_id).call()
    repay_checked(world, model, loan_id, payoff - 500 * UNIT, at=start + PERIOD - DAY + 1)
    assert (model.outstanding, model.paid_installments) == (500 * UNIT, 1)
    at = start + 5 * PERIOD + 16 * DAY  # installments 2-5 are late by the calendar; only 2 exists
    world.chain.mine_at(at)
    final = 500 * UNIT + lt.period_interest(500 * UNIT, 1_200, PERIOD)  # what installment 2 bills
    fee = -(-final * 500 // 10_000)
    assert fee < model.late_fee
    assert tuple(world.book.functions.amountDue(loan_id).call()[:2]) == model.quote(at) == (final + fee, final + fee)
    receipt, r = repay_checked(world, model, loan_id, 10**12, at=at + 1)
    assert r.paid == final + fee and r.repaid
    assert events(receipt, world.book, "LateFeeAssessed") == [{"loanId": loan_id, "throughInstallment": 2,
                                                               "amount": fee}]  # fmt: skip


def test_late_fees_stop_with_the_installment_that_pays_the_balance_off(world, snapshot):
    """Prepaid down to a little more than one installment's principal, two installments are left:
    the first on the full amount, the final one on what it bills."""
    loan_id, start = world.active_loan()
    model = model_of(world, loan_id)
    world.chain.mine_at(start + PERIOD - DAY)
    _, payoff, _ = world.book.functions.amountDue(loan_id).call()
    left = model.amount + 300 * UNIT
    repay_checked(world, model, loan_id, payoff - left, at=start + PERIOD - DAY + 1)
    at = start + 7 * PERIOD + 16 * DAY  # 2-7 late by the calendar
    world.chain.mine_at(at)
    assert tuple(world.book.functions.amountDue(loan_id).call()[:2]) == model.quote(at)
    receipt, r = repay_checked(world, model, loan_id, 10**12, at=at + 1)
    (assessed,) = events(receipt, world.book, "LateFeeAssessed")
    assert assessed["throughInstallment"] == 3 and r.repaid
    assert model.late_fee < assessed["amount"] < 2 * model.late_fee  # a full fee, and one on less


def test_defaulting_saves_the_borrower_nothing(world, snapshot):
    """The reserve's cover insures the investors; it does not pay the borrower's debt. A borrower
    who defaults still owes the whole debt, and what it pays after the investors have recovered
    `debt - cover` goes back to the reserve."""
    book, reserve, chain = world.book, world.reserve, world.chain
    reserve_before_loan = reserve.functions.balance().call()
    before = world.balance(world.borrower)
    loan_id, start = world.active_loan()
    received = world.balance(world.borrower) - before
    at = book.functions.defaultableAt(loan_id).call() + 1
    receipt = chain.tx(book.functions.markDefault(loan_id), world.outsider.address, at=at)
    (ev,) = events(receipt, book, "LoanDefaulted")
    assert ev["recoverable"] == ev["debt"] > ev["principalOutstanding"] == 12_000 * UNIT > ev["cover"] > 0
    # Paying what the default event once left owed (`debt - cover`) no longer settles anything.
    world.repay(loan_id, ev["debt"] - ev["cover"])
    assert world.loan(loan_id)["recoverable"] == ev["cover"]
    assert reserve.functions.balance().call() == reserve_before_loan + 120 * UNIT - ev["cover"]
    before = world.balance(world.borrower)
    world.repay(loan_id, 10**15)
    paid = ev["debt"] - ev["cover"] + before - world.balance(world.borrower)
    assert paid == ev["debt"] > received
    assert world.loan(loan_id)["recoverable"] == 0
    # The reserve is made whole: it keeps the origination fee, as if the loan had performed.
    assert reserve.functions.balance().call() == reserve_before_loan + 120 * UNIT


def test_a_payment_smaller_than_the_fees(world, snapshot):
    loan_id, start = world.active_loan()
    model = model_of(world, loan_id)
    at = start + PERIOD + 16 * DAY
    _, r = repay_checked(world, model, loan_id, 7, at=at)
    assert r.payments == [Payment(1, 7, 0, 0, 12_000 * UNIT)]
    assert world.loan(loan_id)["feesDue"] == model.late_fee - 7


def test_anyone_may_repay_and_repay_stays_open_while_paused(world, snapshot):
    loan_id, start = world.active_loan()
    model = model_of(world, loan_id)
    world.chain.tx(world.book.functions.pause(), world.admin.address)
    repay_checked(world, model, loan_id, model.amount, at=start + PERIOD, payer=world.outsider)


def test_repay_reverts(world, snapshot):
    book, chain = world.book, world.chain
    payer = world.borrower.address
    expect_revert(chain, book.functions.repay(1, 0), payer, "LoanBookZeroAmount")
    expect_revert(chain, book.functions.repay(999, 1), payer, "LoanBookNotRepayable", 999, 0)
    loan_id, _ = world.create()
    expect_revert(chain, book.functions.repay(loan_id, 1), payer, "LoanBookNotRepayable", loan_id, FUNDING)
    world.fund_equally(loan_id)
    chain.tx(book.functions.disburse(loan_id), payer)
    world.repay(loan_id, 10**13)
    expect_revert(chain, book.functions.repay(loan_id, 1), payer, "LoanBookNotRepayable", loan_id, REPAID)


# --- claims ---------------------------------------------------------------------------------


def test_claims_are_pro_rata_and_pull_based(world, snapshot):
    book = world.book
    a, b, c = world.investors[:3]
    loan_id, _ = world.create()
    world.fund(loan_id, a, 6_000 * UNIT)
    world.fund(loan_id, b, 4_000 * UNIT)
    world.fund(loan_id, c, 2_000 * UNIT)
    world.chain.tx(book.functions.disburse(loan_id), a.address)
    paid = 1_000 * UNIT + 7
    world.repay(loan_id, paid)
    expected = {a: paid * 6 // 12, b: paid * 4 // 12, c: paid * 2 // 12}
    for inv, amount in expected.items():
        assert book.functions.claimableOf(loan_id, inv.address).call() == amount
    before = world.balance(a)
    receipt = world.chain.tx(book.functions.claim(loan_id), a.address)
    assert events(receipt, book, "Claimed") == [{"loanId": loan_id, "investor": a.address, "amount": expected[a]}]
    assert world.balance(a) == before + expected[a]
    assert book.functions.claimableOf(loan_id, a.address).call() == 0
    assert book.functions.claimedOf(loan_id, a.address).call() == expected[a]
    expect_revert(world.chain, book.functions.claim(loan_id), a.address, "LoanBookNothingToClaim", loan_id, a.address)
    # Claims stay open while paused.
    world.chain.tx(book.functions.pause(), world.admin.address)
    world.chain.tx(book.functions.claim(loan_id), b.address)


def test_claim_many(world, snapshot):
    book = world.book
    a = world.investors[0]
    first, _ = world.active_loan()
    second, _ = world.active_loan()
    world.repay(first, 600 * UNIT)
    world.repay(second, 1_200 * UNIT)
    expected = sum(book.functions.claimableOf(i, a.address).call() for i in (first, second))
    assert expected == 600 * UNIT // 6 + 1_200 * UNIT // 6
    before = world.balance(a)
    receipt = world.chain.tx(book.functions.claimMany([first, second, first]), a.address)
    assert world.balance(a) == before + expected
    assert [e["loanId"] for e in events(receipt, book, "Claimed")] == [first, second]
    expect_revert(world.chain, book.functions.claimMany([first, second]), a.address,
                  "LoanBookNothingToClaimMany", a.address, 2)  # fmt: skip
    expect_revert(world.chain, book.functions.claimMany([]), a.address, "LoanBookNothingToClaimMany", a.address, 0)


def test_note_transfer_settles_each_side(world, snapshot):
    book = world.book
    a, b, c = world.investors[:3]
    loan_id, _ = world.create()
    world.fund(loan_id, a, 6_000 * UNIT)
    world.fund(loan_id, b, 6_000 * UNIT)
    world.chain.tx(book.functions.disburse(loan_id), a.address)

    def claimable(inv):
        return book.functions.claimableOf(loan_id, inv.address).call()

    world.repay(loan_id, 1_200 * UNIT)  # a and b earn 600 each
    # a sells half of its notes to c: a keeps what it earned so far, c gets none of it.
    world.chain.tx(book.functions.safeTransferFrom(a.address, c.address, loan_id, 3_000 * UNIT, b""), a.address)
    assert at_most_below(claimable(a), 600 * UNIT) and claimable(c) == 0
    world.repay(loan_id, 1_200 * UNIT)  # now a: +300, b: +600, c: +300
    assert at_most_below(claimable(a), 900 * UNIT)
    assert at_most_below(claimable(b), 1_200 * UNIT)
    assert at_most_below(claimable(c), 300 * UNIT)
    # Batch transfers move corrections too; after claiming, a moves the rest to c.
    world.chain.tx(book.functions.claim(loan_id), a.address)
    world.chain.tx(book.functions.safeBatchTransferFrom(a.address, c.address, [loan_id], [3_000 * UNIT], b""),
                   a.address)  # fmt: skip
    assert claimable(a) == 0
    world.repay(loan_id, 1_200 * UNIT)
    assert claimable(a) == 0
    assert at_most_below(claimable(c), 900 * UNIT)


def at_most_below(actual: int, exact: int, units: int = 1) -> bool:
    """After transfers a holder gets its exact entitlement or up to `units` less."""
    return exact - units <= actual <= exact


def test_notes_move_only_to_verified_wallets(world, snapshot):
    book = world.book
    a = world.investors[0]
    loan_id, _ = world.active_loan()
    out = world.outsider.address
    fn = book.functions.safeTransferFrom(a.address, out, loan_id, 1, b"")
    expect_revert(world.chain, fn, a.address, "LoanBookRecipientNotVerified", out, world.investor_level)
    fn = book.functions.safeBatchTransferFrom(a.address, out, [loan_id], [1], b"")
    expect_revert(world.chain, fn, a.address, "LoanBookRecipientNotVerified", out, world.investor_level)


def test_a_contract_wallet_can_invest_hold_notes_and_claim(world, snapshot):
    book, token, wallet = world.book, world.token, world.wallet
    owner = world.borrower.address
    world.chain.tx(token.functions.transfer(wallet.address, 2_000 * UNIT), owner)
    call = token.functions.approve(book.address, 2**256 - 1)._encode_transaction_data()
    world.chain.tx(wallet.functions.execute(token.address, call), owner)
    loan_id, _ = world.create()
    world.chain.tx(wallet.functions.execute(book.address, book.functions.fund(loan_id, 2_000 * UNIT)
                                            ._encode_transaction_data()), owner)  # fmt: skip
    assert book.functions.balanceOf(wallet.address, loan_id).call() == 2_000 * UNIT
    world.fund(loan_id, world.investors[0], 10_000 * UNIT)
    world.chain.tx(book.functions.disburse(loan_id), owner)
    world.repay(loan_id, 1_200 * UNIT)
    world.chain.tx(wallet.functions.execute(book.address, book.functions.claim(loan_id)._encode_transaction_data()),
                   owner)  # fmt: skip
    assert world.balance(wallet.address) == 200 * UNIT
    expect_revert(world.chain, wallet.functions.execute(book.address, b""), world.investors[0].address,
                  "MockERC1271WalletNotOwner", world.investors[0].address)  # fmt: skip


# --- default --------------------------------------------------------------------------------


def test_default_draws_cover_and_recoveries_are_distributed(world, snapshot):
    book, reserve, chain = world.book, world.reserve, world.chain
    loan_id, start = world.active_loan()
    model = model_of(world, loan_id)
    for k in (1, 2, 3):
        repay_checked(world, model, loan_id, model.amount, at=start + k * PERIOD)
    default_after = book.functions.defaultAfter().call()
    threshold = start + 4 * PERIOD + default_after
    assert book.functions.defaultableAt(loan_id).call() == threshold == model.defaultable_at(default_after)
    who = world.outsider.address
    expect_revert(chain, book.functions.markDefault(loan_id), who, "LoanBookNotDefaultable", loan_id, threshold,
                  at=threshold)  # fmt: skip
    reserve_before = reserve.functions.balance().call()
    outstanding = model.outstanding
    cover = min(outstanding * 8_000 // 10_000, reserve_before)
    claimable_before = book.functions.claimableOf(loan_id, world.investors[0].address).call()
    receipt = chain.tx(book.functions.markDefault(loan_id), who, at=threshold + 1)
    _, debt = model.quote(threshold + 1)
    (ev,) = events(receipt, book, "LoanDefaulted")
    assert ev == {"loanId": loan_id, "caller": who, "principalOutstanding": outstanding, "debt": debt,
                  "cover": cover, "recoverable": debt}  # fmt: skip
    assert events(receipt, reserve, "CoverPaid") == [{"loanId": loan_id, "loanBook": book.address, "amount": cover}]
    assert reserve.functions.balance().call() == reserve_before - cover
    loan = world.loan(loan_id)
    # The borrower still owes the whole debt: the cover insures the investors, it pays no debt.
    assert (loan["status"], loan["coverPaid"], loan["recoverable"]) == (DEFAULTED, cover, debt)
    assert book.functions.amountDue(loan_id).call() == [debt, debt, 0]
    assert book.functions.defaultableAt(loan_id).call() == 0
    # Every investor holds 1/6 of the notes: 1/6 of the cover each (rounded down).
    gained = book.functions.claimableOf(loan_id, world.investors[0].address).call() - claimable_before
    assert cover // 6 - 1 <= gained <= cover // 6
    expect_revert(chain, book.functions.markDefault(loan_id), who, "LoanBookNotActive", loan_id, DEFAULTED)

    # Recoveries go to the investors until they have recovered `debt - cover`...
    receipt = world.repay(loan_id, 1_000 * UNIT, payer=world.outsider)
    assert events(receipt, book, "LoanRecovery") == [{"loanId": loan_id, "payer": who, "amount": 1_000 * UNIT,
                                                      "recoverableLeft": debt - 1_000 * UNIT}]  # fmt: skip
    assert events(receipt, book, "CoverRecouped") == []
    # ... then back to the reserve, until it has recouped its cover (a payment may straddle both).
    distributed = world.loan(loan_id)["distributed"]
    receipt = world.repay(loan_id, debt - cover - 1_000 * UNIT + 500 * UNIT, payer=world.outsider)
    assert events(receipt, book, "CoverRecouped") == [{"loanId": loan_id, "amount": 500 * UNIT,
                                                       "coverOutstanding": cover - 500 * UNIT}]  # fmt: skip
    assert world.loan(loan_id)["distributed"] == distributed + debt - cover - 1_000 * UNIT
    assert reserve.functions.balance().call() == reserve_before - cover + 500 * UNIT
    before = world.balance(world.outsider)
    receipt = world.repay(loan_id, 10**15, payer=world.outsider)  # capped at what is owed
    assert world.balance(world.outsider) == before - (cover - 500 * UNIT)
    assert events(receipt, book, "CoverRecouped") == [{"loanId": loan_id, "amount": cover - 500 * UNIT,
                                                       "coverOutstanding": 0}]  # fmt: skip
    assert reserve.functions.balance().call() == reserve_before
    assert world.loan(loan_id)["recoverable"] == 0
    expect_revert(chain, book.functions.repay(loan_id, 1), who, "LoanBookNothingOwed", loan_id)
    # Investors end with cover + recoveries = the debt at default (minus rounding dust).
    total = sum(book.functions.claimableOf(loan_id, i.address).call() for i in world.investors)
    paid_before = sum(model.amount for _ in range(3))
    assert paid_before + debt - len(world.investors) <= total <= paid_before + debt


def test_cover_is_capped_by_the_reserve_balance_and_may_be_zero(world, snapshot):
    book, reserve, chain = world.book, world.reserve, world.chain
    world.chain.tx(reserve.functions.setCoverageRatio(10_000), world.admin.address)
    big = reserve.functions.balance().call() + 10_000 * UNIT
    first, start1 = world.active_loan(principal=big, installments=1)
    second, start2 = world.active_loan(installments=1)
    at = max(book.functions.defaultableAt(first).call(), book.functions.defaultableAt(second).call()) + 1
    world.chain.mine_at(at - 1)
    balance = reserve.functions.balance().call()
    receipt = chain.tx(book.functions.markDefault(first), world.admin.address, at=at)
    assert events(receipt, book, "LoanDefaulted")[0]["cover"] == balance  # the ratio would want `big`
    assert reserve.functions.balance().call() == 0
    receipt = chain.tx(book.functions.markDefault(second), world.admin.address)
    assert events(receipt, book, "LoanDefaulted")[0]["cover"] == 0
    assert events(receipt, reserve, "CoverPaid") == []


def test_mark_default_reverts_on_other_statuses(world, snapshot):
    book, chain, who = world.book, world.chain, world.outsider.address
    expect_revert(chain, book.functions.markDefault(12345), who, "LoanBookNotActive", 12345, 0)
    loan_id, _ = world.create()
    expect_revert(chain, book.functions.markDefault(loan_id), who, "LoanBookNotActive", loan_id, FUNDING)


@pytest.mark.parametrize("apr_bps,installments,period_days", [(0, 6, 30), (3_600, 24, 30), (10_000, 3, 365),
                                                               (1, 360, 30), (2_500, 52, 7)])  # fmt: skip
def test_schedules_match_the_python_mirror(world, snapshot, apr_bps, installments, period_days):
    principal = 987_654_321
    loan_id, start = world.active_loan(principal=principal, apr_bps=apr_bps, installments=installments,
                                       installment_period=period_days * DAY)  # fmt: skip
    model = model_of(world, loan_id)
    rows = lt.schedule(principal, apr_bps, period_days * DAY, installments)
    assert world.loan(loan_id)["installmentAmount"] == model.amount
    assert sum(r.principal for r in rows) == principal
    assert all(r.amount == model.amount for r in rows[:-1])  # equal installments but the last
    # Pay the whole schedule in one go at the end of the term + grace: every installment in
    # order, with no late fee.
    at = start + installments * period_days * DAY + world.book.functions.gracePeriod().call()
    _, r = repay_checked(world, model, loan_id, 10**18, at=at)
    assert [(p.installment, p.interest, p.principal) for p in r.payments] == [
        (row.number, row.interest, row.principal) for row in rows
    ]
