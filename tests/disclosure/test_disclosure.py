"""Information disclosure on a chain of its own: a repaid, a defaulted, an active and a funding
loan, indexed; the figures equal what the contracts say."""

from __future__ import annotations

import csv
import io
import json

import pytest
from typer.testing import CliRunner

from backend.chain.indexer import Indexer
from backend.cli.main import app
from backend.db.session import session_scope
from backend.disclosure.bench import proven_decision
from backend.disclosure.service import platform_disclosure
from backend.scoring.artifact import load_artifact
from backend.scoring.grade_pd import priced_pd
from tests.chain.test_indexer import indexed, world_chain  # noqa: F401  (the indexer's chain and database)
from tests.identity.conftest import client_for


def _scenario(world) -> dict[str, int]:
    book, chain = world.book, world.chain
    repaid, started = world.active_loan()
    payoff = book.functions.amountDue(repaid).call()[1]
    world.repay(repaid, payoff, at=started)
    defaulted, _ = world.active_loan()
    threshold = book.functions.defaultableAt(defaulted).call()
    chain.tx(book.functions.markDefault(defaulted), world.outsider.address, at=threshold + 5)
    active, _ = world.active_loan()
    funding, _ = world.create()
    return {"repaid": repaid, "defaulted": defaulted, "active": active, "funding": funding}


def test_figures_match_the_contracts(indexed, monkeypatch):  # noqa: F811
    settings, world = indexed
    settings = settings.model_copy(update={"run_workers": False})  # a servicing pass would move the figures
    loans = _scenario(world)
    Indexer().catch_up(settings)
    with session_scope(settings) as session:
        report = platform_disclosure(session, settings)

    on_chain = {name: world.loan(loan_id) for name, loan_id in loans.items()}
    assert report.loans.model_dump() == {"funding": 1, "active": 1, "repaid": 1, "defaulted": 1, "cancelled": 0}
    disbursed = ("repaid", "defaulted", "active")
    assert report.principal_originated == sum(on_chain[n]["principal"] for n in disbursed)
    assert report.principal_outstanding == on_chain["active"]["principalOutstanding"]
    assert report.principal_repaid == on_chain["repaid"]["principal"]
    assert report.investors == len(world.investors)
    assert report.borrowers == 1 and report.concentration.largest_borrower_share == 1.0
    (unrated,) = report.by_grade  # these loans' decisions were not made here
    assert (unrated.grade, unrated.loans, unrated.principal_originated) == ("unrated", 3, report.principal_originated)

    default_events = world.book.events.LoanDefaulted().get_logs(from_block=0)
    (event,) = [e["args"] for e in default_events if e["args"]["loanId"] == loans["defaulted"]]
    d = report.defaults
    assert (d.count, d.principal_at_default, d.reserve_cover, d.recovered) == (
        1, event["principalOutstanding"], event["cover"], 0
    )  # fmt: skip
    assert d.net_loss == event["principalOutstanding"] - event["cover"] > 0
    assert unrated.principal_at_default == d.principal_at_default
    assert report.net_loss_rate == d.net_loss / report.principal_originated
    assert report.as_of_block is not None

    # Gross of the reserve's cover: what was lost at default, per year of principal outstanding.
    assert d.gross_charge_off == event["principalOutstanding"] > d.net_loss
    assert report.average_principal_outstanding > 0 and report.gross_charge_off_rate > report.net_loss_rate

    r = report.reserve  # asked of the ReserveFund, and its events add up to it: nothing moved outside them
    assert r.balance == r.balance_on_chain == world.reserve.functions.balance().call(block_identifier=report.as_of_block) == r.balance_from_events
    assert (r.balance_source, r.balance_difference, r.unexplained_outflows) == ("chain call", 0, [])
    assert r.cover_paid == event["cover"] > 0  # LoanBook's default explains the one CoverPaid
    assert r.origination_fees == sum(on_chain[n]["principal"] * on_chain[n]["originationFeeBps"] // 10_000 for n in disbursed)
    assert r.expected_loss is None  # these loans' decisions were not made here
    # Each figure says where it comes from: the chain, or records only the platform holds.
    assert report.sources["principal_originated"] == report.sources["net_loss_rate"] == "chain events"
    assert report.sources["reserve.balance"] == "chain call"
    assert report.sources["by_grade"].startswith("platform records bound to chain: credit_decisions")
    assert report.sources["delinquency"].startswith("platform records: servicing_states")
    assert report.sources["roll_rates"].startswith("platform records: servicing_notices")
    assert report.sources["reserve.expected_loss"].startswith("platform records: credit_decisions")

    with client_for(settings) as client:  # public: no sign-in
        served = client.get("/api/v1/disclosure")
    assert served.status_code == 200 and served.json() == report.model_dump(mode="json")

    from backend.config import get_settings
    from tests.anchoring.helpers import point_get_settings_at

    try:
        point_get_settings_at(monkeypatch, settings)
        result = CliRunner().invoke(app, ["disclosure", "--json"])
        text = CliRunner().invoke(app, ["disclosure"])
        aged = CliRunner().invoke(app, ["disclosure", "vintages", "--json"])
        aged_table = CliRunner().invoke(app, ["disclosure", "vintages"])
    finally:
        monkeypatch.undo()
        get_settings.cache_clear()
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout) == report.model_dump(mode="json")
    assert text.exit_code == 0 and "secondary market: 0 open offers (0 notes), 0 open bids (0 notes), 0 trades" in text.stdout
    assert json.loads(aged.stdout) == [v.model_dump(mode="json") for v in report.vintages] != []
    assert aged_table.exit_code == 0 and report.vintages[0].vintage in aged_table.stdout
    words = " ".join(text.stdout.split())  # the console wraps long lines
    # The default is a late installment settled, through every bucket, though no servicing pass saw
    # it late: (1 + prior x 20) / 21 in each bucket.
    assert "roll rates to default: grace 23.8%, late_16_30 52.4%, late_31_120 76.2%, defaultable 95.2% (from 1 settled" in words


