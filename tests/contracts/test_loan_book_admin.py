"""LoanBook administration, roles, constructor validation, interfaces and views."""

from __future__ import annotations

from backend.chain import deploy_params
from tests.contracts.helpers import ACTIVE, DAY, events, expect_revert

UNIT = 10**6
ZERO = "0x" + "00" * 20


def test_deployed_parameters(world):
    book = world.book
    assert book.functions.asset().call() == world.token.address
    assert book.functions.kycRegistry().call() == world.kyc.address
    assert book.functions.reserveFund().call() == world.reserve.address
    assert book.functions.gracePeriod().call() == 15 * DAY
    assert book.functions.lateFeeBps().call() == 500
    assert book.functions.defaultAfter().call() == 120 * DAY
    assert book.functions.minTicket().call() == 25 * UNIT
    levels = (book.functions.borrowerKycLevel().call(), book.functions.investorKycLevel().call())
    assert levels == (deploy_params.BORROWER_KYC_LEVEL, deploy_params.INVESTOR_KYC_LEVEL)
    roles = {name: book.functions[name]().call() for name in ("UNDERWRITER_ROLE", "PAUSER_ROLE", "DEFAULT_ADMIN_ROLE")}
    assert book.functions.hasRole(roles["UNDERWRITER_ROLE"], world.underwriter.address).call()
    assert book.functions.hasRole(roles["PAUSER_ROLE"], world.admin.address).call()
    assert book.functions.hasRole(roles["DEFAULT_ADMIN_ROLE"], world.admin.address).call()
    assert not book.functions.hasRole(roles["UNDERWRITER_ROLE"], world.admin.address).call()


def test_the_credit_policy_prices_for_the_contracts_it_lends_through(world):
    """The reserve fee is the reserve's expected claim at the cover the ReserveFund is deployed with,
    and an application whose fee LoanBook would refuse is declined: both figures must be the
    contracts' own (offers check the cover again against the chain: tests/lending/test_offers.py)."""
    from backend.scoring import policy

    fee_cap = world.book.functions.MAX_ORIGINATION_FEE_BPS().call()
    assert fee_cap == deploy_params.MAX_ORIGINATION_FEE_BPS == policy.MAX_ORIGINATION_FEE_BPS == 1_000
    cover = world.reserve.functions.coverageRatioBps().call()
    assert cover == deploy_params.COVERAGE_RATIO_BPS == round(policy.RESERVE_COVER * 10_000)


def test_set_min_ticket(world, snapshot):
    book, admin = world.book, world.admin.address
    receipt = world.chain.tx(book.functions.setMinTicket(100 * UNIT), admin)
    assert events(receipt, book, "MinTicketSet") == [{"previous": 25 * UNIT, "current": 100 * UNIT}]
    loan_id, _ = world.create()
    expect_revert(world.chain, book.functions.fund(loan_id, 99 * UNIT), world.investors[0].address,
                  "LoanBookTicketTooSmall", loan_id, 99 * UNIT, 100 * UNIT)  # fmt: skip
    stranger = world.outsider.address
    expect_revert(world.chain, book.functions.setMinTicket(1), stranger,
                  "AccessControlUnauthorizedAccount", stranger, b"\0" * 32)  # fmt: skip


def test_set_kyc_levels(world, snapshot):
    book, admin = world.book, world.admin.address
    receipt = world.chain.tx(book.functions.setKycLevels(3, 2), admin)
    assert events(receipt, book, "KycLevelsSet") == [{"borrowerLevel": 3, "investorLevel": 2}]
    # No actor holds level 3: the borrower no longer qualifies.
    terms = world.terms()
    fn = book.functions.createLoan(terms.as_tuple(), world.sign(terms, world.borrower),
                                   world.sign(terms, world.underwriter))  # fmt: skip
    expect_revert(world.chain, fn, admin, "LoanBookBorrowerNotVerified", world.borrower.address, 3)
    world.chain.tx(book.functions.setKycLevels(world.borrower_level, world.investor_level), admin)
    loan_id, _ = world.create()
    world.fund(loan_id, world.investors[0], 100 * UNIT)
    # Investors hold the investors' level only: one level more and they can neither fund nor
    # receive notes.
    higher = world.investor_level + 1
    world.chain.tx(book.functions.setKycLevels(world.borrower_level, higher), admin)
    inv = world.investors[1].address
    expect_revert(world.chain, book.functions.fund(loan_id, 100 * UNIT), inv, "LoanBookInvestorNotVerified", inv,
                  higher)  # fmt: skip
    src = world.investors[0].address
    expect_revert(world.chain, book.functions.safeTransferFrom(src, inv, loan_id, 1, b""), src,
                  "LoanBookRecipientNotVerified", inv, higher)  # fmt: skip
    stranger = world.outsider.address
    expect_revert(world.chain, book.functions.setKycLevels(1, 1), stranger,
                  "AccessControlUnauthorizedAccount", stranger, b"\0" * 32)  # fmt: skip


def test_pause_and_unpause(world, snapshot):
    book, admin = world.book, world.admin.address
    role = book.functions.PAUSER_ROLE().call()
    stranger = world.outsider.address
    expect_revert(world.chain, book.functions.pause(), stranger, "AccessControlUnauthorizedAccount", stranger, role)
    receipt = world.chain.tx(book.functions.pause(), admin)
    assert events(receipt, book, "Paused") == [{"account": admin}]
    assert book.functions.paused().call()
    expect_revert(world.chain, book.functions.pause(), admin, "EnforcedPause")
    expect_revert(world.chain, book.functions.unpause(), stranger, "AccessControlUnauthorizedAccount", stranger, role)
    world.chain.tx(book.functions.unpause(), admin)
    expect_revert(world.chain, book.functions.unpause(), admin, "ExpectedPause")
    assert not book.functions.paused().call()


