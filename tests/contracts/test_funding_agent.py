"""The FundingAgent: an investor authorizes it on LoanBook once and signs a standing order; its
executor alone funds new loans with it, from the investor's wallet, within every bound the investor
signed (expiry, APR range, term, notes per loan, budget); the investor cancels it for good, or
takes the authorization back; {fund}'s own rules still apply to the investor; ERC-1271 investors
sign through their wallet contract. LoanBook's `fundFor` takes only the investor or an agent it
authorized."""

from __future__ import annotations

from backend.chain import mandates as fm
from tests.contracts.helpers import ACTIVE, CANCELLED, DAY, FUNDING, events, expect_revert

UNIT = 10**6


def _mandate(world, investor=None, **overrides) -> fm.FundingMandate:
    values = dict(investor=(investor or world.investors[0]).address, executor=world.admin.address,
                  per_loan=2_000 * UNIT, budget=3_000 * UNIT, min_apr_bps=1_000, max_apr_bps=1_500,
                  max_installments=12, max_term=12 * 30 * DAY, expiry=world.chain.now() + 30 * DAY, salt=1)  # fmt: skip
    values.update(overrides)
    return fm.FundingMandate(**values)


def _sign(world, mandate, key) -> bytes:
    return fm.sign(mandate, key, world.chain_id, world.funding_agent.address)


def _use(world, loan_id, amount, mandate, signature):
    return world.funding_agent.functions.fundWithMandate(loan_id, amount, mandate.as_tuple(), signature)


def _authorize(world, investor, authorized=True):
    return world.chain.tx(world.book.functions.setAuthorization(world.funding_agent.address, authorized), investor.address)


def test_the_executor_funds_from_the_investors_wallet_within_the_mandate(world, snapshot):
    book, agent, investor = world.book, world.funding_agent, world.investors[0]
    mandate = _mandate(world)
    signature = _sign(world, mandate, investor)
    digest = fm.digest(mandate, world.chain_id, agent.address)
    assert agent.functions.hashFundingMandate(mandate.as_tuple()).call() == digest
    first, _ = world.create()
    second, _ = world.create()
    # Signed but not yet authorized on LoanBook: LoanBook refuses the agent.
    expect_revert(world.chain, _use(world, first, 100 * UNIT, mandate, signature), world.admin.address,
                  "LoanBookUnauthorizedAgent", agent.address, investor.address)  # fmt: skip
    receipt = _authorize(world, investor)
    assert events(receipt, book, "AuthorizationSet") == [{"investor": investor.address, "agent": agent.address,
                                                          "authorized": True}]  # fmt: skip
    before, executor_before = world.balance(investor), world.balance(world.admin)

    receipt = world.chain.tx(_use(world, first, 2_000 * UNIT, mandate, signature), world.admin.address)
    assert events(receipt, agent, "MandateUsed") == [{"mandateHash": digest, "investor": investor.address, "loanId": first,
                                                     "amount": 2_000 * UNIT, "spent": 2_000 * UNIT}]  # fmt: skip
    (funded,) = events(receipt, book, "LoanFunded")
    assert (funded["investor"], funded["amount"]) == (investor.address, 2_000 * UNIT)
    assert book.functions.balanceOf(investor.address, first).call() == 2_000 * UNIT  # the notes are the investor's
    assert world.balance(investor) == before - 2_000 * UNIT  # paid from its wallet...
    assert world.balance(world.admin) == executor_before  # ...never through the executor's
    assert book.functions.balanceOf(world.admin.address, first).call() == 0
    assert world.token.functions.balanceOf(agent.address).call() == 0  # ...nor the agent's
    assert book.functions.balanceOf(agent.address, first).call() == 0

    # The per-loan cap counts notes held however they came; the budget counts what the mandate funded.
    expect_revert(world.chain, _use(world, first, 25 * UNIT, mandate, signature), world.admin.address,
                  "FundingAgentPerLoanExceeded", digest, first, 2_025 * UNIT, 2_000 * UNIT)  # fmt: skip
    expect_revert(world.chain, _use(world, second, 1_001 * UNIT, mandate, signature), world.admin.address,
                  "FundingAgentBudgetExceeded", digest, 1_001 * UNIT, 1_000 * UNIT)  # fmt: skip
    world.chain.tx(_use(world, second, 1_000 * UNIT, mandate, signature), world.admin.address)
    assert agent.functions.mandateSpent(digest).call() == 3_000 * UNIT


