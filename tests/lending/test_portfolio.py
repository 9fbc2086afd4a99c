"""Diversification: a plan spreads an amount in equal tickets over open loans (within caps, grades
and the minimum ticket, or none), the investor's wallet sends it, and the portfolio then reports exposure,
concentration and grades from the chain index, the loss after the reserve's cover the same before
and after a payout, and money to take back from a loan never paid out."""

from __future__ import annotations

import json

import pytest
from sqlalchemy import select
from typer.testing import CliRunner

from backend.chain.indexer import Indexer
from backend.cli.main import app
from backend.config import get_settings
from backend.db.session import session_scope
from backend.disclosure.reserve import reserve_figures
from backend.errors import Conflict
from backend.identity.kyc.submission import submit
from backend.identity.schemas import KycCreate
from backend.lending.portfolio import plan_investment, portfolio_of
from backend.lending.schemas import PlanCreate, WalletTxCreate
from backend.lending.wallet_txs import prepare
from backend.scoring.grade_pd import priced_pd
from backend.scoring.models import CreditDecision
from backend.scoring.policy import LGD
from backend.scoring.schemas import ApplicationCreate
from backend.scoring.service import score_application
from backend.servicing.funding import DISBURSEMENT_WINDOW
from tests.anchoring.helpers import point_get_settings_at
from tests.conftest import own_database
from tests.contracts.conftest import chain, world  # noqa: F401
from tests.contracts.helpers import CANCELLED, KYC_EXPIRY
from tests.identity.conftest import client_for, make_applicant, minted_bearer
from tests.lending.test_offers import REFERRED
from tests.lending.test_wallet_txs import _send
from tests.scoring.conftest import SAMPLE

UNIT = 10**6


@pytest.fixture
def settings(chain_settings, deployment, world, snapshot, tmp_path, database_url):  # noqa: F811
    return own_database(chain_settings, tmp_path, database_url)


def _decision_hash(settings, application: dict) -> str:
    with session_scope(settings) as session:
        return score_application(session, ApplicationCreate(**application), settings=settings).decision_hash


