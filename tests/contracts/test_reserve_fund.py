"""ReserveFund: deposits, coverage policy, cover paid only to a LoanBook, roles, reverts."""

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


def test_cover_pays_the_loan_book_role_only(world, snapshot):
    reserve, admin = world.reserve, world.admin.address
    role = reserve.functions.LOAN_BOOK_ROLE().call()
    assert reserve.functions.hasRole(role, world.book.address).call()
    expect_revert(world.chain, reserve.functions.cover(1, 10), admin, "AccessControlUnauthorizedAccount", admin, role)
    # Grant the role to an EOA to exercise the function directly.
    world.chain.tx(reserve.functions.grantRole(role, admin), admin)
    before = world.balance(admin)
    receipt = world.chain.tx(reserve.functions.cover(7, 10), admin)
    assert world.balance(admin) == before + 10
    assert events(receipt, reserve, "CoverPaid") == [{"loanId": 7, "loanBook": admin, "amount": 10}]
    balance = reserve.functions.balance().call()
    expect_revert(world.chain, reserve.functions.cover(7, 0), admin, "ReserveFundZeroAmount")
    expect_revert(world.chain, reserve.functions.cover(7, balance + 1), admin,
                  "ReserveFundInsufficientBalance", balance + 1, balance)  # fmt: skip


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