def test_an_empty_index_discloses_zeros(tmp_path):
    from backend.db import migrate
    from tests.conftest import make_settings

    settings = make_settings(tmp_path)
    migrate.upgrade(settings)
    with session_scope(settings) as session:
        report = platform_disclosure(session)
    assert report.as_of_block is None and report.principal_originated == 0
    assert report.default_rate is None and report.net_loss_rate is None


def grade_pd(grade: str) -> float:
    """The PD of `grade` in the shipped model, which `proven_decision` decides with: what a loan of
    that grade is priced, and disclosed, at."""
    return priced_pd(load_artifact()["model_version"], grade)


def test_the_reserve_is_held_against_the_expected_loss_of_active_loans(tmp_path, monkeypatch):
    from backend.chain.models import ChainEvent
    from backend.chain.projection_models import LoanRow
    from backend.db import migrate
    from backend.scoring.models import CreditDecision
    from tests.conftest import make_settings

    settings = make_settings(tmp_path)
    migrate.upgrade(settings)
    with session_scope(settings) as session:  # the decisions' own PDs (0.1, 0.3) are never used: their grades' are
        for i, (grade, pd, outstanding) in enumerate((("B", 0.1, 1_000), ("E", 0.3, 2_000))):
            decision = CreditDecision(**proven_decision(f"d{i}", grade, pd))
            h = decision.decision_hash
            session.add(decision)
            session.add(LoanRow(loan_id=i + 1, status="active", borrower="0x" + "11" * 20, underwriter="0x" + "22" * 20,
                                terms_hash=h, agreement_hash=h, decision_hash=h, principal=outstanding, apr_bps=1000,
                                installments=12, installment_period=30, installment_amount=1, funding_deadline=0,
                                origination_fee_bps=0, principal_outstanding=outstanding, created_block=1,
                                block_number=1, tx_hash=h, log_index=0))  # fmt: skip
    with session_scope(settings) as session:
        reserve = platform_disclosure(session).reserve
    b, e = grade_pd("B"), grade_pd("E")
    assert 0 < b < 0.1 < e < 0.3
    expected = round((b * 1_000 + e * 2_000) * 0.85)
    assert reserve.expected_loss == expected  # PD x LGD x outstanding
    assert reserve.balance == 0 and reserve.coverage_of_expected_loss == 0.0
    assert reserve.coverage_ratio_bps is None and reserve.expected_cover_share is None  # the ratio is not indexed
    assert reserve.stress == []

    with session_scope(settings) as session:  # ReserveFund: pays 80% of a default's principal; 1,000 paid in
        for i, (event, args) in enumerate((("CoverageRatioSet", {"previousBps": 0, "newBps": 8000}),
                                           ("Deposited", {"from": "0x" + "33" * 20, "amount": "1000"}))):
            session.add(ChainEvent(block_number=2, block_hash="0x" + "44" * 32, tx_hash="0x" + "55" * 32, tx_index=0,
                                   log_index=i, contract="ReserveFund", address="0x" + "66" * 20, event=event, args=args))
    with session_scope(settings) as session:
        reserve = platform_disclosure(session).reserve
    # PD x each loan's claim: 80% of its principal outstanding, but no more than the whole balance
    # (ReserveFund.coverageFor pays min(ratio x principal, balance)): the 2,000 loan claims 1,000, not 1,600.
    claims, defaults = b * 800 + e * 1_000, b * 1_000 + e * 2_000
    assert reserve.expected_claims == round(claims)
    # The balance pays all of those expected claims, over the principal expected to default.
    assert claims < 1_000 and reserve.expected_cover_share == pytest.approx(claims / defaults)
    assert reserve.coverage_of_expected_loss == pytest.approx((b * 850 + e * 1_000) / expected)  # capped losses met
    assert (reserve.largest_claim, reserve.largest_claim_coverage) == (1_600, pytest.approx(1_000 / 1_600))
    # A bad year: defaults at 2x and 3x each PD (at most 1): claims grow; at 3x they outrun the balance.
    assert 3 * e < 1 and 3 * claims > 1_000
    assert [(s.pd_multiple, s.expected_claims) for s in reserve.stress] == [(2.0, round(2 * claims)),
                                                                            (3.0, round(3 * claims))]
    shares = [s.expected_cover_share for s in reserve.stress]
    assert shares == pytest.approx([claims / defaults, 1_000 / (3 * defaults)])
    from backend.config import get_settings
    from tests.anchoring.helpers import point_get_settings_at

    try:
        point_get_settings_at(monkeypatch, settings)
        text = CliRunner().invoke(app, ["disclosure"])
    finally:
        monkeypatch.undo()
        get_settings.cache_clear()
    words = " ".join(text.stdout.split())
    cover = reserve.expected_cover_share
    assert (f"reserve 1,000: pays {cover:.1%} of a default's principal as expected ({shares[0]:.1%} with 2x the "
            f"defaults, {shares[1]:.1%} with 3x") in words