def test_a_plan_spreads_money_thinly_and_the_portfolio_measures_it(settings, world, monkeypatch):  # noqa: F811
    grade_a, grade_d = _decision_hash(settings, SAMPLE), _decision_hash(settings, REFERRED)
    loans = [world.create(decision_hash=h)[0] for h in (grade_a, grade_a, grade_d)] + [world.create()[0]]
    investor = world.investors[0]
    # The investor borrows too: a plan never puts its money into its own loan (no self-funding).
    world.chain.tx(world.kyc.functions.attest(investor.address, world.borrower_level, KYC_EXPIRY, b"\x02" * 32),
                   world.admin.address)  # fmt: skip
    world.create(borrower=investor.address, borrower_key=investor)
    Indexer().catch_up(settings)
    with session_scope(settings) as session:  # KYC level 1: the investor role
        submit(session, settings, investor.address, KycCreate(**make_applicant(900).form()), [])
    client, headers = client_for(settings), minted_bearer(settings, investor)

    def plan(**body):
        return client.post("/api/v1/portfolio/plan", json=body, headers=headers)

    only_a = plan(amount=1000 * UNIT, grades=["A"]).json()
    assert [(a["loan_id"], a["amount"]) for a in only_a["allocations"]] == [(loans[0], 500 * UNIT), (loans[1], 500 * UNIT)]
    assert plan(amount=10 * UNIT).status_code == 409  # below the minimum ticket of 25
    assert plan(amount=100 * UNIT, grades=["G"]).status_code == 409  # nothing open at that grade
    assert plan(amount=0).status_code == 422
    borrower_plan = client.post("/api/v1/portfolio/plan", json={"amount": 100 * UNIT}, headers=minted_bearer(settings, world.borrower))
    assert borrower_plan.status_code == 403  # planning is for verified investors

    spread = plan(amount=1000 * UNIT + 3, max_per_loan=300 * UNIT).json()
    assert sorted(a["loan_id"] for a in spread["allocations"]) == sorted(loans)  # not its own loan
    assert sorted(a["amount"] for a in spread["allocations"]) == [250 * UNIT] + [250 * UNIT + 1] * 3  # remainder spread too
    assert spread["allocated"] == 1000 * UNIT + 3 and spread["unallocated"] == 0
    assert len(spread["transactions"]) == 4  # the world's investors approved LoanBook already: no approve
    _send(world.w3, investor, spread["transactions"])
    Indexer().catch_up(settings)

    mine = client.get("/api/v1/portfolio", headers=headers).json()
    assert mine["loans_at_risk"] == 4 and mine["exposure"] == 1000 * UNIT + 3
    assert mine["effective_loans"] == pytest.approx(4.0, rel=1e-6) and mine["largest_share"] == pytest.approx(0.25, rel=1e-6)
    amounts = {a["loan_id"]: a["amount"] for a in spread["allocations"]}
    assert mine["exposure_by_grade"] == {
        "A": amounts[loans[0]] + amounts[loans[1]], "D": amounts[loans[2]], "unrated": amounts[loans[3]]
    }
    assert any("at least 20" in w for w in mine["warnings"]) and any("25%" in w for w in mine["warnings"])
    with session_scope(settings) as session:  # the loss to expect, at the PD of each loan's grade, which priced it
        made = session.execute(select(CreditDecision.decision_hash, CreditDecision.model_version, CreditDecision.grade,
                                      CreditDecision.pd)).all()  # fmt: skip
    pd = {h: priced_pd(version, grade) for h, version, grade, _ in made}
    assert {h: grade for h, _, grade, _ in made} == {grade_a: "A", grade_d: "D"}
    assert all(pd[h] != own for h, _, _, own in made)  # not the decision's own PD, which gives the score back
    held = {p["loan_id"]: p for p in mine["positions"]}
    for loan_id, decision in zip(loans[:3], (grade_a, grade_a, grade_d), strict=True):
        assert held[loan_id]["expected_loss"] == round(pd[decision] * LGD * held[loan_id]["exposure"])
    assert held[loans[3]]["expected_loss"] is None and held[loans[0]]["bucket"] is None  # unrated; still funding
    assert mine["expected_loss"] == sum(held[i]["expected_loss"] for i in loans[:3]) > 0
    assert held[loans[2]]["expected_loss"] > held[loans[0]]["expected_loss"]  # grade D against A, same stake
    with session_scope(settings) as session:  # less what the risk reserve is expected to pay of a default
        share = reserve_figures(session).expected_cover_share
    assert share == pytest.approx(0.8)  # the deployment's coverage ratio, a reserve with no claims expected yet
    # The cover and then the recoveries (investors first) leave investors LGD - 80% = 5% of a default's principal.
    for loan_id, decision in zip(loans[:3], (grade_a, grade_a, grade_d), strict=True):
        after = held[loan_id]["expected_loss_after_cover"]
        assert after == round(pd[decision] * (LGD - share) * held[loan_id]["exposure"]) < held[loan_id]["expected_loss"] / 10
    assert mine["expected_loss_after_cover"] == sum(held[i]["expected_loss_after_cover"] for i in loans[:3])
    runner = CliRunner()  # an operator or auditor reads the same from the CLI
    try:
        point_get_settings_at(monkeypatch, settings)
        shown = runner.invoke(app, ["portfolio", "show", investor.address.lower(), "--json"])
        table = runner.invoke(app, ["portfolio", "show", investor.address])
    finally:
        monkeypatch.undo()
        get_settings.cache_clear()
    assert json.loads(shown.stdout) == mine
    words = " ".join(table.stdout.split())  # the console wraps long lines
    assert table.exit_code == 0 and f"expected loss {mine['expected_loss']:,} ({mine['expected_loss_after_cover']:,} after the reserve's cover);" in words and "warning:" in words

    capped = plan(amount=1000 * UNIT, max_per_loan=300 * UNIT).json()  # about 250 held in each: 50 more fit
    assert {a["loan_id"]: a["amount"] for a in capped["allocations"]} == {i: 300 * UNIT - amounts[i] for i in loans}
    assert capped["unallocated"] == 1000 * UNIT - (1200 * UNIT - spread["allocated"])


