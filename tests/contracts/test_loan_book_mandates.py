"""LoanBook funding mandates: an investor signs a standing order once; its executor alone funds
new loans with it, from the investor's wallet, within every bound the investor signed (expiry,
APR range, term, notes per loan, budget); the investor cancels it for good; {fund}'s own rules
still apply to the investor; ERC-1271 investors sign through their wallet contract."""

from __future__ import annotations

from backend.chain import mandates as fm
from tests.contracts.helpers import DAY, events, expect_revert

UNIT = 10**6


def _mandate(world, investor=None, **overrides) -> fm.FundingMandate:
    values = dict(investor=(investor or world.investors[0]).address, executor=world.admin.address,
                  per_loan=2_000 * UNIT, budget=3_000 * UNIT, min_apr_bps=1_000, max_apr_bps=1_500,
                  max_installments=12, expiry=world.chain.now() + 30 * DAY, salt=1)  # fmt: skip
    values.update(overrides)
    return fm.FundingMandate(**values)


def _sign(world, mandate, key) -> bytes:
    return fm.sign(mandate, key, world.chain_id, world.book.address)


def _use(world, loan_id, amount, mandate, signature):
    return world.book.functions.fundWithMandate(loan_id, amount, mandate.as_tuple(), signature)


def test_the_executor_funds_from_the_investors_wallet_within_the_mandate(world, snapshot):
    book, investor = world.book, world.investors[0]
    mandate = _mandate(world)
    signature = _sign(world, mandate, investor)
    digest = fm.digest(mandate, world.chain_id, book.address)
    assert book.functions.hashFundingMandate(mandate.as_tuple()).call() == digest
    first, _ = world.create()
    second, _ = world.create()
    before, executor_before = world.balance(investor), world.balance(world.admin)

    receipt = world.chain.tx(_use(world, first, 2_000 * UNIT, mandate, signature), world.admin.address)
    assert events(receipt, book, "MandateUsed") == [{"mandateHash": digest, "investor": investor.address, "loanId": first,
                                                     "amount": 2_000 * UNIT, "spent": 2_000 * UNIT}]  # fmt: skip
    (funded,) = events(receipt, book, "LoanFunded")
    assert (funded["investor"], funded["amount"]) == (investor.address, 2_000 * UNIT)
    assert book.functions.balanceOf(investor.address, first).call() == 2_000 * UNIT  # the notes are the investor's
    assert world.balance(investor) == before - 2_000 * UNIT  # paid from its wallet...
    assert world.balance(world.admin) == executor_before  # ...never through the executor's
    assert book.functions.balanceOf(world.admin.address, first).call() == 0

    # The per-loan cap counts notes held however they came; the budget counts what the mandate funded.
    expect_revert(world.chain, _use(world, first, 25 * UNIT, mandate, signature), world.admin.address,
                  "LoanBookMandatePerLoanExceeded", digest, first, 2_025 * UNIT, 2_000 * UNIT)  # fmt: skip
    expect_revert(world.chain, _use(world, second, 1_001 * UNIT, mandate, signature), world.admin.address,
                  "LoanBookMandateBudgetExceeded", digest, 1_001 * UNIT, 1_000 * UNIT)  # fmt: skip
    world.chain.tx(_use(world, second, 1_000 * UNIT, mandate, signature), world.admin.address)
    assert book.functions.mandateSpent(digest).call() == 3_000 * UNIT