def test_one_loan_large_against_the_reserve_is_promised_only_what_the_balance_pays(tmp_path):
    """The review's H1: one active 100,000 loan (grade A, PD 3.9%) against a reserve of 2,000 paying
    80%. Its default would get min(80,000, 2,000) from ReserveFund: 2% of its principal, not the ratio,
    and not 50% or 33% under stress; the reserve meets 2,000 of its 85,000 loss at most."""
    from backend.chain.models import ChainEvent
    from backend.chain.projection_models import LoanRow
    from backend.db import migrate
    from backend.disclosure.reserve import BookRisk
    from backend.scoring.models import CreditDecision
    from tests.conftest import make_settings

    settings = make_settings(tmp_path)
    migrate.upgrade(settings)
    with session_scope(settings) as session:
        decision = CreditDecision(**proven_decision("big", "A", 0.02))
        h = decision.decision_hash
        session.add(decision)
        session.add(LoanRow(loan_id=1, status="active", borrower="0x" + "11" * 20, underwriter="0x" + "22" * 20,
                            terms_hash=h, agreement_hash=h, decision_hash=h, principal=100_000, apr_bps=1000,
                            installments=12, installment_period=30, installment_amount=1, funding_deadline=0,
                            origination_fee_bps=0, principal_outstanding=100_000, created_block=1, block_number=1,
                            tx_hash=h, log_index=0))  # fmt: skip
        for i, (event, args) in enumerate((("CoverageRatioSet", {"previousBps": 0, "newBps": 8000}),
                                           ("Deposited", {"from": "0x" + "33" * 20, "amount": "2000"}))):
            session.add(ChainEvent(block_number=2, block_hash="0x" + "44" * 32, tx_hash="0x" + "55" * 32, tx_index=0,
                                   log_index=i, contract="ReserveFund", address="0x" + "66" * 20, event=event, args=args))
    with session_scope(settings) as session:
        reserve = platform_disclosure(session).reserve
    a = grade_pd("A")  # the grade's PD, not the decision's own 2%
    assert reserve.expected_loss == round(a * 85_000)
    assert reserve.expected_claims == round(a * 2_000)  # PD x min(80,000, 2,000)
    assert reserve.expected_cover_share == pytest.approx(0.02)  # was 0.8
    assert [s.expected_cover_share for s in reserve.stress] == pytest.approx([0.02, 0.02])  # was 0.5 and 0.333
    assert reserve.coverage_of_expected_loss == pytest.approx(a * 2_000 / round(a * 85_000))  # was 1.18 ("1.2x")
    assert (reserve.largest_claim, reserve.largest_claim_coverage) == (80_000, pytest.approx(0.025))
    # The disclosure and the pricing path (BookRisk.loss_on) now say the same of that loan's default.
    risk = BookRisk({}, {}, reserve.expected_cover_share, 0.8, reserve.balance)
    assert risk.loss == pytest.approx(risk.loss_on(100_000)) == pytest.approx(0.85 - 0.02)