def test_repayments_earned_before_giving_all_notes_away_are_still_shown_and_collected(settings, world):  # noqa: F811
    """What notes earn stays with whoever held them then: an investor who gave away (or sold) all
    its notes after a repayment still sees that money and collects it with the others."""
    node, book = world.chain, world.book
    leaver, holder, other = world.investors[:3]
    kept, start = world.active_loan(investors=[leaver, holder])
    left, _ = world.active_loan(investors=[leaver, holder])
    node.mine_at(start + 30 * 86_400)
    for loan_id in (kept, left):
        world.repay(loan_id, book.functions.amountDue(loan_id).call()[0])
    notes = book.functions.balanceOf(leaver.address, left).call()
    node.tx(book.functions.safeTransferFrom(leaver.address, other.address, left, notes, b""), leaver.address)
    Indexer().catch_up(settings)
    client, headers = client_for(settings), minted_bearer(settings, leaver)

    positions = {p["loan_id"]: p for p in client.get("/api/v1/portfolio", headers=headers).json()["positions"]}
    owed = book.functions.claimableOf(left, leaver.address).call()
    assert owed > 0 and (positions[left]["notes"], positions[left]["exposure"], positions[left]["claimable"]) == (0, 0, owed)
    assert positions[kept]["notes"] > 0 and positions[kept]["claimable"] > 0

    everything = client.post("/api/v1/portfolio/claim", headers=headers).json()
    assert everything["amount"] == owed + positions[kept]["claimable"]
    before = world.balance(leaver)
    _send(world.w3, leaver, everything["transactions"])
    assert world.balance(leaver) == before + everything["amount"]
    Indexer().catch_up(settings)
    after = {p["loan_id"] for p in client.get("/api/v1/portfolio", headers=headers).json()["positions"]}
    assert left not in after and kept in after  # collected: nothing left behind


