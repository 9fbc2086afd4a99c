"""Net annual return (XIRR): the rate is right on known cash flows, means nothing without money in
and out, and an investor paid on schedule earns the loan's rate, compounded over its periods, also
after giving half its notes to another wallet, which earns the same."""

from __future__ import annotations

import pytest

from backend.chain.indexer import Indexer
from backend.lending.returns import YEAR, xirr
from tests.conftest import own_database
from tests.contracts.conftest import chain, world  # noqa: F401
from tests.identity.conftest import ADMIN, client_for, minted_bearer

DAY = 86_400
LOANS_RATE = (1 + 0.12 * 30 / 365) ** (365 / 30) - 1  # a 12% loan in 30-day periods: 12.68% a year


def test_xirr_on_known_flows():
    assert xirr([(0, -100), (YEAR, 110)]) == pytest.approx(0.10, abs=1e-9)
    assert xirr([(0, -100), (YEAR, 80)]) == pytest.approx(-0.20, abs=1e-9)  # losses show as a negative return
    # 500 / 1.132 ** 0.5 + 600 / 1.132 = 1000
    assert xirr([(0, -1_000), (YEAR // 2, 500), (YEAR, 600)]) == pytest.approx(0.13197, abs=1e-4)
    assert xirr([(5, 100), (0, -100), (YEAR, 0)]) == pytest.approx(0, abs=1e-6)  # taken back in full: 0%
    assert xirr([(0, -100), (0, 100)]) is None  # in and out at once: no rate
    assert xirr([(0, -100)]) is None and xirr([(0, -100), (YEAR, -5)]) is None and xirr([]) is None


@pytest.fixture
def settings(chain_settings, deployment, world, snapshot, tmp_path, database_url):  # noqa: F811
    return own_database(chain_settings, tmp_path, database_url, admin_wallets=[ADMIN.address])


def test_an_investor_paid_on_schedule_earns_the_loans_rate(settings, world):  # noqa: F811
    node, book = world.chain, world.book
    investor, other = world.investors[:2]
    loan_id, start = world.active_loan(investors=[investor, other], apr_bps=1_200, installments=12,
                                       installment_period=30 * DAY)  # fmt: skip
    due = world.loan(loan_id)["installmentAmount"]
    for k in range(1, 13):
        world.repay(loan_id, due if k < 12 else book.functions.amountDue(loan_id).call()[0], at=start + k * 30 * DAY)
        node.tx(book.functions.claim(loan_id), investor.address, at=start + k * 30 * DAY + 1)
    Indexer().catch_up(settings)
    mine = client_for(settings).get("/api/v1/portfolio", headers=minted_bearer(settings, investor)).json()
    # 12% x 30/365 a period, compounded over the 365/30 periods of a year (the notes were bought
    # moments before the payout, which moves the figure in the eighth decimal)
    assert mine["net_annual_return"] == pytest.approx(LOANS_RATE, abs=1e-5)
    audited = client_for(settings).get(f"/api/v1/audit/portfolio/{investor.address.lower()}",
                                       headers=minted_bearer(settings, ADMIN))  # fmt: skip
    assert audited.status_code == 200 and audited.json() == mine  # an auditor sees what the investor sees
    assert client_for(settings).get(f"/api/v1/audit/portfolio/{other.address}",
                                    headers=minted_bearer(settings, investor)).status_code == 403  # fmt: skip
    # The other holder collected nothing: repayments left in LoanBook earn nothing more, so its
    # principal came back, in effect, only today, and the return is about half (the interest of
    # an amortising loan over the whole principal for the whole year).
    theirs = client_for(settings).get("/api/v1/portfolio", headers=minted_bearer(settings, other)).json()
    interest = theirs["claimable"] - 6_000 * 10**6
    assert theirs["net_annual_return"] == pytest.approx(interest / (6_000 * 10**6), abs=5e-3)


def test_no_annual_return_is_given_off_less_than_a_month_of_history(settings, world):  # noqa: F811
    investor = world.investors[0]
    _, start = world.active_loan(investors=[investor, world.investors[1]])
    Indexer().catch_up(settings)
    client, headers = client_for(settings), minted_bearer(settings, investor)
    assert client.get("/api/v1/portfolio", headers=headers).json()["net_annual_return"] is None  # funded moments ago
    world.chain.mine_at(start + 31 * DAY)
    assert client.get("/api/v1/portfolio", headers=headers).json()["net_annual_return"] is not None


def test_notes_given_to_another_wallet_carry_their_value_with_them(settings, world):  # noqa: F811
    """Notes moved to another wallet (the investor's own Safe, a cold wallet) are no gain for the one
    receiving them nor a loss for the one giving them: valued at the principal outstanding they
    stand for, both wallets earn the loan's rate."""
    node, book = world.chain, world.book
    giver, other, receiver = world.investors[:3]
    loan_id, start = world.active_loan(investors=[giver, other], apr_bps=1_200, installments=12,
                                       installment_period=30 * DAY)  # fmt: skip
    due = world.loan(loan_id)["installmentAmount"]
    for k in range(1, 13):
        at = start + k * 30 * DAY
        world.repay(loan_id, due if k < 12 else book.functions.amountDue(loan_id).call()[0], at=at)
        if k == 3:  # a quarter of the principal back: the half given stands for less than its notes
            half = book.functions.balanceOf(giver.address, loan_id).call() // 2
            node.tx(book.functions.safeTransferFrom(giver.address, receiver.address, loan_id, half, b""), giver.address,
                    at=at + 1)  # fmt: skip
        for n, holder in enumerate([giver, receiver] if k > 3 else [giver]):
            node.tx(book.functions.claim(loan_id), holder.address, at=at + 2 + n)
    Indexer().catch_up(settings)
    client = client_for(settings)
    for holder in (giver, receiver):
        mine = client.get("/api/v1/portfolio", headers=minted_bearer(settings, holder)).json()
        assert mine["net_annual_return"] == pytest.approx(LOANS_RATE, abs=1e-5), holder.address