def test_borrower_concentration_and_outcomes_by_grade(tmp_path):
    from backend.chain.projection_models import LoanRow
    from backend.db import migrate
    from backend.scoring.models import CreditDecision
    from tests.conftest import make_settings

    settings = make_settings(tmp_path)
    migrate.upgrade(settings)
    a, b, c = ("0x" + f"{n:02x}" * 20 for n in (10, 11, 12))
    # (borrower, status, principal, outstanding, grade)
    loans = [(a, "active", 3_000, 3_000, "A"), (a, "repaid", 1_000, 0, "A"), (b, "active", 1_000, 1_000, "B"),
             (c, "defaulted", 2_000, 500, "B"), (c, "funding", 9_000, 0, "C"), (c, "active", 1_000, 1_000, None),
             (a, "repaid", 500, 0, "edited")]  # fmt: skip
    with session_scope(settings) as session:
        for i, (borrower, status, principal, outstanding, grade) in enumerate(loans, start=1):
            h = "0x" + f"{i:064x}"
            if grade:
                decision = CreditDecision(**proven_decision(f"d{i}", "E" if grade == "edited" else grade, 0.1))
                if grade == "edited":  # an E loan's record edited to read A: its hash no longer recomputes
                    decision.grade = "A"
                h = decision.decision_hash
                session.add(decision)
            session.add(LoanRow(loan_id=i, status=status, borrower=borrower, underwriter=a, terms_hash=h,
                                agreement_hash=h, decision_hash=h, principal=principal, apr_bps=1000, installments=12,
                                installment_period=30, installment_amount=1, funding_deadline=0,
                                origination_fee_bps=0, principal_outstanding=outstanding, created_block=1,
                                block_number=1, tx_hash=h, log_index=0))  # fmt: skip
    with session_scope(settings) as session:
        report = platform_disclosure(session)
    assert report.borrowers == 3  # the funding loan's borrower has received a loan too
    assert report.concentration.largest_borrower_share == 3_000 / 5_000  # a's 3,000 of 5,000 outstanding
    assert report.concentration.top10_borrowers_share == 1.0
    assert [(g.grade, g.loans, g.principal_originated, g.principal_at_default, g.default_rate) for g in report.by_grade] == [
        ("A", 2, 4_000, 0, 0.0), ("B", 2, 3_000, 500, 500 / 3_000), ("unrated", 1, 1_000, 0, 0.0),
        ("unverified", 1, 500, 0, 0.0),
    ]  # fmt: skip
    from backend.disclosure.tape import loan_tape

    with session_scope(settings) as session:
        tape = {row.loan_id: row for row in loan_tape(session, aging={})}
    assert (tape[1].grade, tape[7].grade, tape[7].pd, tape[6].grade) == ("A", "unverified", None, None)
    assert (tape[1].pd, tape[3].pd) == (grade_pd("A"), grade_pd("B"))  # the grade's PD, not the decision's own 0.1