def test_every_bound_the_investor_signed_is_enforced(world, snapshot):
    agent, chain, investor = world.funding_agent, world.chain, world.investors[0]
    mandate = _mandate(world)
    signature = _sign(world, mandate, investor)
    digest = fm.digest(mandate, world.chain_id, agent.address)
    _authorize(world, investor)
    admin = world.admin.address
    fits, _ = world.create()
    cheap, _ = world.create(apr_bps=900)
    dear, _ = world.create(apr_bps=1_600)
    long, _ = world.create(installments=24)
    slow, _ = world.create(installment_period=60 * DAY)  # 12 installments, but over two years
    for loan_id, apr, n, period in ((cheap, 900, 12, 30), (dear, 1_600, 12, 30), (long, 1_200, 24, 30),
                                    (slow, 1_200, 12, 60)):  # fmt: skip
        expect_revert(chain, _use(world, loan_id, 100 * UNIT, mandate, signature), admin,
                      "FundingAgentTermsMismatch", digest, loan_id, apr, n, n * period * DAY)  # fmt: skip
    # Only the executor; only with the investor's own signature; only until the expiry.
    expect_revert(chain, _use(world, fits, 100 * UNIT, mandate, signature), world.investors[1].address,
                  "FundingAgentWrongExecutor", digest, admin, world.investors[1].address)  # fmt: skip
    forged = _sign(world, mandate, world.investors[1])
    expect_revert(chain, _use(world, fits, 100 * UNIT, mandate, forged), admin,
                  "FundingAgentInvalidSignature", investor.address)  # fmt: skip
    bigger = _mandate(world, budget=10**12)  # a mandate the investor never signed, with its signature
    expect_revert(chain, _use(world, fits, 100 * UNIT, bigger, signature), admin,
                  "FundingAgentInvalidSignature", investor.address)  # fmt: skip
    # fund's own rules apply to the investor: minimum ticket, KYC, the borrower's own loan.
    expect_revert(chain, _use(world, fits, UNIT, mandate, signature), admin,
                  "LoanBookTicketTooSmall", fits, UNIT, 25 * UNIT)  # fmt: skip
    stranger = _mandate(world, investor=world.outsider)
    _authorize(world, world.outsider)
    expect_revert(chain, _use(world, fits, 100 * UNIT, stranger, _sign(world, stranger, world.outsider)), admin,
                  "LoanBookInvestorNotVerified", world.outsider.address, world.investor_level)  # fmt: skip
    chain.travel(31 * DAY)
    expect_revert(chain, _use(world, fits, 100 * UNIT, mandate, signature), admin,
                  "FundingAgentExpired", digest, mandate.expiry)  # fmt: skip
    assert agent.functions.mandateSpent(digest).call() == 0  # nothing moved


def test_the_investor_cancels_a_mandate_for_good(world, snapshot):
    agent, investor = world.funding_agent, world.investors[0]
    mandate = _mandate(world)
    signature = _sign(world, mandate, investor)
    digest = fm.digest(mandate, world.chain_id, agent.address)
    loan_id, _ = world.create()
    _authorize(world, investor)
    world.chain.tx(_use(world, loan_id, 500 * UNIT, mandate, signature), world.admin.address)
    expect_revert(world.chain, agent.functions.cancelMandate(mandate.as_tuple()), world.admin.address,
                  "FundingAgentNotInvestor", world.admin.address, investor.address)  # fmt: skip
    receipt = world.chain.tx(agent.functions.cancelMandate(mandate.as_tuple()), investor.address)
    assert events(receipt, agent, "MandateCancelled") == [{"mandateHash": digest, "investor": investor.address}]
    expect_revert(world.chain, _use(world, loan_id, 25 * UNIT, mandate, signature), world.admin.address,
                  "FundingAgentBudgetExceeded", digest, 25 * UNIT, 0)  # fmt: skip
    # A new salt makes a new mandate with the same bounds.
    renewed = _mandate(world, salt=2)
    world.chain.tx(_use(world, loan_id, 25 * UNIT, renewed, _sign(world, renewed, investor)), world.admin.address)


