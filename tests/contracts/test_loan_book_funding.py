"""LoanBook funding phase: fund (fractions, minimum ticket, overfunding, deadline, KYC, pause),
ERC-1155 notes, disburse, cancel and refund."""

from __future__ import annotations

from tests.contracts.helpers import ACTIVE, CANCELLED, DAY, FUNDING, KYC_EXPIRY, events, expect_revert

UNIT = 10**6


def test_fund_in_fractions_mints_notes(world, snapshot):
    book = world.book
    loan_id, _ = world.create()
    a, b = world.investors[:2]
    before = world.balance(a)
    receipt = world.fund(loan_id, a, 5_000 * UNIT)
    assert events(receipt, book, "LoanFunded") == [
        {"loanId": loan_id, "investor": a.address, "amount": 5_000 * UNIT, "totalFunded": 5_000 * UNIT}
    ]
    (mint,) = events(receipt, book, "TransferSingle")
    assert (mint["from"], mint["to"], mint["id"], mint["value"]) == ("0x" + "00" * 20, a.address, loan_id, 5_000 * UNIT)
    world.fund(loan_id, b, 4_000 * UNIT)
    world.fund(loan_id, a, 3_000 * UNIT)  # the same investor again
    assert book.functions.balanceOf(a.address, loan_id).call() == 8_000 * UNIT
    assert book.functions.balanceOf(b.address, loan_id).call() == 4_000 * UNIT
    assert world.balance(a) == before - 8_000 * UNIT
    assert world.balance(book.address) >= 12_000 * UNIT
    loan = world.loan(loan_id)
    assert loan["funded"] == loan["principal"] and loan["status"] == FUNDING  # until disbursed


def test_fund_reverts(world, snapshot):
    book, chain = world.book, world.chain
    loan_id, _ = world.create()
    inv = world.investors[0].address
    expect_revert(chain, book.functions.fund(loan_id + 1, UNIT * 100), inv, "LoanBookNotFunding", loan_id + 1, 0)
    expect_revert(chain, book.functions.fund(loan_id, 0), inv, "LoanBookZeroAmount", loan_id)
    expect_revert(chain, book.functions.fund(loan_id, 12_000 * UNIT + 1), inv,
                  "LoanBookOverfunded", loan_id, 12_000 * UNIT + 1, 12_000 * UNIT)  # fmt: skip
    expect_revert(chain, book.functions.fund(loan_id, 25 * UNIT - 1), inv,
                  "LoanBookTicketTooSmall", loan_id, 25 * UNIT - 1, 25 * UNIT)  # fmt: skip
    expect_revert(chain, book.functions.fund(loan_id, 100 * UNIT), world.outsider.address,
                  "LoanBookInvestorNotVerified", world.outsider.address, world.investor_level)  # fmt: skip
    deadline = world.loan(loan_id)["fundingDeadline"]
    expect_revert(chain, book.functions.fund(loan_id, 100 * UNIT), inv, "LoanBookFundingClosed", loan_id, deadline,
                  at=deadline + 1)  # fmt: skip
    world.fund(loan_id, world.investors[0], 100 * UNIT, at=deadline)  # the deadline itself is open


def test_last_ticket_may_be_below_the_minimum(world, snapshot):
    loan_id, _ = world.create()
    world.fund(loan_id, world.investors[0], 12_000 * UNIT - 10)
    world.fund(loan_id, world.investors[1], 10)  # completes the loan
    assert world.loan(loan_id)["funded"] == 12_000 * UNIT
    expect_revert(world.chain, world.book.functions.fund(loan_id, 1), world.investors[2].address,
                  "LoanBookOverfunded", loan_id, 1, 0)  # fmt: skip


def test_disburse_pays_borrower_and_reserve(world, snapshot):
    book = world.book
    loan_id, _ = world.create()
    world.fund_equally(loan_id)
    borrower_before, reserve_before = world.balance(world.borrower), world.balance(world.reserve.address)
    book_before = world.balance(book.address)
    receipt = world.chain.tx(book.functions.disburse(loan_id), world.outsider.address)  # anyone
    ts = world.w3.eth.get_block(receipt["blockNumber"])["timestamp"]
    fee = 12_000 * UNIT * 100 // 10_000
    assert events(receipt, book, "LoanDisbursed") == [{"loanId": loan_id, "borrower": world.borrower.address,
                                                       "netAmount": 12_000 * UNIT - fee, "originationFee": fee,
                                                       "startTime": ts}]  # fmt: skip
    assert world.balance(world.borrower) == borrower_before + 12_000 * UNIT - fee
    assert world.balance(world.reserve.address) == reserve_before + fee
    assert world.balance(book.address) == book_before - 12_000 * UNIT
    loan = world.loan(loan_id)
    assert loan["status"] == ACTIVE and loan["startTime"] == ts and loan["principalOutstanding"] == 12_000 * UNIT
    assert book.functions.amountDue(loan_id).call()[2] == ts + 30 * DAY


