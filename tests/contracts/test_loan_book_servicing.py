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
        receipt, result = repay_checked(world, model, loan_id, row.amount, at=due - DAY)
        # The last installment paid a day early pays the loan off: 29 days of interest, not 30.
        interest = row.interest if row.number < 12 else lt.period_interest(row.principal, 1_200, PERIOD - DAY)
        assert result.payments == [Payment(row.number, 0, interest, row.principal, row.balance_after)]
        total += result.paid
    assert world.loan(loan_id)["status"] == REPAID
    # Interest rounds up each period (towards investors), so principal runs a few units behind
    # the exact annuity and the last installment absorbs that remainder.
    assert amount <= rows[-1].amount <= amount + 12 and sum(r.principal for r in rows) == 12_000 * UNIT
    assert total == sum(r.amount for r in rows) - rows[-1].interest + interest


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
    at = start + PERIOD + 10 * DAY + 3_600
    world.chain.mine_at(at)
    due_now, payoff, _ = world.book.functions.amountDue(loan_id).call()
    assert (due_now, payoff) == model.quote(at)
    # One second later (the repay block), the quote is unchanged within the day (the payoff
    # counts the days of the period begun, here 11).
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
    # The fee comes after the installment, reported on its own.
    assert r.assessed == fee and r.payments[0].fee == 0 and r.payments[-1] == Payment(3, fee, 0, 0, model.outstanding)
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
    repay_checked(world, model, loan_id, model.amount, at=start + PERIOD - DAY)
    repay_checked(world, model, loan_id, model.outstanding - 500 * UNIT, at=start + PERIOD - DAY + 1)
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
    repay_checked(world, model, loan_id, model.amount, at=start + PERIOD - DAY)
    repay_checked(world, model, loan_id, model.outstanding - model.amount - 300 * UNIT, at=start + PERIOD - DAY + 1)
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


def test_a_late_payment_goes_to_the_installment_before_the_fee(world, snapshot):
    loan_id, start = world.active_loan()
    model = model_of(world, loan_id)
    at = start + PERIOD + 16 * DAY
    _, r = repay_checked(world, model, loan_id, 7, at=at)
    assert r.payments == [Payment(1, 0, 7, 0, 12_000 * UNIT)]
    assert world.loan(loan_id)["feesDue"] == model.late_fee


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


def test_a_note_transfer_of_0_is_refused_whoever_sends_it(world, snapshot):
    """ERC-1155 needs no balance for a transfer of 0: a stranger could log TransferSingle(itself ->
    any verified wallet, any loan, 0) as often as a block holds, naming wallets that never invested
    and filling the readers' `eth_getLogs`. LoanBook refuses it, alone or in a batch, from a holder
    too; a transfer of 1 still moves."""
    book, chain = world.book, world.chain
    holder, victim, stranger = world.investors[0], world.investors[5], world.outsider
    loan_id, _ = world.active_loan()
    for sender in (stranger, holder):
        fn = book.functions.safeTransferFrom(sender.address, victim.address, loan_id, 0, b"")
        expect_revert(chain, fn, sender.address, "LoanBookZeroAmount", loan_id)
    fn = book.functions.safeBatchTransferFrom(holder.address, victim.address, [loan_id, loan_id], [1, 0], b"")
    expect_revert(chain, fn, holder.address, "LoanBookZeroAmount", loan_id)
    before = book.functions.balanceOf(victim.address, loan_id).call()
    chain.tx(book.functions.safeTransferFrom(holder.address, victim.address, loan_id, 1, b""), holder.address)
    assert book.functions.balanceOf(victim.address, loan_id).call() == before + 1


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
    # order, then the late fees of all but the last (within its grace period), reported alone.
    at = start + installments * period_days * DAY + world.book.functions.gracePeriod().call()
    _, r = repay_checked(world, model, loan_id, 10**18, at=at)
    assert [(p.installment, p.interest, p.principal) for p in r.payments[:-1]] == [
        (row.number, row.interest, row.principal) for row in rows
    ]
    assert r.payments[-1] == Payment(installments, r.assessed, 0, 0, 0) and r.repaid


