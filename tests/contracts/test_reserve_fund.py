"""ReserveFund: deposits, coverage policy, cover paid only to its LoanBook (set once), roles, reverts."""

from __future__ import annotations

from dataclasses import replace

from tests.contracts.conftest import RESERVE_SEED
from tests.contracts.helpers import DAY, events, expect_revert

ZERO = "0x" + "00" * 20


def test_views(world):
    reserve = world.reserve
    assert reserve.functions.asset().call() == world.token.address
    assert reserve.functions.balance().call() == world.balance(reserve.address) >= RESERVE_SEED
    assert reserve.functions.coverageRatioBps().call() == 8_000


def test_coverage_for_is_the_ratio_capped_by_the_balance(world):
    reserve = world.reserve
    balance = reserve.functions.balance().call()
    assert reserve.functions.coverageFor(1_000).call() == 800
    assert reserve.functions.coverageFor(1_001).call() == 800  # rounded down
    assert reserve.functions.coverageFor(0).call() == 0
    assert reserve.functions.coverageFor(balance * 10).call() == balance


def test_deposit_pulls_and_emits(world, snapshot):
    reserve, admin = world.reserve, world.admin.address
    before = reserve.functions.balance().call()
    receipt = world.chain.tx(reserve.functions.deposit(123), admin)
    assert reserve.functions.balance().call() == before + 123
    assert events(receipt, reserve, "Deposited") == [{"from": admin, "amount": 123}]


def test_deposit_reverts_on_zero(world):
    expect_revert(world.chain, world.reserve.functions.deposit(0), world.admin.address, "ReserveFundZeroAmount")


def _fresh_reserve(world, artifacts):
    art = artifacts["ReserveFund"]
    factory = world.w3.eth.contract(abi=art["abi"], bytecode=art["bytecode"])
    receipt = world.chain.tx(factory.constructor(world.admin.address, world.token.address, 8_000), world.admin.address)
    return world.w3.eth.contract(address=receipt["contractAddress"], abi=art["abi"])


def test_cover_pays_the_loan_book_only(world, snapshot):
    reserve, admin, book = world.reserve, world.admin.address, world.book.address
    assert reserve.functions.loanBook().call() == book
    expect_revert(world.chain, reserve.functions.cover(1, 10), admin, "ReserveFundNotLoanBook", admin, book)


def test_the_admin_cannot_drain_the_reserve(world, snapshot):
    """No role makes the reserve pay anyone but its LoanBook, set once: the admin can neither take
    cover itself nor point the reserve at another address."""
    reserve, admin = world.reserve, world.admin.address
    balance = reserve.functions.balance().call()
    assert not any(item.get("name") == "LOAN_BOOK_ROLE" for item in reserve.abi)
    expect_revert(world.chain, reserve.functions.cover(0, balance), admin, "ReserveFundNotLoanBook", admin,
                  world.book.address)  # fmt: skip
    expect_revert(world.chain, reserve.functions.setLoanBook(admin), admin, "ReserveFundLoanBookAlreadySet",
                  world.book.address)  # fmt: skip
    assert reserve.functions.balance().call() == balance


def _book_on(world, artifacts, reserve):
    """A LoanBook of its own on `reserve` (as deployed: asset, KYC registry and parameters of the
    world's), with the world's underwriter and KYC levels, and a World driving it."""
    art, admin = artifacts["LoanBook"], world.admin.address
    factory = world.w3.eth.contract(abi=art["abi"], bytecode=art["bytecode"])
    receipt = world.chain.tx(factory.constructor(admin, world.token.address, world.kyc.address, reserve.address,
                                                 15 * DAY, 500, 120 * DAY, 25 * 10**6), admin, gas=12_000_000)  # fmt: skip
    book = world.w3.eth.contract(address=receipt["contractAddress"], abi=art["abi"])
    world.chain.tx(book.functions.grantRole(book.functions.UNDERWRITER_ROLE().call(), world.underwriter.address), admin)
    world.chain.tx(book.functions.setKycLevels(world.borrower_level, world.investor_level), admin)
    for investor in world.investors[:2]:
        world.chain.tx(world.token.functions.approve(book.address, 2**256 - 1), investor.address)
    return book, replace(world, reserve=reserve, book=book, investors=world.investors[:2])