def test_disburse_reverts(world, snapshot):
    book, chain, who = world.book, world.chain, world.outsider.address
    expect_revert(chain, book.functions.disburse(999), who, "LoanBookNotFunding", 999, 0)
    loan_id, _ = world.create()
    world.fund(loan_id, world.investors[0], 1_000 * UNIT)
    expect_revert(chain, book.functions.disburse(loan_id), who,
                  "LoanBookNotFullyFunded", loan_id, 1_000 * UNIT, 12_000 * UNIT)  # fmt: skip
    world.fund(loan_id, world.investors[1], 11_000 * UNIT)
    world.chain.tx(book.functions.disburse(loan_id), who)
    expect_revert(chain, book.functions.disburse(loan_id), who, "LoanBookNotFunding", loan_id, ACTIVE)


def test_disburse_after_the_funding_deadline_is_allowed(world, snapshot):
    loan_id, _ = world.create()
    world.fund_equally(loan_id)
    deadline = world.loan(loan_id)["fundingDeadline"]
    world.chain.tx(world.book.functions.disburse(loan_id), world.outsider.address, at=deadline + 10 * DAY)
    assert world.loan(loan_id)["status"] == ACTIVE


def test_disburse_checks_the_borrowers_kyc_again(world, snapshot):
    """An attestation revoked after funding (fraud found) stops the payout."""
    book, chain, kyc = world.book, world.chain, world.kyc
    loan_id, _ = world.create()
    world.fund_equally(loan_id)
    chain.tx(kyc.functions.revoke(world.borrower.address), world.admin.address)
    before = world.balance(world.borrower)
    expect_revert(chain, book.functions.disburse(loan_id), world.outsider.address, "LoanBookBorrowerNotVerified",
                  world.borrower.address, world.borrower_level)  # fmt: skip
    assert world.loan(loan_id)["status"] == FUNDING and world.balance(world.borrower) == before


def test_a_fully_funded_loan_never_disbursed_is_refunded_after_the_disbursement_window(world, snapshot):
    """No payout within DISBURSEMENT_WINDOW (7 days) past the funding deadline: investors get out."""
    book, chain, kyc = world.book, world.chain, world.kyc
    assert book.functions.DISBURSEMENT_WINDOW().call() == 7 * DAY
    loan_id, _ = world.create()
    world.fund_equally(loan_id)
    chain.tx(kyc.functions.revoke(world.borrower.address), world.admin.address)  # it can no longer be paid out
    window_end = world.loan(loan_id)["fundingDeadline"] + 7 * DAY
    a, b = world.investors[:2]
    held = book.functions.balanceOf(a.address, loan_id).call()
    expect_revert(chain, book.functions.refund(loan_id), a.address, "LoanBookFullyFunded", loan_id, window_end,
                  at=window_end)  # fmt: skip
    before = world.balance(a)
    receipt = chain.tx(book.functions.refund(loan_id), a.address, at=window_end + 1)  # cancels it first
    assert events(receipt, book, "LoanCancelled") == [{"loanId": loan_id, "funded": 12_000 * UNIT}]
    assert world.balance(a) == before + held and world.loan(loan_id)["status"] == CANCELLED
    chain.tx(book.functions.refund(loan_id), b.address)
    expect_revert(chain, book.functions.disburse(loan_id), a.address, "LoanBookNotFunding", loan_id, CANCELLED)


def test_a_fully_funded_loan_may_still_be_disbursed_until_someone_cancels_it(world, snapshot):
    loan_id, _ = world.create()
    world.fund_equally(loan_id)
    window_end = world.loan(loan_id)["fundingDeadline"] + 7 * DAY
    world.chain.tx(world.book.functions.disburse(loan_id), world.outsider.address, at=window_end + DAY)
    assert world.loan(loan_id)["status"] == ACTIVE