def test_what_stays_open_while_paused(world, snapshot):
    """Repay, claim, refund, cancel, default and note transfers are never paused."""
    book, chain = world.book, world.chain
    loan_id, start = world.active_loan()
    open_loan, _ = world.create()
    world.fund(open_loan, world.investors[0], 100 * UNIT)
    chain.tx(book.functions.pause(), world.admin.address)
    world.repay(loan_id, 1_000 * UNIT)
    chain.tx(book.functions.claim(loan_id), world.investors[0].address)
    chain.tx(book.functions.safeTransferFrom(world.investors[1].address, world.investors[2].address, loan_id, 5, b""),
             world.investors[1].address)  # fmt: skip
    deadline = world.loan(open_loan)["fundingDeadline"]
    chain.tx(book.functions.refund(open_loan), world.investors[0].address, at=deadline + 1)
    chain.tx(book.functions.markDefault(loan_id), world.outsider.address,
             at=book.functions.defaultableAt(loan_id).call() + 1)  # fmt: skip


def test_constructor_validation(world, artifacts):
    art = artifacts["LoanBook"]
    factory = world.w3.eth.contract(abi=art["abi"], bytecode=art["bytecode"])
    admin, token, kyc, reserve = world.admin.address, world.token.address, world.kyc.address, world.reserve.address
    good = [admin, token, kyc, reserve, 15 * DAY, 500, 120 * DAY, 25 * UNIT]
    for i in range(4):
        args = list(good)
        args[i] = ZERO
        expect_revert(world.chain, factory.constructor(*args), admin, "LoanBookZeroAddress")
    for grace, fee, after in ((121 * DAY, 500, 120 * DAY), (DAY, 10_001, 120 * DAY), (DAY, 500, 41 * 365 * DAY)):
        args = good[:4] + [grace, fee, after, 1]
        expect_revert(world.chain, factory.constructor(*args), admin,
                      "LoanBookInvalidServicingParams", grace, fee, after)  # fmt: skip


def _deploy(world, artifacts, name: str, *args):
    art = artifacts[name]
    factory = world.w3.eth.contract(abi=art["abi"], bytecode=art["bytecode"])
    return world.chain.tx(factory.constructor(*args), world.admin.address)["contractAddress"]


def test_the_contracts_share_one_asset(world, artifacts, snapshot):
    """LoanBook refuses a reserve in another token (its cover would not be the loans' money), and
    NoteMarket and RepaymentAgent refuse an asset other than LoanBook's."""
    admin, token, book = world.admin.address, world.token.address, world.book.address
    other = _deploy(world, artifacts, "MockStablecoin")
    other_reserve = _deploy(world, artifacts, "ReserveFund", admin, other, 8_000)
    art = artifacts["LoanBook"]
    factory = world.w3.eth.contract(abi=art["abi"], bytecode=art["bytecode"])
    args = [admin, token, world.kyc.address, other_reserve, 15 * DAY, 500, 120 * DAY, 25 * UNIT]
    expect_revert(world.chain, factory.constructor(*args), admin, "LoanBookAssetMismatch", token, other)
    assert world.book.functions.asset().call() == token
    for name, error, args in (("NoteMarket", "NoteMarketAssetMismatch", [admin, book, other]),
                              ("RepaymentAgent", "RepaymentAgentAssetMismatch", [book, other])):  # fmt: skip
        factory = world.w3.eth.contract(abi=artifacts[name]["abi"], bytecode=artifacts[name]["bytecode"])
        expect_revert(world.chain, factory.constructor(*args), admin, error, other, token)


def test_supports_interfaces(world):
    book = world.book
    for interface_id in ("0xd9b67a26", "0x0e89341c", "0x7965db0b", "0x01ffc9a7"):  # 1155, metadata, AC, 165
        assert book.functions.supportsInterface(interface_id).call(), interface_id
    assert not book.functions.supportsInterface("0xffffffff").call()


def test_views_on_unknown_and_inactive_loans(world, snapshot):
    book = world.book
    assert book.functions.amountDue(999).call() == [0, 0, 0]
    assert book.functions.defaultableAt(999).call() == 0
    assert book.functions.pointsPerShare(999).call() == 0
    assert book.functions.claimableOf(999, world.investors[0].address).call() == 0
    loan = book.functions.loan(999).call()
    assert loan[1] == 0 and loan[0] == ZERO
    loan_id, _ = world.create()
    assert book.functions.amountDue(loan_id).call() == [0, 0, 0]
    assert book.functions.uri(loan_id).call() == ""


def test_points_per_share_follow_distributions(world, snapshot):
    book = world.book
    loan_id, _ = world.active_loan()
    assert world.loan(loan_id)["status"] == ACTIVE
    assert book.functions.pointsPerShare(loan_id).call() == 0
    world.repay(loan_id, 1_000 * UNIT)
    loan = world.loan(loan_id)
    assert loan["distributed"] == 1_000 * UNIT and loan["noteSupply"] == loan["principal"]
    assert book.functions.pointsPerShare(loan_id).call() == -(-1_000 * UNIT * 2**128 // loan["principal"])