def test_taking_the_authorization_back_stops_every_mandate_even_while_paused(world, snapshot):
    book, investor = world.book, world.investors[0]
    mandate = _mandate(world)
    signature = _sign(world, mandate, investor)
    loan_id, _ = world.create()
    _authorize(world, investor)
    world.chain.tx(book.functions.pause(), world.admin.address)
    expect_revert(world.chain, _use(world, loan_id, 100 * UNIT, mandate, signature), world.admin.address, "EnforcedPause")
    _authorize(world, investor, False)  # an investor can always take it back
    world.chain.tx(book.functions.unpause(), world.admin.address)
    assert not book.functions.isAuthorized(investor.address, world.funding_agent.address).call()
    expect_revert(world.chain, _use(world, loan_id, 100 * UNIT, mandate, signature), world.admin.address,
                  "LoanBookUnauthorizedAgent", world.funding_agent.address, investor.address)  # fmt: skip


def test_fund_for_takes_the_investor_or_an_agent_it_authorized(world, snapshot):
    book, chain = world.book, world.chain
    investor, stranger = world.investors[0], world.investors[1]
    loan_id, _ = world.create()
    expect_revert(chain, book.functions.fundFor(loan_id, investor.address, 100 * UNIT), stranger.address,
                  "LoanBookUnauthorizedAgent", stranger.address, investor.address)  # fmt: skip
    chain.tx(book.functions.fundFor(loan_id, investor.address, 100 * UNIT), investor.address)  # as fund does
    chain.tx(book.functions.setAuthorization(stranger.address, True), investor.address)
    before = world.balance(stranger)
    chain.tx(book.functions.fundFor(loan_id, investor.address, 100 * UNIT), stranger.address)
    assert book.functions.balanceOf(investor.address, loan_id).call() == 200 * UNIT
    assert book.functions.balanceOf(stranger.address, loan_id).call() == 0
    assert world.balance(stranger) == before  # the investor paid, not the agent


def test_an_erc1271_investor_signs_through_its_wallet(world, snapshot):
    book, token, wallet, owner = world.book, world.token, world.wallet, world.borrower  # the wallet's owner key
    world.chain.tx(token.functions.faucet(wallet.address, 1_000 * UNIT), world.admin.address)
    approve = token.functions.approve(book.address, 1_000 * UNIT)._encode_transaction_data()
    world.chain.tx(wallet.functions.execute(token.address, approve), owner.address)
    authorize = book.functions.setAuthorization(world.funding_agent.address, True)._encode_transaction_data()
    world.chain.tx(wallet.functions.execute(book.address, authorize), owner.address)
    mandate = _mandate(world, investor=wallet)
    loan_id, _ = world.create()
    # Its owner's signature is the wallet's (ERC-1271); anyone else's is not.
    expect_revert(world.chain, _use(world, loan_id, 100 * UNIT, mandate, _sign(world, mandate, world.investors[1])),
                  world.admin.address, "FundingAgentInvalidSignature", wallet.address)  # fmt: skip
    world.chain.tx(_use(world, loan_id, 100 * UNIT, mandate, _sign(world, mandate, owner)), world.admin.address)
    assert book.functions.balanceOf(wallet.address, loan_id).call() == 100 * UNIT


def _release(world, mandate, loan_id):
    return world.funding_agent.functions.releaseFunding(mandate.as_tuple(), loan_id)