# --- late fees never pyramid; a payoff owes only the interest earned -------------------------


def test_one_late_installment_costs_one_late_fee(world, snapshot):
    """16 CFR 444.4: installment 1 paid 20 days late with the installment amount alone, then every
    installment paid in full on its due date. Payments go to the installments before the fees, so
    each later payment settles its own installment: one late fee in all, never one a month. The
    fee left unpaid keeps the loan open (Active, nothing late) until it is paid."""
    loan_id, start = world.active_loan()
    model = model_of(world, loan_id)
    rows = lt.schedule(12_000 * UNIT, 1_200, PERIOD, 12)
    fee = model.late_fee
    _, r = repay_checked(world, model, loan_id, rows[0].amount, at=start + PERIOD + 20 * DAY)
    assert r.assessed == fee and r.payments == [Payment(1, 0, rows[0].interest, rows[0].principal,
                                                        rows[0].balance_after)]  # fmt: skip
    assessed = fee
    for row in rows[1:]:
        _, r = repay_checked(world, model, loan_id, row.amount, at=start + row.number * PERIOD)
        assert r.payments == [Payment(row.number, 0, row.interest, row.principal, row.balance_after)]
        assessed += r.assessed
    assert assessed == fee
    loan = world.loan(loan_id)
    assert (loan["status"], loan["principalOutstanding"], loan["installmentsPaid"], loan["feesDue"]) == (
        ACTIVE, 0, 12, fee)  # fmt: skip
    at = start + 12 * PERIOD + 16 * DAY
    world.chain.mine_at(at)
    assert tuple(world.book.functions.amountDue(loan_id).call()[:2]) == model.quote(at) == (fee, fee)
    receipt, r = repay_checked(world, model, loan_id, 10 * fee, at=at + 1)
    assert r.paid == fee and r.repaid and r.payments == [Payment(12, fee, 0, 0, 0)]


def test_a_long_loan_late_once_is_never_pushed_towards_default(world, snapshot):
    """The 60-month case: one 20-day delay, then 59 on-time installments: one late fee, every
    installment settled on its due date, and the loan never defaultable."""
    loan_id, start = world.active_loan(principal=10_000 * UNIT, apr_bps=1154, installments=60,
                                       origination_fee_bps=105)  # fmt: skip
    book = world.book
    rows = lt.schedule(10_000 * UNIT, 1154, PERIOD, 60)
    fees = events(world.repay(loan_id, rows[0].amount, at=start + PERIOD + 20 * DAY), book, "LateFeeAssessed")
    for row in rows[1:]:
        due = start + row.number * PERIOD
        assert book.functions.defaultableAt(loan_id).call() > due
        fees += events(world.repay(loan_id, row.amount, at=due), book, "LateFeeAssessed")
        assert world.loan(loan_id)["installmentsPaid"] == row.number
    assert len(fees) == 1 and world.loan(loan_id)["feesDue"] == fees[0]["amount"]


def test_the_late_fee_is_charged_on_the_unpaid_part_of_the_installment(world, snapshot):
    loan_id, start = world.active_loan()
    model = model_of(world, loan_id)
    repay_checked(world, model, loan_id, model.amount - 100 * UNIT, at=start + PERIOD)
    _, r = repay_checked(world, model, loan_id, 100 * UNIT, at=start + PERIOD + 16 * DAY)
    assert r.assessed == 5 * UNIT  # 5% of the 100 left unpaid, not of the whole installment
    # The installment comes first: the 100 settles it, the fee stays due.
    assert r.payments[0].installment == 1 and r.payments[0].fee == 0 and model.paid_installments == 1
    assert world.loan(loan_id)["feesDue"] == 5 * UNIT