def test_zero_fee_loan_sends_nothing_to_the_reserve(world, snapshot):
    loan_id, _ = world.create(origination_fee_bps=0)
    world.fund_equally(loan_id)
    reserve_before = world.balance(world.reserve.address)
    receipt = world.chain.tx(world.book.functions.disburse(loan_id), world.outsider.address)
    assert events(receipt, world.book, "LoanDisbursed")[0]["originationFee"] == 0
    assert world.balance(world.reserve.address) == reserve_before


def test_pause_blocks_funding_and_disbursement_only(world, snapshot):
    book, chain, admin = world.book, world.chain, world.admin.address
    loan_id, _ = world.create()
    world.fund(loan_id, world.investors[0], 11_000 * UNIT)
    chain.tx(book.functions.pause(), admin)
    expect_revert(chain, book.functions.fund(loan_id, 1_000 * UNIT), world.investors[1].address, "EnforcedPause")
    chain.tx(book.functions.unpause(), admin)
    world.fund(loan_id, world.investors[1], 1_000 * UNIT)
    chain.tx(book.functions.pause(), admin)
    expect_revert(chain, book.functions.disburse(loan_id), admin, "EnforcedPause")
    # Note transfers are not paused (nor refunds, repayments, claims: see test_loan_book_admin).
    chain.tx(book.functions.safeTransferFrom(world.investors[0].address, world.investors[2].address, loan_id, 1, b""),
             world.investors[0].address)  # fmt: skip


def test_cancel_and_refund(world, snapshot):
    book, chain = world.book, world.chain
    loan_id, _ = world.create()
    a, b = world.investors[:2]
    world.fund(loan_id, a, 3_000 * UNIT)
    world.fund(loan_id, b, 2_000 * UNIT)
    deadline = world.loan(loan_id)["fundingDeadline"]
    expect_revert(chain, book.functions.cancel(loan_id), a.address, "LoanBookFundingOpen", loan_id, deadline,
                  at=deadline)  # fmt: skip
    expect_revert(chain, book.functions.refund(loan_id), a.address, "LoanBookFundingOpen", loan_id, deadline,
                  at=deadline)  # fmt: skip
    receipt = chain.tx(book.functions.cancel(loan_id), world.outsider.address, at=deadline + 1)
    assert events(receipt, book, "LoanCancelled") == [{"loanId": loan_id, "funded": 5_000 * UNIT}]
    assert world.loan(loan_id)["status"] == CANCELLED
    expect_revert(chain, book.functions.cancel(loan_id), a.address, "LoanBookNotFunding", loan_id, CANCELLED)
    expect_revert(chain, book.functions.fund(loan_id, 100 * UNIT), a.address, "LoanBookNotFunding", loan_id, CANCELLED)

    before = world.balance(a)
    receipt = chain.tx(book.functions.refund(loan_id), a.address)
    assert events(receipt, book, "LoanRefunded") == [{"loanId": loan_id, "investor": a.address, "amount": 3_000 * UNIT}]
    assert world.balance(a) == before + 3_000 * UNIT
    assert book.functions.balanceOf(a.address, loan_id).call() == 0
    assert world.loan(loan_id)["funded"] == 2_000 * UNIT
    expect_revert(chain, book.functions.refund(loan_id), a.address, "LoanBookNothingToRefund", loan_id, a.address)
    chain.tx(book.functions.refund(loan_id), b.address)
    assert world.loan(loan_id)["funded"] == 0


def test_refund_cancels_an_expired_loan_itself(world, snapshot):
    loan_id, _ = world.create()
    a = world.investors[0]
    world.fund(loan_id, a, 3_000 * UNIT)
    deadline = world.loan(loan_id)["fundingDeadline"]
    receipt = world.chain.tx(world.book.functions.refund(loan_id), a.address, at=deadline + 1)
    assert len(events(receipt, world.book, "LoanCancelled")) == 1
    assert len(events(receipt, world.book, "LoanRefunded")) == 1
    assert world.loan(loan_id)["status"] == CANCELLED


def test_refunds_stay_open_while_paused(world, snapshot):
    loan_id, _ = world.create()
    world.fund(loan_id, world.investors[0], 3_000 * UNIT)
    world.chain.tx(world.book.functions.pause(), world.admin.address)
    deadline = world.loan(loan_id)["fundingDeadline"]
    world.chain.tx(world.book.functions.refund(loan_id), world.investors[0].address, at=deadline + 1)