def test_set_loan_book_once_then_cover(world, snapshot, artifacts):
    reserve, admin, chain = _fresh_reserve(world, artifacts), world.admin.address, world.chain
    book, _ = _book_on(world, artifacts, reserve)
    assert reserve.functions.loanBook().call() == ZERO
    expect_revert(chain, reserve.functions.cover(1, 10), admin, "ReserveFundNotLoanBook", admin, ZERO)
    stranger = world.outsider.address
    expect_revert(chain, reserve.functions.setLoanBook(stranger), stranger,
                  "AccessControlUnauthorizedAccount", stranger, b"\0" * 32)  # fmt: skip
    expect_revert(chain, reserve.functions.setLoanBook(ZERO), admin, "ReserveFundZeroAddress")
    receipt = chain.tx(reserve.functions.setLoanBook(book.address), admin)
    assert events(receipt, reserve, "LoanBookSet") == [{"loanBook": book.address}]
    expect_revert(chain, reserve.functions.setLoanBook(world.book.address), admin, "ReserveFundLoanBookAlreadySet",
                  book.address)  # fmt: skip
    # `cover` exercised directly, from the LoanBook's own address.
    chain.tx(world.token.functions.transfer(reserve.address, 100), admin)
    before = world.balance(book.address)
    receipt = chain.tx_as_contract(reserve.functions.cover(7, 10), book.address)
    assert world.balance(book.address) == before + 10
    assert events(receipt, reserve, "CoverPaid") == [{"loanId": 7, "loanBook": book.address, "amount": 10}]
    expect_revert(chain, reserve.functions.cover(7, 10), stranger, "ReserveFundNotLoanBook", stranger, book.address)
    expect_revert(chain, reserve.functions.cover(7, 0), book.address, "ReserveFundZeroAmount")
    expect_revert(chain, reserve.functions.cover(7, 91), book.address, "ReserveFundInsufficientBalance", 91, 90)


def test_the_reserve_binds_only_to_a_loan_book_that_names_it(world, snapshot, artifacts):
    """The audit's L-1, first half: the admin bound the reserve to an address of its own and that
    address took the fees through `cover`. Now `setLoanBook` takes only a contract whose
    `reserveFund()` is this reserve: an EOA says nothing (zero), another LoanBook names its own."""
    reserve, admin, chain = _fresh_reserve(world, artifacts), world.admin.address, world.chain
    mallory = world.outsider.address
    expect_revert(chain, reserve.functions.setLoanBook(mallory), admin, "ReserveFundLoanBookMismatch", mallory, ZERO)
    expect_revert(chain, reserve.functions.setLoanBook(world.token.address), admin, "ReserveFundLoanBookMismatch",
                  world.token.address, ZERO)  # a contract without `reserveFund()`  # fmt: skip
    expect_revert(chain, reserve.functions.setLoanBook(world.book.address), admin, "ReserveFundLoanBookMismatch",
                  world.book.address, world.reserve.address)  # fmt: skip
    assert reserve.functions.loanBook().call() == ZERO


def test_a_loan_book_pays_no_fee_into_a_reserve_not_bound_to_it(world, snapshot, artifacts):
    """The audit's L-1, second half: whatever the reserve is bound to (nothing yet, or another
    LoanBook that names it too), LoanBook disburses only once the reserve is bound to it, so fees
    never reach a reserve whose cover would go elsewhere."""
    reserve, admin, chain = _fresh_reserve(world, artifacts), world.admin.address, world.chain
    book, mine = _book_on(world, artifacts, reserve)
    other, _ = _book_on(world, artifacts, reserve)
    loan_id, _ = mine.create()
    mine.fund_equally(loan_id)
    expect_revert(chain, book.functions.disburse(loan_id), admin, "LoanBookReserveNotBound", reserve.address, ZERO)
    chain.tx(reserve.functions.setLoanBook(other.address), admin)
    expect_revert(chain, book.functions.disburse(loan_id), admin, "LoanBookReserveNotBound", reserve.address,
                  other.address)  # fmt: skip
    assert world.balance(reserve.address) == 0

    # Bound to it, the same disbursement goes through and the fee lands in the reserve.
    reserve2 = _fresh_reserve(world, artifacts)
    book2, mine2 = _book_on(world, artifacts, reserve2)
    chain.tx(reserve2.functions.setLoanBook(book2.address), admin)
    loan_id, _ = mine2.active_loan()
    assert world.balance(reserve2.address) == mine2.loan(loan_id)["principal"] // 100  # the 1% fee


def test_set_coverage_ratio(world, snapshot):
    reserve, admin = world.reserve, world.admin.address
    receipt = world.chain.tx(reserve.functions.setCoverageRatio(10_000), admin)
    assert events(receipt, reserve, "CoverageRatioSet") == [{"previousBps": 8_000, "newBps": 10_000}]
    assert reserve.functions.coverageFor(1_000).call() == 1_000
    expect_revert(world.chain, reserve.functions.setCoverageRatio(10_001), admin,
                  "ReserveFundInvalidCoverageRatio", 10_001, 10_000)  # fmt: skip
    stranger = world.outsider.address
    expect_revert(world.chain, reserve.functions.setCoverageRatio(1), stranger,
                  "AccessControlUnauthorizedAccount", stranger, b"\0" * 32)  # fmt: skip


def test_constructor_validation(world, artifacts):
    art = artifacts["ReserveFund"]
    factory = world.w3.eth.contract(abi=art["abi"], bytecode=art["bytecode"])
    admin, token = world.admin.address, world.token.address
    expect_revert(world.chain, factory.constructor(ZERO, token, 1), admin, "ReserveFundZeroAddress")
    expect_revert(world.chain, factory.constructor(admin, ZERO, 1), admin, "ReserveFundZeroAddress")
    expect_revert(world.chain, factory.constructor(admin, token, 10_001), admin,
                  "ReserveFundInvalidCoverageRatio", 10_001, 10_000)  # fmt: skip
