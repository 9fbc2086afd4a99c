"""ReserveFund: deposits, coverage policy, cover paid only to its LoanBook (set once), roles, reverts."""

from __future__ import annotations

from tests.contracts.conftest import RESERVE_SEED
from tests.contracts.helpers import events, expect_revert

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


def test_set_loan_book_once_then_cover(world, snapshot, artifacts):
    reserve, admin, chain = _fresh_reserve(world, artifacts), world.admin.address, world.chain
    assert reserve.functions.loanBook().call() == ZERO
    expect_revert(chain, reserve.functions.cover(1, 10), admin, "ReserveFundNotLoanBook", admin, ZERO)
    stranger = world.outsider.address
    expect_revert(chain, reserve.functions.setLoanBook(stranger), stranger,
                  "AccessControlUnauthorizedAccount", stranger, b"\0" * 32)  # fmt: skip
    expect_revert(chain, reserve.functions.setLoanBook(ZERO), admin, "ReserveFundZeroAddress")
    # Bound to an EOA here, to exercise `cover` directly.
    receipt = chain.tx(reserve.functions.setLoanBook(admin), admin)
    assert events(receipt, reserve, "LoanBookSet") == [{"loanBook": admin}]
    expect_revert(chain, reserve.functions.setLoanBook(stranger), admin, "ReserveFundLoanBookAlreadySet", admin)
    chain.tx(world.token.functions.transfer(reserve.address, 100), admin)
    before = world.balance(admin)
    receipt = chain.tx(reserve.functions.cover(7, 10), admin)
    assert world.balance(admin) == before + 10
    assert events(receipt, reserve, "CoverPaid") == [{"loanId": 7, "loanBook": admin, "amount": 10}]
    expect_revert(chain, reserve.functions.cover(7, 10), stranger, "ReserveFundNotLoanBook", stranger, admin)
    expect_revert(chain, reserve.functions.cover(7, 0), admin, "ReserveFundZeroAmount")
    expect_revert(chain, reserve.functions.cover(7, 91), admin, "ReserveFundInsufficientBalance", 91, 90)


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