def test_the_loan_tape_has_a_row_per_disbursed_loan_and_no_borrower(indexed, monkeypatch, tmp_path):  # noqa: F811
    settings, world = indexed
    settings = settings.model_copy(update={"run_workers": False})
    loans = _scenario(world)
    Indexer().catch_up(settings)
    served = client_for(settings).get("/api/v1/disclosure/loans.csv")  # public
    assert served.status_code == 200 and served.headers["content-type"].startswith("text/csv")
    rows = {int(r["loan_id"]): r for r in csv.DictReader(io.StringIO(served.text))}
    assert set(rows) == {loans["repaid"], loans["defaulted"], loans["active"]}  # a funding loan carries no risk yet
    assert world.borrower.address.lower() not in served.text.lower()  # nothing identifies the borrower

    repaid, defaulted, active = rows[loans["repaid"]], rows[loans["defaulted"]], rows[loans["active"]]
    on_chain = world.loan(loans["repaid"])
    assert (repaid["status"], int(repaid["principal_paid"]), int(repaid["principal_outstanding"])) == (
        "repaid", on_chain["principal"], 0)  # fmt: skip
    (event,) = [e["args"] for e in world.book.events.LoanDefaulted().get_logs(from_block=0)
                if e["args"]["loanId"] == loans["defaulted"]]  # fmt: skip
    assert int(defaulted["principal_at_default"]) == event["principalOutstanding"]
    assert int(defaulted["net_loss"]) == event["principalOutstanding"] - event["cover"] == \
        int(defaulted["principal_at_default"]) - int(defaulted["reserve_cover"])
    assert int(active["principal_outstanding"]) == world.loan(loans["active"])["principalOutstanding"]
    assert active["terms_hash"].startswith("0x") and active["grade"] == ""  # decided elsewhere: no grade here

    out = tmp_path / "tape.csv"
    monkeypatch.setattr("backend.cli.disclosure.get_settings", lambda: settings)
    ran = CliRunner().invoke(app, ["disclosure", "tape", "--output", str(out)])
    assert ran.exit_code == 0, ran.output
    assert out.read_text() == served.text  # the same service, whichever door


def test_the_reserve_balance_is_the_contracts_and_only_a_loanbook_default_explains_cover(indexed):  # noqa: F811
    """Auditor finding #5: a plain transfer into the reserve and a payment out no default explains
    made the event sum wrong (negative) and the payment count as investor cover. LoanBook's code
    makes no such payment: a bug in it is played by calling from its address."""
    settings, world = indexed
    settings = settings.model_copy(update={"run_workers": False})
    loans = _scenario(world)  # one real default, with the reserve's cover
    reserve, token, admin, book = world.reserve, world.token, world.admin, world.book
    world.chain.tx(token.functions.transfer(reserve.address, 2_000_000), admin.address)  # no ReserveFund event
    drain = world.chain.tx_as_contract(reserve.functions.cover(424242, 1_500_000), book.address)
    again = world.chain.tx_as_contract(reserve.functions.cover(loans["defaulted"], 1_000_000), book.address)
    Indexer().catch_up(settings)
    with session_scope(settings) as session:
        report = platform_disclosure(session, settings)

    (default,) = [e["args"] for e in world.book.events.LoanDefaulted().get_logs(from_block=0)
                  if e["args"]["loanId"] == loans["defaulted"]]  # fmt: skip
    r = report.reserve
    assert r.cover_paid == default["cover"] == report.defaults.reserve_cover > 0  # only LoanBook's own cover
    assert [(o.loan_id, o.to, o.amount, o.tx_hash) for o in r.unexplained_outflows] == [
        (424242, book.address, 1_500_000, drain["transactionHash"].to_0x_hex()),
        (loans["defaulted"], book.address, 1_000_000, again["transactionHash"].to_0x_hex()),
    ]
    assert "LoanBook has no default of loan 424242" in r.unexplained_outflows[0].reason
    assert "not in the transaction that defaulted" in r.unexplained_outflows[1].reason
    assert r.unexplained_outflow_total == 2_500_000
    on_chain = reserve.functions.balance().call(block_identifier=report.as_of_block)
    assert r.balance == r.balance_on_chain == on_chain > 0
    assert r.balance_from_events == r.deposits + r.origination_fees + r.cover_recouped - r.cover_paid - 2_500_000
    assert r.balance_difference == on_chain - r.balance_from_events == 2_000_000  # the plain transfer