def test_selling_now_walks_the_bids_best_first():
    from backend.chain.projection_models import LoanRow
    from backend.lending.portfolio import sell_now

    bids = [(5_000, 9_900), (10_000, 9_500), (100_000, 9_000)]  # as bids_for orders them: the best price first
    whole = LoanRow(principal=1_000_000, principal_outstanding=1_000_000)
    assert sell_now(bids, 3_000, whole) == (3_000, 3_000 * 9_900 // 10_000)
    assert sell_now(bids, 12_000, whole) == (12_000, 5_000 * 9_900 // 10_000 + 7_000 * 9_500 // 10_000)
    assert sell_now(bids, 10**6, whole) == (115_000, 5_000 * 99 // 100 + 10_000 * 95 // 100 + 100_000 * 90 // 100)
    assert sell_now([], 50, whole) == (0, 0)
    # Prices are of the principal the notes still stand for, rounded down per bid: a third repaid, a third less.
    amortized = LoanRow(principal=1_000_000, principal_outstanding=666_667)
    assert sell_now(bids, 12_000, amortized) == (12_000, 5_000 * 9_900 * 666_667 // 10**10 + 7_000 * 9_500 * 666_667 // 10**10)


def test_the_loss_after_cover_an_investor_commits_on_is_the_one_it_holds_once_paid_out(settings, world):  # noqa: F811
    """The reserve pays min(ratio x principal outstanding, balance): while the loan funds, its whole
    principal is what a default would leave (it has none outstanding yet), so a reserve too small
    for it shows at once, not only after the payout."""
    grade_a = _decision_hash(settings, SAMPLE)
    investor, other = world.investors[:2]
    # 80% of the principal must be more than the reserve holds: its seed (50,000) or whatever earlier
    # tests of this session's chain left in it.
    held = world.token.functions.balanceOf(world.reserve.address).call()
    half = max(100_000 * UNIT, -(-held // UNIT) * UNIT)
    principal = 2 * half
    loan_id, _ = world.create(decision_hash=grade_a, principal=principal)
    world.fund(loan_id, investor, half)

    def seen() -> tuple:
        Indexer().catch_up(settings)
        with session_scope(settings) as session:
            (position,) = portfolio_of(session, settings, investor.address).positions
        return position, world.token.functions.balanceOf(world.reserve.address).call()

    (funding, before) = seen()
    world.fund(loan_id, other, half)
    world.chain.tx(world.book.functions.disburse(loan_id), world.admin.address)
    (active, after) = seen()
    assert (funding.status, active.status) == ("funding", "active") and funding.exposure == active.exposure
    assert funding.pd_now == pytest.approx(active.pd_now) and funding.expected_loss == active.expected_loss
    # The balance pays at most half the principal of a default (not 80%): the investors lose LGD less
    # that share, committing as holding; the payout's 1% fee to the reserve is all that moves it.
    for position, balance in ((funding, before), (active, after)):
        loss = LGD - balance / principal
        assert position.expected_loss_after_cover == pytest.approx(position.pd_now * loss * position.exposure, abs=1)
    assert after - before == principal // 100 and active.expected_loss_after_cover > 0.97 * funding.expected_loss_after_cover


def test_a_fully_funded_loan_never_paid_out_is_refundable_once_the_disbursement_window_has_passed(settings, world):  # noqa: F811
    """LoanBook lets the investors of a fully funded loan take their money back once it has not been
    paid out within DISBURSEMENT_WINDOW past its deadline (so they are never locked in); the
    portfolio and the refund transaction say so from then, not before."""
    book, (first, second) = world.book, world.investors[:2]
    assert book.functions.DISBURSEMENT_WINDOW().call() == DISBURSEMENT_WINDOW  # the backend's mirror of it
    loan_id, _ = world.create()
    world.fund_equally(loan_id, [first, second])
    deadline, notes = world.loan(loan_id)["fundingDeadline"], book.functions.balanceOf(first.address, loan_id).call()

    def seen_at(moment: int):
        world.chain.mine_at(moment)
        Indexer().catch_up(settings)
        with session_scope(settings) as session:
            report = portfolio_of(session, settings, first.address)
            try:
                refund = prepare(session, settings, first.address, loan_id, WalletTxCreate(action="refund"))
            except Conflict as refused:
                refund = refused
        return report, refund

    report, refused = seen_at(deadline + DISBURSEMENT_WINDOW)  # the borrower may still take it
    assert (report.positions[0].exposure, report.positions[0].refundable, report.refundable) == (notes, 0, 0)
    assert isinstance(refused, Conflict) and "not paid out within 7 days" in str(refused)
    report, refund = seen_at(deadline + DISBURSEMENT_WINDOW + 10)
    assert (report.positions[0].exposure, report.positions[0].refundable, report.refundable) == (0, notes, notes)
    assert any(f"loans {loan_id} did not fund in time or were never paid out" in w for w in report.warnings)
    assert refund.amount == notes
    before = world.balance(first)
    _send(world.w3, first, [call.model_dump() for call in refund.transactions])
    assert world.balance(first) == before + notes and world.loan(loan_id)["status"] == CANCELLED


def test_a_plan_spreads_money_when_loanbook_has_no_minimum_ticket(settings, world):  # noqa: F811
    """`setMinTicket(0)` means no minimum: a plan spreads the amount over every open loan and never
    offers a funding of 0 to a loan already held in full."""
    investor = world.investors[0]
    world.chain.tx(world.book.functions.setMinTicket(0), world.admin.address)
    full, open_ = world.create()[0], world.create()[0]
    world.fund(full, investor, 50 * UNIT)
    Indexer().catch_up(settings)
    with session_scope(settings) as session:
        spread = plan_investment(session, settings, investor.address, PlanCreate(amount=100 * UNIT))
        capped = plan_investment(session, settings, investor.address, PlanCreate(amount=100 * UNIT, max_per_loan=50 * UNIT))
    assert [(a.loan_id, a.amount) for a in spread.allocations] == [(full, 50 * UNIT), (open_, 50 * UNIT)]
    assert [(a.loan_id, a.amount) for a in capped.allocations] == [(open_, 50 * UNIT)]
    assert (capped.allocated, capped.unallocated) == (50 * UNIT, 50 * UNIT)