def test_every_bound_the_investor_signed_is_enforced(world, snapshot):
    book, chain, investor = world.book, world.chain, world.investors[0]
    mandate = _mandate(world)
    signature = _sign(world, mandate, investor)
    digest = fm.digest(mandate, world.chain_id, book.address)
    admin = world.admin.address
    fits, _ = world.create()
    cheap, _ = world.create(apr_bps=900)
    dear, _ = world.create(apr_bps=1_600)
    long, _ = world.create(installments=24)
    for loan_id, apr, n in ((cheap, 900, 12), (dear, 1_600, 12), (long, 1_200, 24)):
        expect_revert(chain, _use(world, loan_id, 100 * UNIT, mandate, signature), admin,
                      "LoanBookMandateTermsMismatch", digest, loan_id, apr, n)  # fmt: skip
    # Only the executor; only with the investor's own signature; only until the expiry.
    expect_revert(chain, _use(world, fits, 100 * UNIT, mandate, signature), world.investors[1].address,
                  "LoanBookMandateWrongExecutor", digest, admin, world.investors[1].address)  # fmt: skip
    forged = _sign(world, mandate, world.investors[1])
    expect_revert(chain, _use(world, fits, 100 * UNIT, mandate, forged), admin,
                  "LoanBookInvalidMandateSignature", investor.address)  # fmt: skip
    bigger = _mandate(world, budget=10**12)  # a mandate the investor never signed, with its signature
    expect_revert(chain, _use(world, fits, 100 * UNIT, bigger, signature), admin,
                  "LoanBookInvalidMandateSignature", investor.address)  # fmt: skip
    # fund's own rules apply to the investor: minimum ticket, KYC, the borrower's own loan.
    expect_revert(chain, _use(world, fits, UNIT, mandate, signature), admin,
                  "LoanBookTicketTooSmall", fits, UNIT, 25 * UNIT)  # fmt: skip
    stranger = _mandate(world, investor=world.outsider)
    expect_revert(chain, _use(world, fits, 100 * UNIT, stranger, _sign(world, stranger, world.outsider)), admin,
                  "LoanBookInvestorNotVerified", world.outsider.address, world.investor_level)  # fmt: skip
    chain.travel(31 * DAY)
    expect_revert(chain, _use(world, fits, 100 * UNIT, mandate, signature), admin,
                  "LoanBookMandateExpired", digest, mandate.expiry)  # fmt: skip
    assert book.functions.mandateSpent(digest).call() == 0  # nothing moved


def test_the_investor_cancels_a_mandate_for_good(world, snapshot):
    book, investor = world.book, world.investors[0]
    mandate = _mandate(world)
    signature = _sign(world, mandate, investor)
    digest = fm.digest(mandate, world.chain_id, book.address)
    loan_id, _ = world.create()
    world.chain.tx(_use(world, loan_id, 500 * UNIT, mandate, signature), world.admin.address)
    expect_revert(world.chain, book.functions.cancelMandate(mandate.as_tuple()), world.admin.address,
                  "LoanBookNotMandateInvestor", world.admin.address, investor.address)  # fmt: skip
    receipt = world.chain.tx(book.functions.cancelMandate(mandate.as_tuple()), investor.address)
    assert events(receipt, book, "MandateCancelled") == [{"mandateHash": digest, "investor": investor.address}]
    expect_revert(world.chain, _use(world, loan_id, 25 * UNIT, mandate, signature), world.admin.address,
                  "LoanBookMandateBudgetExceeded", digest, 25 * UNIT, 0)  # fmt: skip
    # A new salt makes a new mandate with the same bounds.
    renewed = _mandate(world, salt=2)
    world.chain.tx(_use(world, loan_id, 25 * UNIT, renewed, _sign(world, renewed, investor)), world.admin.address)


def test_a_paused_book_takes_no_mandated_funding(world, snapshot):
    book, investor = world.book, world.investors[0]
    mandate = _mandate(world)
    signature = _sign(world, mandate, investor)
    loan_id, _ = world.create()
    world.chain.tx(book.functions.pause(), world.admin.address)
    expect_revert(world.chain, _use(world, loan_id, 100 * UNIT, mandate, signature), world.admin.address, "EnforcedPause")


def test_an_erc1271_investor_signs_through_its_wallet(world, snapshot):
    book, token, wallet, owner = world.book, world.token, world.wallet, world.borrower  # the wallet's owner key
    world.chain.tx(token.functions.faucet(wallet.address, 1_000 * UNIT), world.admin.address)
    approve = token.functions.approve(book.address, 1_000 * UNIT)._encode_transaction_data()
    world.chain.tx(wallet.functions.execute(token.address, approve), owner.address)
    mandate = _mandate(world, investor=wallet)
    loan_id, _ = world.create()
    # Its owner's signature is the wallet's (ERC-1271); anyone else's is not.
    expect_revert(world.chain, _use(world, loan_id, 100 * UNIT, mandate, _sign(world, mandate, world.investors[1])),
                  world.admin.address, "LoanBookInvalidMandateSignature", wallet.address)  # fmt: skip
    world.chain.tx(_use(world, loan_id, 100 * UNIT, mandate, _sign(world, mandate, owner)), world.admin.address)
    assert book.functions.balanceOf(wallet.address, loan_id).call() == 100 * UNIT