def test_a_published_report_fails_rather_than_guess_the_reserve_balance(tmp_path):
    """A live read without a node falls back to the events and says so; a report must read the chain."""
    from backend.chain.models import IndexerCheckpoint
    from backend.db import migrate
    from backend.errors import LoanchainError
    from tests.conftest import make_settings

    settings = make_settings(tmp_path)  # nothing deployed on this chain
    migrate.upgrade(settings)
    with session_scope(settings) as session:
        session.add(IndexerCheckpoint(name="main", block_number=1, block_hash="0x" + "11" * 32, deployment_hash="x"))
    with session_scope(settings) as session:
        live = platform_disclosure(session, settings)
        assert (live.reserve.balance_on_chain, live.reserve.balance_source) == (None, "chain events")
        assert live.sources["reserve.balance"] == "chain events"
        with pytest.raises(LoanchainError):
            platform_disclosure(session, settings, strict=True)


def _index_at(session, n: int, at: int) -> None:
    from backend.chain.models import IndexedBlock, IndexerCheckpoint

    session.add(IndexedBlock(number=n, hash="0x" + f"{n:064x}", parent_hash="0x" + f"{n - 1:064x}", timestamp=at))
    session.add(IndexerCheckpoint(name="main", block_number=n, block_hash="0x" + f"{n:064x}", deployment_hash="x"))


def _state(session, loan_id: int, dpd: int, bucket: str, due_now: int, as_of: int) -> None:
    from backend.servicing.models import ServicingState

    session.add(ServicingState(loan_id=loan_id, borrower="0x" + f"{loan_id:040x}", bucket=bucket, days_past_due=dpd,
                               installments_paid=2, due_now=due_now, payoff=due_now, next_due_date=as_of - dpd * 86_400,
                               defaultable_at=as_of - 5 * 86_400, as_of=as_of))  # fmt: skip


def test_live_delinquency_counts_active_loans_only_as_the_tape_does(tmp_path):
    """The review's L1: the last servicing pass saw loan 1 125 days late and loan 2 40 days late;
    LoanBook has since marked 1 defaulted and 2 was repaid. Only loan 3, still active and 20 days
    late, is delinquent: the default's principal is not counted again as 91+ days late."""
    from backend.db import migrate
    from backend.disclosure.tape import loan_tape
    from tests.conftest import make_settings
    from tests.disclosure.test_loss_rates import T0, _loan

    settings = make_settings(tmp_path)
    migrate.upgrade(settings)
    now = T0 + 400 * 86_400
    with session_scope(settings) as session:
        _loan(session, 1, "defaulted", 1_000, 800, T0, "B", cover=640, recoverable=900)
        _state(session, 1, 125, "defaultable", 300, now - 30)
        _loan(session, 2, "repaid", 1_000, 0, T0, "B", principal_paid=1_000)
        _state(session, 2, 40, "late_31_120", 200, now - 30)
        _loan(session, 3, "active", 1_000, 700, T0, "B")
        _state(session, 3, 20, "late_16_30", 90, now - 30)
        _index_at(session, 5, now)
    with session_scope(settings) as session:
        report, rows = platform_disclosure(session), loan_tape(session)
    d = report.delinquency
    assert (d.loans_16_plus, d.principal_16_plus, d.loans_91_plus, d.principal_91_plus, d.amount_overdue) == (1, 700, 0, 0, 90)
    assert report.defaults.principal_at_default == 800
    late = [(r.loan_id, r.principal_outstanding) for r in rows if r.days_past_due and r.days_past_due > 15]
    assert late == [(3, 700)]  # the tape reconciles with it


def test_each_source_names_what_the_figure_used_live_and_in_a_report():
    """The review's L5: a report's reserve risk figures and roll rates read lateness and cures from
    LoanBook at its block, not from servicing_states; the live roll rates do rest on servicing_states."""
    from backend.disclosure.sources import figure_sources

    report, live = figure_sources(lateness_from_chain=True, balance_read=True), figure_sources(
        lateness_from_chain=False, balance_read=True)  # fmt: skip
    for name in ("reserve.expected_loss", "reserve.coverage_of_expected_loss", "reserve.expected_claims",
                 "reserve.expected_cover_share", "reserve.stress", "roll_rates"):  # fmt: skip
        assert "servicing_states" not in report[name] and "chain call: LoanBook.amountDue at as_of_block" in report[name]
        assert "servicing_states" in live[name] and "chain call" not in live[name], name
        assert "servicing_notices" in report[name] and "servicing_notices" in live[name]
    assert report["delinquency"] == "chain call: LoanBook.amountDue at as_of_block"
    assert report["reserve.largest_claim"] == "chain events" and report["reserve.largest_claim_coverage"] == "chain call"