def test_due_now_pays_the_installments_due_and_then_the_fees(world, snapshot):
    """Installment 1 late (fee charged), installment 2 billed but not due: `dueNow` is installment
    1 and the fee, and paying exactly that settles both and nothing of installment 2."""
    loan_id, start = world.active_loan()
    model = model_of(world, loan_id)
    at = start + PERIOD + 20 * DAY
    world.chain.mine_at(at)
    due_now, payoff, _ = world.book.functions.amountDue(loan_id).call()
    assert due_now == model.amount + model.late_fee and (due_now, payoff) == model.quote(at)
    _, r = repay_checked(world, model, loan_id, due_now, at=at)
    assert [(p.installment, p.fee) for p in r.payments] == [(1, 0), (2, model.late_fee)]  # the fee, reported alone
    assert r.payments[1].interest == r.payments[1].principal == 0
    assert (model.paid_installments, model.fees_due, model.interest_due + model.principal_due) == (1, 0, model.amount)


def test_a_payoff_the_next_day_owes_one_days_interest(world, snapshot):
    """Reg Z 18(k)(1): a payoff owes no interest for the time after it. The README's 24-month grade B
    loan paid off a day after disbursal: the principal and a day's interest, not a whole period's."""
    principal = 10_000 * UNIT
    loan_id, start = world.active_loan(principal=principal, apr_bps=1154, installments=24, origination_fee_bps=105)
    model = model_of(world, loan_id)
    at = start + DAY
    world.chain.mine_at(at)
    due_now, payoff, _ = world.book.functions.amountDue(loan_id).call()
    one_day = lt.period_interest(principal, 1154, DAY)
    assert payoff == principal + one_day == model.quote(at)[1] and one_day == 3_161_644  # 10,000 x 11.54% / 365
    assert due_now == model.amount  # the installment itself, paid ahead, still bills its period
    # Within the period every begun day counts: 29 days and a second cost 30 days' interest.
    assert model.quote(start + 29 * DAY + 1)[1] == principal + lt.period_interest(principal, 1154, 30 * DAY)
    receipt, r = repay_checked(world, model, loan_id, 2 * payoff, at=at)
    assert r.paid == payoff and r.repaid
    part = model.amount - lt.period_interest(principal, 1154, PERIOD)  # installment 1's principal
    assert r.payments == [Payment(1, 0, one_day, part, principal - part), Payment(0, 0, 0, principal - part, 0)]


def test_a_payoff_counts_the_interest_already_paid_in_its_period(world, snapshot):
    loan_id, start = world.active_loan()
    model = model_of(world, loan_id)
    principal = 12_000 * UNIT
    _, r = repay_checked(world, model, loan_id, 1_000_000, at=start + 2 * DAY)  # interest of installment 1
    at = start + 10 * DAY
    world.chain.mine_at(at)
    _, payoff, _ = world.book.functions.amountDue(loan_id).call()
    earned = lt.period_interest(principal, 1_200, 10 * DAY)
    assert payoff == principal + earned - 1_000_000 == model.quote(at)[1]
    _, r = repay_checked(world, model, loan_id, payoff, at=at)
    assert r.repaid


def test_a_payment_short_of_the_payoff_pays_the_periods_interest(world, snapshot):
    """Only a payoff in full is charged pro rata: a partial prepayment first pays the billed
    installment, with its whole period's interest (README, agreement)."""
    loan_id, start = world.active_loan()
    model = model_of(world, loan_id)
    at = start + DAY
    world.chain.mine_at(at)
    _, payoff, _ = world.book.functions.amountDue(loan_id).call()
    _, r = repay_checked(world, model, loan_id, payoff - 1, at=at)
    assert r.payments[0].interest == lt.period_interest(12_000 * UNIT, 1_200, PERIOD) and not r.repaid


def test_a_payoff_in_the_disbursement_block_owes_no_interest(world, snapshot):
    """No time has passed: the principal closes the loan (the origination fee stays with the reserve)."""
    loan_id, start = world.active_loan()
    model = model_of(world, loan_id)
    _, r = repay_checked(world, model, loan_id, 10**15, at=start)
    assert r.paid == 12_000 * UNIT and r.repaid