def test_refund_and_cancel_reverts(world, snapshot):
    book, chain = world.book, world.chain
    inv = world.investors[0].address
    expect_revert(chain, book.functions.refund(77), inv, "LoanBookNotRefundable", 77, 0)
    loan_id, _ = world.create()
    world.fund_equally(loan_id)
    deadline = world.loan(loan_id)["fundingDeadline"]
    window_end = deadline + 7 * DAY  # DISBURSEMENT_WINDOW
    expect_revert(chain, book.functions.cancel(loan_id), inv, "LoanBookFullyFunded", loan_id, window_end,
                  at=deadline + 1)  # fmt: skip
    expect_revert(chain, book.functions.refund(loan_id), inv, "LoanBookFullyFunded", loan_id, window_end,
                  at=window_end)  # fmt: skip
    chain.tx(book.functions.disburse(loan_id), inv)
    expect_revert(chain, book.functions.refund(loan_id), inv, "LoanBookNotRefundable", loan_id, ACTIVE)


def test_refund_of_notes_bought_from_another_investor(world, snapshot):
    book = world.book
    loan_id, _ = world.create()
    a, c = world.investors[0], world.investors[2]
    world.fund(loan_id, a, 3_000 * UNIT)
    world.chain.tx(book.functions.safeTransferFrom(a.address, c.address, loan_id, 1_000 * UNIT, b""), a.address)
    deadline = world.loan(loan_id)["fundingDeadline"]
    before = world.balance(c)
    world.chain.tx(book.functions.refund(loan_id), c.address, at=deadline + 1)
    assert world.balance(c) == before + 1_000 * UNIT


def test_notes_of_a_cancelled_loan_do_not_move_but_are_refunded(world, snapshot):
    """The review's L-2: a cancelled loan's note is only a claim to its refund, so LoanBook refuses
    to transfer it (single or batch), while funding it still moves freely and the refund's burn works."""
    book, chain = world.book, world.chain
    loan_id, _ = world.create()
    a, c = world.investors[0], world.investors[2]
    world.fund(loan_id, a, 3_000 * UNIT)
    chain.tx(book.functions.safeTransferFrom(a.address, c.address, loan_id, UNIT, b""), a.address)  # still funding
    chain.tx(book.functions.cancel(loan_id), world.outsider.address, at=world.loan(loan_id)["fundingDeadline"] + 1)
    for fn in (book.functions.safeTransferFrom(a.address, c.address, loan_id, 1, b""),
               book.functions.safeBatchTransferFrom(a.address, c.address, [loan_id], [1], b"")):
        expect_revert(chain, fn, a.address, "LoanBookCancelledNotes", loan_id)
    before = world.balance(a)
    chain.tx(book.functions.refund(loan_id), a.address)
    assert world.balance(a) == before + 2_999 * UNIT
    chain.tx(book.functions.refund(loan_id), c.address)
    assert world.loan(loan_id)["funded"] == 0


def test_a_borrower_cannot_fund_its_own_loan(world, snapshot):
    """No self-funding: the borrower (verified well enough to invest elsewhere) is refused on
    its own loan, by a direct fund and by a note transfer alike."""
    book, chain, borrower = world.book, world.chain, world.borrower.address
    loan_id, _ = world.create()
    expect_revert(chain, book.functions.fund(loan_id, 100 * UNIT), borrower,
                  "LoanBookBorrowerCannotInvest", loan_id, borrower)  # fmt: skip
    a = world.investors[0]
    world.fund(loan_id, a, 100 * UNIT)
    for fn in (book.functions.safeTransferFrom(a.address, borrower, loan_id, 1, b""),
               book.functions.safeBatchTransferFrom(a.address, borrower, [loan_id], [1], b"")):  # fmt: skip
        expect_revert(chain, fn, a.address, "LoanBookBorrowerCannotInvest", loan_id, borrower)
    someone = world.investors[1]
    chain.tx(world.kyc.functions.attest(someone.address, world.borrower_level, KYC_EXPIRY, b"\x01" * 32),
             world.admin.address)  # fmt: skip
    other, _ = world.create(borrower_key=someone, borrower=someone.address)
    world.fund(other, world.borrower, 100 * UNIT)  # the same wallet may invest in someone else's loan
    assert book.functions.balanceOf(borrower, other).call() == 100 * UNIT