def test_investors_are_wallets_that_held_a_note(tmp_path):
    """The review's L6: two wallets funded loan 1, which was cancelled and refunded; a third funded
    loan 2, which was paid out, and one of the first two funded it too. Two investors, not three."""
    from backend.chain.models import ChainEvent
    from backend.chain.projection_models import FundingRow
    from backend.db import migrate
    from tests.conftest import make_settings
    from tests.disclosure.test_loss_rates import T0, _loan

    settings = make_settings(tmp_path)
    migrate.upgrade(settings)
    a, b, c = ("0x" + w * 20 for w in ("aa", "bb", "cc"))
    with session_scope(settings) as session:
        _loan(session, 1, "cancelled", 1_000, 0, None, "B")
        _loan(session, 2, "active", 1_000, 1_000, T0, "B")
        for i, (loan_id, wallet) in enumerate(((1, a), (1, b), (2, c), (2, b))):
            ev = ChainEvent(block_number=2, block_hash="0x" + "02" * 32, tx_hash="0x" + f"{100 + i:064x}", tx_index=i,
                            log_index=i, contract="LoanBook", address="0x" + "66" * 20, event="LoanFunded", args={},
                            block_timestamp=T0)  # fmt: skip
            session.add(ev)
            session.flush()
            session.add(FundingRow(event_id=ev.id, loan_id=loan_id, investor=wallet, kind="fund", amount=500,
                                   total_funded=500, block_number=2, tx_hash=ev.tx_hash, log_index=0))  # fmt: skip
        _index_at(session, 5, T0 + 86_400)
    with session_scope(settings) as session:
        report = platform_disclosure(session)
    assert (report.investors, report.borrowers) == (2, 1)


def test_loans_under_a_hardship_plan_kept_are_disclosed_beside_their_lateness(tmp_path):
    """Forbearance: a loan whose plan is on track is counted with its principal, and how many of them
    are 16+ days late on the loan's own schedule; a broken plan, a plan agreed after the figures'
    time (a monthly report's month end) and a plan of a loan no longer active are not."""
    from backend.chain.projection_models import LoanRow
    from backend.db import migrate
    from backend.servicing.models import HardshipPlan
    from backend.servicing.schemas import ServicingPublic
    from tests.conftest import make_settings
    from tests.servicing.loan_rows import NOW, index_active_loan

    day = 86_400
    settings = make_settings(tmp_path)
    migrate.upgrade(settings)
    kept, late_kept, broken, later, none = (index_active_loan(settings, "0x" + f"{i:02x}" * 20, loan_id=i) for i in range(1, 6))
    repaid = index_active_loan(settings, "0x" + "06" * 20, loan_id=6)

    def plan(loan_id: int, agreed: int) -> HardshipPlan:
        return HardshipPlan(loan_id=loan_id, installment_amount=10**7, period_days=30, periods=3, proposed_by="0x" + "aa" * 20,
                            proposed_at=agreed - day, decision="confirmed", decided_by="0x" + "bb" * 20, decided_at=agreed)  # fmt: skip

    with session_scope(settings) as session:
        session.add_all([plan(kept, NOW - 10 * day), plan(late_kept, NOW - 5 * day), plan(broken, NOW - 40 * day),
                         plan(later, NOW + day), plan(repaid, NOW - 10 * day)])  # fmt: skip
        session.get(LoanRow, repaid).status = "repaid"

    def lateness(days: int) -> ServicingPublic:
        return ServicingPublic(bucket="late_31_120" if days > 30 else "current", days_past_due=days, installments_paid=0,
                               due_now=0, payoff=0, next_due_date=NOW, defaultable_at=NOW, as_of=NOW)  # fmt: skip

    aging = {kept: lateness(0), late_kept: lateness(50), broken: lateness(60), later: lateness(20), none: lateness(0)}
    with session_scope(settings) as session:
        report = platform_disclosure(session, aging=aging, clock=NOW)
    held = report.forbearance
    assert (held.as_of, held.loans, held.principal, held.loans_16_plus) == (NOW, 2, 2 * 10**9, 1)
    assert held.share_of_outstanding == pytest.approx(2 / 5)
    assert report.sources["forbearance"].startswith("platform records: hardship_plans")