def test_a_funding_refunded_from_a_cancelled_loan_goes_back_to_the_budget_once(world, snapshot):
    """Review L-2: `mandateSpent` only grew, so a loan cancelled and refunded kept eating the
    budget and auto-invest stopped early. What a mandate funded into a loan comes back once the
    loan is Cancelled and the investor has taken its refund; anyone may release it, once."""
    book, agent, chain, investor = world.book, world.funding_agent, world.chain, world.investors[0]
    mandate = _mandate(world, expiry=chain.now() + 60 * DAY)
    signature = _sign(world, mandate, investor)
    digest = fm.digest(mandate, world.chain_id, agent.address)
    _authorize(world, investor)
    stranger = world.investors[1].address  # anyone may release
    lapsed, _ = world.create()
    chain.tx(_use(world, lapsed, 2_000 * UNIT, mandate, signature), world.admin.address)
    assert agent.functions.mandateFunded(digest, lapsed).call() == 2_000 * UNIT
    # Still funding: the money is at stake.
    expect_revert(chain, _release(world, mandate, lapsed), stranger,
                  "FundingAgentLoanNotCancelled", digest, lapsed, FUNDING)  # fmt: skip
    deadline = world.loan(lapsed)["fundingDeadline"]
    chain.tx(book.functions.cancel(lapsed), stranger, at=deadline + 1)
    # Cancelled, but the refund is still LoanBook's to pay: not back in the wallet yet.
    expect_revert(chain, _release(world, mandate, lapsed), stranger,
                  "FundingAgentNotRefunded", digest, lapsed, investor.address, 2_000 * UNIT)  # fmt: skip
    chain.tx(book.functions.refund(lapsed), investor.address)
    receipt = chain.tx(_release(world, mandate, lapsed), stranger)
    assert events(receipt, agent, "MandateReleased") == [{"mandateHash": digest, "investor": investor.address,
                                                         "loanId": lapsed, "amount": 2_000 * UNIT, "spent": 0}]  # fmt: skip
    assert agent.functions.mandateSpent(digest).call() == 0
    assert agent.functions.mandateFunded(digest, lapsed).call() == 0
    # Once only; and a loan the mandate never funded has nothing to release.
    expect_revert(chain, _release(world, mandate, lapsed), stranger, "FundingAgentNothingToRelease", digest, lapsed)
    # The whole budget is there again: 3,000 funded, the 3,001st refused.
    first, _ = world.create()
    second, _ = world.create()
    chain.tx(_use(world, first, 2_000 * UNIT, mandate, signature), world.admin.address)
    chain.tx(_use(world, second, 1_000 * UNIT, mandate, signature), world.admin.address)
    expect_revert(chain, _use(world, second, 25 * UNIT, mandate, signature), world.admin.address,
                  "FundingAgentBudgetExceeded", digest, 25 * UNIT, 0)  # fmt: skip
    # A loan that was paid out is invested, not refunded: nothing comes back.
    principal = world.loan(first)["principal"]
    chain.tx(book.functions.fund(first, principal - 2_000 * UNIT), world.investors[1].address)
    chain.tx(book.functions.disburse(first), world.admin.address)
    expect_revert(chain, _release(world, mandate, first), stranger,
                  "FundingAgentLoanNotCancelled", digest, first, ACTIVE)  # fmt: skip
    assert agent.functions.mandateSpent(digest).call() == 3_000 * UNIT


def test_a_note_gift_cannot_hold_a_release_back(world, snapshot):
    """The review's L-2: a griefer who funded the same cancelled loan sent the refunded investor one
    unit of notes, and `releaseFunding` reverted `FundingAgentNotRefunded(held=1)` until the investor
    refunded again, as often as the gift was repeated. A cancelled loan's notes no longer move."""
    book, agent, chain, investor, griefer = world.book, world.funding_agent, world.chain, *world.investors[:2]
    mandate = _mandate(world, expiry=chain.now() + 60 * DAY)
    digest = fm.digest(mandate, world.chain_id, agent.address)
    _authorize(world, investor)
    loan_id, _ = world.create()
    chain.tx(_use(world, loan_id, 2_000 * UNIT, mandate, _sign(world, mandate, investor)), world.admin.address)
    world.fund(loan_id, griefer, 100 * UNIT)
    chain.tx(book.functions.cancel(loan_id), griefer.address, at=world.loan(loan_id)["fundingDeadline"] + 1)
    chain.tx(book.functions.refund(loan_id), investor.address)
    expect_revert(chain, book.functions.safeTransferFrom(griefer.address, investor.address, loan_id, 1, b""),
                  griefer.address, "LoanBookCancelledNotes", loan_id)  # fmt: skip
    receipt = chain.tx(_release(world, mandate, loan_id), griefer.address)
    assert events(receipt, agent, "MandateReleased")[0]["amount"] == 2_000 * UNIT
    assert agent.functions.mandateSpent(digest).call() == 0


def test_a_cancelled_mandate_releases_nothing(world, snapshot):
    """Cancelling sets spent to the budget for good: a release would reopen it."""
    book, agent, chain, investor = world.book, world.funding_agent, world.chain, world.investors[0]
    mandate = _mandate(world, expiry=chain.now() + 60 * DAY)
    digest = fm.digest(mandate, world.chain_id, agent.address)
    _authorize(world, investor)
    loan_id, _ = world.create()
    chain.tx(_use(world, loan_id, 500 * UNIT, mandate, _sign(world, mandate, investor)), world.admin.address)
    chain.tx(agent.functions.cancelMandate(mandate.as_tuple()), investor.address)
    assert agent.functions.mandateCancelled(digest).call()
    deadline = world.loan(loan_id)["fundingDeadline"]
    chain.tx(book.functions.refund(loan_id), investor.address, at=deadline + 1)
    assert world.loan(loan_id)["status"] == CANCELLED
    expect_revert(chain, _release(world, mandate, loan_id), investor.address, "FundingAgentMandateIsCancelled", digest)
    assert agent.functions.mandateSpent(digest).call() == 3_000 * UNIT
