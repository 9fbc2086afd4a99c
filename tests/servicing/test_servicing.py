"""Servicing against the contracts: a loan that goes unpaid moves through the aging buckets as the
chain's clock moves, the borrower gets each notice exactly once, and once LoanBook allows it the
default is declared through the outbox, with the reserve's cover reaching the investors, who are
told (once each) when a loan they hold is late, defaulted, cancelled or repaid."""

from __future__ import annotations

import json

from sqlalchemy import delete, func, select
from typer.testing import CliRunner

from backend.chain import deploy_params
from backend.chain.loan_terms import period_interest
from backend.chain.models import Intent
from backend.chain.outbox import process_until_idle
from backend.cli.main import app
from backend.config import get_settings
from backend.db.session import session_scope
from backend.disclosure.vintages import MONTH_ON_BOOK
from backend.servicing.models import ServicingNotice, ServicingState
from backend.servicing.service import servicing_pass, servicing_step
from tests.anchoring.helpers import point_get_settings_at
from tests.contracts.helpers import ACTIVE, CANCELLED, REPAID
from tests.identity.conftest import ADMIN, client_for, minted_bearer
from tests.servicing.conftest import index

DAY = 86_400


def _pass(settings):
    with session_scope(settings) as session:
        return servicing_pass(session, settings)


def _intent_keys(settings) -> list[tuple[str, str]]:
    with session_scope(settings) as session:
        return [(i.key, i.status) for i in session.scalars(select(Intent).order_by(Intent.id))]


def _notices(settings, to: str | None = None) -> list[tuple[int, str]]:
    """(installment, kind) of the notices given to `to`, by default to borrowers."""
    mine = ServicingNotice.recipient == to if to else ServicingNotice.recipient == ServicingNotice.borrower
    with session_scope(settings) as session:
        return [(n.installment, n.kind) for n in session.scalars(select(ServicingNotice).where(mine).order_by(ServicingNotice.id))]


def test_an_unpaid_loan_ages_bucket_by_bucket_and_is_defaulted_through_the_outbox(servicing_settings, world):
    settings, chain = servicing_settings, world.chain
    loan_id, start = world.active_loan()
    index(settings)
    first_due = start + 30 * DAY

    chain.mine_at(first_due - 2 * DAY)
    report = _pass(settings)
    assert report.loans == 1 and report.buckets == {"current": 1} and report.notices_created == 1
    assert _pass(settings).notices_created == 0  # the same reminder is never given twice
    assert _notices(settings) == [(1, "due_soon")]

    seen = []
    for offset, bucket in ((DAY, "grace"), (20 * DAY, "late_16_30"), (40 * DAY, "late_31_120")):
        chain.mine_at(first_due + offset)
        assert _pass(settings).buckets == {bucket: 1}
        seen.append(bucket)
    assert _notices(settings) == [(1, "due_soon"), (1, "overdue"), (1, "late"), (1, "collections")]
    flagged = client_for(settings).get("/api/v1/audit/alerts", params={"rule": "first_payment_default"},
                                       headers=minted_bearer(settings, ADMIN)).json()  # fmt: skip
    assert [(a["loan_id"], a["wallets"], a["timestamp"]) for a in flagged] == [(loan_id, [world.borrower.address], first_due)]
    assert "first installment" in flagged[0]["detail"]  # for a person to check the identity behind it
    for investor in world.investors:  # every note holder hears of it once, at 31+ days
        assert _notices(settings, investor.address) == [(1, "loan_late")]
    with session_scope(settings) as session:  # with how often loans this late have defaulted
        told = session.scalar(select(ServicingNotice.message).where(ServicingNotice.kind == "loan_late").limit(1))
    assert "about 75% have gone on to default" in told  # no episode resolved yet: the stated prior
    with session_scope(settings) as session:
        state = session.get(ServicingState, loan_id)
        assert state.days_past_due == 40 and state.due_now > 0 and state.defaultable_at == first_due + deploy_params.DEFAULT_AFTER

    admin = client_for(settings)
    staff = minted_bearer(settings, ADMIN)
    aging = admin.get("/api/v1/servicing/aging", headers=staff).json()
    late = {b["bucket"]: b for b in aging["buckets"]}["late_31_120"]
    assert late["loans"] == 1 and late["principal_outstanding"] == world.loan(loan_id)["principalOutstanding"]
    assert aging["delinquent_share"] == 1.0
    queue = admin.get("/api/v1/servicing/collections", headers=staff).json()
    assert [(i["loan_id"], i["bucket"], i["days_past_due"]) for i in queue] == [(loan_id, "late_31_120", 40)]
    assert admin.get(f"/api/v1/loans/{loan_id}").json()["servicing"]["bucket"] == "late_31_120"
    disclosed = admin.get("/api/v1/disclosure").json()["delinquency"]  # public
    assert (disclosed["loans_16_plus"], disclosed["loans_91_plus"]) == (1, 0)
    assert disclosed["principal_16_plus"] == late["principal_outstanding"] and disclosed["amount_overdue"] == late["due_now"]

    chain.mine_at(first_due + deploy_params.DEFAULT_AFTER + 1)
    report = _pass(settings)
    assert report.buckets == {"defaultable": 1} and report.defaults_queued == 1
    assert _pass(settings).defaults_queued == 0  # queued once, whatever the number of passes
    process_until_idle(settings)
    assert world.loan(loan_id)["status"] == 4  # Defaulted
    index(settings)
    assert _pass(settings).loans == 0  # no longer active: its position is dropped
    disclosed = admin.get("/api/v1/disclosure").json()
    rolled = disclosed["roll_rates"]  # the book's first late episode, resolved
    assert [(r["bucket"], r["episodes"], r["defaulted"]) for r in rolled] == [
        ("grace", 1, 1), ("late_16_30", 1, 1), ("late_31_120", 1, 1), ("defaultable", 1, 1)]
    (vintage,) = disclosed["vintages"]  # its month's loans: this one, defaulted in the month on book it fell in
    curve, month = vintage["cumulative_default_rate"], (first_due + deploy_params.DEFAULT_AFTER - start) // MONTH_ON_BOOK
    assert vintage["defaulted_loans"] == 1 and curve[month] == vintage["default_rate"] > 0 and curve[month - 1] == 0
    traced = admin.get(f"/api/v1/audit/trace/loan/{loan_id}", headers=staff).json()  # the record of notice
    assert [n["kind"] for n in traced["notices"]] == ["due_soon", "overdue", "late", "collections", "default", "defaulted"]
    (noticed,) = [c for c in traced["checks"] if c["name"] == "default_noticed"]
    assert noticed["ok"] and "installment 1" in noticed["detail"]
    queue = admin.get("/api/v1/servicing/collections", headers=staff).json()
    assert [(i["loan_id"], i["bucket"], i["default_status"]) for i in queue] == [(loan_id, "defaulted", "confirmed")]
    assert queue[0]["amount_owed"] == world.loan(loan_id)["recoverable"] > 0

    mine = admin.get("/api/v1/servicing/notices", headers=minted_bearer(settings, world.borrower)).json()
    assert [n["kind"] for n in mine] == ["defaulted", "default", "collections", "late", "overdue", "due_soon"]
    assert all(n["loan_id"] == loan_id for n in mine) and "declared in default" in mine[0]["message"]

    investor = world.investors[0]
    told = admin.get("/api/v1/servicing/notices", headers=minted_bearer(settings, investor)).json()
    assert [n["kind"] for n in told] == ["loan_defaulted", "loan_late"]
    newest = admin.get("/api/v1/servicing/notices", params={"limit": 1}, headers=minted_bearer(settings, investor)).json()
    assert [n["kind"] for n in newest] == ["loan_defaulted"]
    cover = world.book.functions.claimableOf(loan_id, investor.address).call()
    assert cover > 0 and abs(told[0]["amount"] - cover) <= 1  # the notice names what the reserve paid this holder
    assert "declared in default" in told[0]["message"] and "risk reserve paid you" in told[0]["message"]
    assert _pass(settings).investor_notices == 0  # told once
    with session_scope(settings) as session:  # had no notice been given, the trace says so
        session.execute(delete(ServicingNotice).where(ServicingNotice.kind == "default"))
    traced = admin.get(f"/api/v1/audit/trace/loan/{loan_id}", headers=staff).json()
    assert not traced["consistent"] and [c["ok"] for c in traced["checks"] if c["name"] == "default_noticed"] == [False]


def test_paying_what_is_due_brings_the_loan_back_to_current(servicing_settings, world):
    settings, chain = servicing_settings, world.chain
    loan_id, start = world.active_loan()
    index(settings)
    chain.mine_at(start + 30 * DAY + 20 * DAY)
    assert _pass(settings).buckets == {"late_16_30": 1}
    holder = minted_bearer(settings, world.investors[0])  # its investors see how late it is in their portfolio
    (position,) = client_for(settings).get("/api/v1/portfolio", headers=holder).json()["positions"]
    assert (position["bucket"], position["days_past_due"]) == ("late_16_30", 20)
    due_now = world.book.functions.amountDue(loan_id).call()[0]
    world.repay(loan_id, due_now)
    index(settings)
    report = _pass(settings)
    assert report.buckets == {"current": 1} and report.defaults_queued == 0
    with session_scope(settings) as session:
        # dueNow was installment 1 and its late fee: installment 2, billed since its period began on
        # day 30, is not due before day 60
        assert session.get(ServicingState, loan_id).installments_paid == 1


def test_late_fees_left_after_the_last_installment_keep_the_loan_open_and_are_asked_for_as_fees(servicing_settings, world):
    """LoanBook pays the installments before the fees, so an installment paid late with its own
    amount leaves the fee owed; after the last one the loan stays active for it, and the reminder
    says so rather than naming an installment that does not exist."""
    settings, chain, book = servicing_settings, world.chain, world.book
    loan_id, start = world.active_loan(installments=1)
    loan = world.loan(loan_id)
    installment = loan["principal"] + period_interest(loan["principal"], loan["aprBps"], 30 * DAY)
    world.repay(loan_id, installment, at=start + 50 * DAY)  # 20 days late: a fee, left unpaid
    fee = world.loan(loan_id)["feesDue"]
    assert fee > 0 and world.loan(loan_id)["status"] == ACTIVE and world.loan(loan_id)["principalOutstanding"] == 0
    index(settings)
    chain.mine_at(start + 58 * DAY)  # the fees' reminder comes before the date the loan could next go late
    assert tuple(book.functions.amountDue(loan_id).call()) == (fee, fee, start + 60 * DAY)
    assert _pass(settings).notices_created == 1
    with session_scope(settings) as session:
        (notice,) = session.scalars(select(ServicingNotice).where(ServicingNotice.loan_id == loan_id))
        assert "every installment is paid" in notice.message and "late fees is still owed" in notice.message
    world.repay(loan_id, fee)
    assert world.loan(loan_id)["status"] == REPAID


def test_without_auto_default_nothing_is_queued_and_the_worker_step_reports_its_work(servicing_settings, world):
    settings = servicing_settings.model_copy(update={"servicing_auto_default": False})
    loan_id, start = world.active_loan()
    index(settings)
    world.chain.mine_at(start + 30 * DAY + deploy_params.DEFAULT_AFTER + 1)
    # the borrower's default notice and each holder's loan_late, and no markDefault
    assert servicing_step(settings) == 1 + len(world.investors)
    assert servicing_step(settings) == 0
    with session_scope(settings) as session:
        assert session.scalar(select(func.count()).select_from(ServicingNotice)) == 1 + len(world.investors)
    process_until_idle(settings)
    assert world.loan(loan_id)["status"] == 2  # still Active: declaring default is left to staff


def test_no_active_loans_means_no_chain_calls(servicing_settings):
    settings = servicing_settings.model_copy(update={"rpc_url": "http://127.0.0.1:9"})  # nothing listens there
    report = _pass(settings)
    assert report.loans == 0 and report.buckets == {}


def test_a_loan_that_misses_its_funding_deadline_is_cancelled_and_its_investor_refunded(servicing_settings, world):
    from backend.identity.kyc.submission import submit
    from backend.identity.schemas import KycCreate
    from tests.identity.conftest import make_applicant
    from tests.lending.test_wallet_txs import _send

    settings, chain, unit = servicing_settings, world.chain, 10**6
    loan_id, _ = world.create()
    investor = world.investors[0]
    world.fund(loan_id, investor, 100 * unit)
    index(settings)
    with session_scope(settings) as session:  # KYC level 1: the investor role, for the portfolio
        submit(session, settings, investor.address, KycCreate(**make_applicant(910).form()), [])
    client, headers = client_for(settings), minted_bearer(settings, investor)

    def refund():
        return client.post(f"/api/v1/loans/{loan_id}/transactions", json={"action": "refund"}, headers=headers)

    assert _pass(settings).cancels_queued == 0  # still open for funding
    assert refund().status_code == 409
    assert client.get("/api/v1/portfolio", headers=headers).json()["exposure"] == 100 * unit

    chain.mine_at(world.loan(loan_id)["fundingDeadline"] + 1)
    portfolio = client.get("/api/v1/portfolio", headers=headers).json()
    assert (portfolio["refundable"], portfolio["exposure"], portfolio["loans_at_risk"]) == (100 * unit, 0, 0)
    assert f"loans {loan_id} did not fund in time" in portfolio["warnings"][0]
    report = _pass(settings)
    assert report.cancels_queued == 1 and report.notices_created == 1
    assert _pass(settings).cancels_queued == 0  # queued once
    assert _notices(settings) == [(0, "not_funded")]
    process_until_idle(settings, timeout=30)
    assert world.loan(loan_id)["status"] == CANCELLED
    index(settings)
    notices = client.get("/api/v1/servicing/notices", headers=minted_bearer(settings, world.borrower)).json()
    assert "did not reach full funding" in notices[0]["message"] and "100.00 of 12,000.00" in notices[0]["message"]
    assert _pass(settings).investor_notices == 1  # the investor is told the money is theirs to take back
    told = client.get("/api/v1/servicing/notices", headers=headers).json()
    assert [(n["kind"], n["amount"]) for n in told] == [("refund_due", 100 * unit)]
    assert "is cancelled" in told[0]["message"] and "Your 100.00" in told[0]["message"]

    planned = refund().json()
    assert planned["amount"] == 100 * unit and len(planned["transactions"]) == 1  # no approve: money comes back
    before = world.balance(investor)
    _send(world.w3, investor, planned["transactions"])
    assert world.balance(investor) == before + 100 * unit
    index(settings)
    assert refund().status_code == 409  # nothing left to take back
    assert client.get("/api/v1/portfolio", headers=headers).json()["refundable"] == 0
    assert _pass(settings).investor_notices == 0


def test_an_investor_who_takes_the_refund_first_is_not_told_and_a_repaid_loan_is_announced_once(servicing_settings, world):
    settings, chain = servicing_settings, world.chain
    unfunded, _ = world.create()
    early, late = world.investors[:2]
    world.fund(unfunded, early, 10**8)
    world.fund(unfunded, late, 10**8)
    chain.mine_at(world.loan(unfunded)["fundingDeadline"] + 1)
    chain.tx(world.book.functions.cancel(unfunded), world.admin.address)
    chain.tx(world.book.functions.refund(unfunded), early.address)
    index(settings)
    assert _pass(settings).investor_notices == 1
    assert (_notices(settings, early.address), _notices(settings, late.address)) == ([], [(0, "refund_due")])

    loan_id, start = world.active_loan()
    payoff = world.book.functions.amountDue(loan_id).call()[1]
    # In the disbursal's second: one second later the first installment is billed and the payoff grows.
    world.repay(loan_id, payoff, at=start)
    assert world.loan(loan_id)["status"] == REPAID  # read at `latest`: the index sees that block too
    index(settings)
    report = _pass(settings)
    assert (report.loans, report.investor_notices) == (0, len(world.investors))
    assert all(_notices(settings, i.address)[-1] == (0, "loan_repaid") for i in world.investors)
    assert _pass(settings).investor_notices == 0


def test_a_fully_funded_loan_left_unpaid_out_is_disbursed_at_its_deadline(servicing_settings, world):
    settings, chain = servicing_settings, world.chain
    loan_id, _ = world.create()
    world.fund_equally(loan_id)
    index(settings)
    assert _pass(settings).disbursals_queued == 0  # the borrower may still take it any time
    chain.mine_at(world.loan(loan_id)["fundingDeadline"] + 1)
    report = _pass(settings)
    assert (report.disbursals_queued, report.cancels_queued, report.notices_created) == (1, 0, 0)
    assert _pass(settings).disbursals_queued == 0  # queued once
    before = world.balance(world.borrower)
    process_until_idle(settings, timeout=30)
    loan = world.loan(loan_id)
    assert loan["status"] == 2 and world.balance(world.borrower) - before == loan["principal"] * 99 // 100  # Active, 1% fee


def test_a_fully_funded_loan_that_cannot_be_paid_out_is_cancelled_after_the_disbursement_window(servicing_settings, world):
    """Its borrower's attestation revoked after funding: LoanBook would refuse the payout, so none is
    sent, and a week past the deadline the platform cancels it so its investors can take their money back."""
    settings, chain = servicing_settings, world.chain
    loan_id, _ = world.create()
    world.fund_equally(loan_id)
    chain.tx(world.kyc.functions.revoke(world.borrower.address), world.admin.address)
    deadline = world.loan(loan_id)["fundingDeadline"]
    index(settings)
    chain.mine_at(deadline + 1)
    assert _pass(settings).disbursals_queued == 0  # LoanBookBorrowerNotVerified, were it sent
    assert _intent_keys(settings) == []
    chain.mine_at(deadline + 7 * DAY)
    assert _pass(settings).cancels_queued == 0  # the disbursement window is still open
    chain.mine_at(deadline + 7 * DAY + 1)
    report = _pass(settings)
    assert (report.cancels_queued, report.disbursals_queued, report.notices_created) == (1, 0, 1)
    assert _notices(settings) == [(0, "not_disbursed")]
    process_until_idle(settings, timeout=30)
    assert world.loan(loan_id)["status"] == CANCELLED
    index(settings)
    _pass(settings)  # the holders are told why, and to take their money back
    investor = world.investors[0].address
    assert _notices(settings, to=investor) == [(0, "refund_due")]
    with session_scope(settings) as session:
        told = session.scalar(select(ServicingNotice.message).where(ServicingNotice.recipient == investor))
    assert "was fully funded but not paid out within the disbursement window" in told


def test_a_loans_position_now_is_read_from_loanbook_without_waiting_for_a_pass(servicing_settings, world, monkeypatch):
    settings, chain = servicing_settings, world.chain
    loan_id, start = world.active_loan()
    funding, _ = world.create()
    index(settings)
    client = client_for(settings)  # public, like the loan itself

    def position():
        return client.get(f"/api/v1/loans/{loan_id}/position").json()

    period = world.loan(loan_id)["installmentPeriod"]
    fresh = position()
    assert (fresh["bucket"], fresh["installments_paid"]) == ("current", 0)
    # The first installment is billed from the payout's next second: due now is 0 or that installment,
    # by whether the chain's clock has moved since; either way what LoanBook says at the same block.
    assert fresh["due_now"] == world.book.functions.amountDue(loan_id).call()[0]
    assert fresh["due_now"] in (0, world.loan(loan_id)["installmentAmount"])
    assert fresh["next_due_date"] == start + period
    chain.mine_at(start + period + 20 * DAY)
    late = position()
    assert (late["bucket"], late["days_past_due"]) == ("late_16_30", 20)
    assert late["due_now"] == world.book.functions.amountDue(loan_id).call()[0] > 0
    _pass(settings)
    world.repay(loan_id, late["due_now"])  # no pass since: the position still shows it at once
    paid = position()  # installment 2 is billed (its period began on day 30), so due now, before its due date
    assert (paid["bucket"], paid["due_now"], paid["installments_paid"]) == ("current", world.loan(loan_id)["installmentAmount"], 1)
    with session_scope(settings) as session:
        assert session.get(ServicingState, loan_id).bucket == "late_16_30"  # what the last pass saw
    assert client.get(f"/api/v1/loans/{funding}/position").status_code == 409  # nothing is due while funding
    assert client.get("/api/v1/loans/999/position").status_code == 404
    runner = CliRunner()  # the CLI reads the same service
    try:
        point_get_settings_at(monkeypatch, settings)
        cli, table, refused = (runner.invoke(app, ["loan", "position", *args])
                               for args in ([str(loan_id), "--json"], [str(loan_id)], [str(funding)]))  # fmt: skip
    finally:
        monkeypatch.undo()
        get_settings.cache_clear()
    same = ("bucket", "installments_paid", "due_now", "payoff", "next_due_date")  # `as_of` is the clock of each read
    assert {k: json.loads(cli.stdout)[k] for k in same} == {k: position()[k] for k in same}
    assert table.exit_code == 0 and f"loan {loan_id} current" in table.stdout
    assert refused.exit_code != 0 and "only an active loan" in refused.output


def test_a_loan_funded_in_its_last_blocks_is_paid_out_and_never_told_it_was_cancelled(servicing_settings, world):
    """The index trails the head by `confirmations` blocks: the last ticket before the deadline is
    not in it when the first pass after the deadline runs; the pass reads the chain instead."""
    settings, chain = servicing_settings.model_copy(update={"confirmations": 3}), world.chain
    loan_id, _ = world.create()
    principal = world.loan(loan_id)["principal"]
    world.fund(loan_id, world.investors[0], principal - 100 * 10**6)
    deadline = world.loan(loan_id)["fundingDeadline"]
    for _ in range(3):
        chain.mine_at(chain.now() + 1)
    index(settings)
    world.fund(loan_id, world.investors[1], 100 * 10**6, at=deadline - 30)  # the last ticket
    chain.mine_at(deadline + 1)
    index(settings)  # up to head - 3: without the last ticket
    report = _pass(settings)
    assert (report.cancels_queued, report.disbursals_queued, report.notices_created) == (0, 1, 0)
    process_until_idle(servicing_settings, timeout=30)  # confirmed at once (no 3 blocks to wait for)
    assert world.loan(loan_id)["status"] == 2 and _notices(settings) == []  # Active; nobody was told otherwise


def test_a_pass_on_a_clock_ahead_of_the_last_block_waits_for_the_block_then_defaults(servicing_settings, world, monkeypatch):
    """A live chain's wall clock runs up to a block ahead of the last block, which markDefault's
    estimate is judged by: nothing is queued (and lost) before the block is past the threshold."""
    import backend.chain.loan_book as loan_book

    settings, chain = servicing_settings, world.chain
    loan_id, _ = world.active_loan()
    index(settings)
    at = world.book.functions.defaultableAt(loan_id).call()
    chain.mine_at(at - 3)
    monkeypatch.setattr(loan_book.time, "time", lambda: at + 5)
    report = _pass(settings)
    assert report.buckets == {"defaultable": 1} and report.defaults_queued == 0 and _intent_keys(settings) == []
    monkeypatch.undo()
    chain.mine_at(at + 1)
    assert _pass(settings).defaults_queued == 1
    process_until_idle(settings, timeout=30)
    assert world.loan(loan_id)["status"] == 4  # Defaulted


def test_a_default_refused_when_sent_is_tried_again_by_a_later_pass(servicing_settings, world, monkeypatch):
    import backend.servicing.service as service

    settings, chain = servicing_settings, world.chain
    loan_id, _ = world.active_loan()
    index(settings)
    at = world.book.functions.defaultableAt(loan_id).call()
    chain.mine_at(at - 3)
    monkeypatch.setattr(service, "chain_time", lambda _settings: at + 5)  # as if a block went by, then was not
    monkeypatch.setattr(service, "deadline_clock", lambda _settings: at + 5)
    assert _pass(settings).defaults_queued == 1
    process_until_idle(settings, timeout=30)
    assert _intent_keys(settings) == [(f"default:{loan_id}", "failed")]  # LoanBookNotDefaultable at the estimate
    monkeypatch.undo()
    chain.mine_at(at + DAY)
    assert _pass(settings).defaults_queued == 1
    process_until_idle(settings, timeout=30)
    assert _intent_keys(settings) == [(f"default:{loan_id}", "failed"), (f"default:{loan_id}:2", "confirmed")]
    assert world.loan(loan_id)["status"] == 4
    assert _pass(settings).defaults_queued == 0  # done: never again


def test_a_payout_waits_out_a_pause_at_the_deadline(servicing_settings, world):
    settings, chain = servicing_settings, world.chain
    loan_id, _ = world.create()
    world.fund_equally(loan_id)
    deadline = world.loan(loan_id)["fundingDeadline"]
    index(settings)
    chain.tx(world.book.functions.pause(), world.admin.address)
    chain.mine_at(deadline + 1)
    assert _pass(settings).disbursals_queued == 0 and _intent_keys(settings) == []  # EnforcedPause, were it sent
    chain.tx(world.book.functions.unpause(), world.admin.address)
    chain.mine_at(deadline + 3600)
    assert _pass(settings).disbursals_queued == 1
    process_until_idle(settings, timeout=30)
    assert world.loan(loan_id)["status"] == 2 and _notices(settings) == [(0, "loan_funded")]  # told at funding, not again


def test_the_default_notice_states_the_whole_balance_and_the_borrower_is_told_once_defaulted(servicing_settings, world):
    """Review-servicing M1: the `default` notice quoted only the past-due part, and nothing told the
    borrower once the loan was declared in default. It now quotes LoanBook's payoff (what a default
    makes owed), and a `defaulted` notice, in writing, gives what is still recoverable."""
    settings, book, chain = servicing_settings, world.book, world.chain
    loan_id, _ = world.active_loan()
    threshold = book.functions.defaultableAt(loan_id).call()
    chain.mine_at(threshold + 60)
    index(settings)
    _pass(settings)
    payoff = book.functions.amountDue(loan_id).call()[1]
    with session_scope(settings) as session:
        warned = session.scalar(select(ServicingNotice).where(ServicingNotice.kind == "default"))
        amount, message = int(warned.amount), warned.message
    assert amount == payoff and f"{payoff / 10**6:,.2f} today" in message and "whole balance" in message
    chain.tx(book.functions.markDefault(loan_id), world.admin.address)
    owed = book.functions.amountDue(loan_id).call()[0]
    assert owed == payoff  # what the notice said: the debt at default
    index(settings)
    _pass(settings)
    _pass(settings)  # once
    assert _notices(settings, world.borrower.address)[-1] == (0, "defaulted")
    with session_scope(settings) as session:
        (told,) = session.scalars(select(ServicingNotice).where(ServicingNotice.kind == "defaulted"))
        assert int(told.amount) == owed and f"{owed / 10**6:,.2f}" in told.message
    from backend.servicing.preferences import IN_WRITING

    assert "defaulted" in IN_WRITING


def test_notices_give_deadlines_to_the_minute_in_utc_and_the_late_fee_cutoff(servicing_settings, world):
    """Review-servicing L3 and M5: dates were bare UTC days, the grace cutoff unstated, and investors
    were promised a default date a promise to pay can move."""
    from datetime import UTC, datetime

    settings, chain = servicing_settings, world.chain
    loan_id, start = world.active_loan()
    first_due = start + 30 * DAY
    index(settings)
    chain.mine_at(first_due + DAY)
    _pass(settings)
    cutoff = datetime.fromtimestamp(first_due + deploy_params.GRACE_PERIOD, UTC).strftime("%Y-%m-%d %H:%M UTC")
    due = datetime.fromtimestamp(first_due, UTC).strftime("%Y-%m-%d %H:%M UTC")
    with session_scope(settings) as session:
        overdue = session.scalar(select(ServicingNotice.message).where(ServicingNotice.kind == "overdue"))
    assert f"was due on {due}" in overdue and f"Pay by {cutoff}" in overdue
    chain.mine_at(first_due + 40 * DAY)
    _pass(settings)
    with session_scope(settings) as session:
        told = session.scalar(select(ServicingNotice.message).where(ServicingNotice.kind == "loan_late").limit(1))
    assert ("UTC (by anyone, on-chain; the platform does unless a promise to pay holds it, up to 60 days more, or a "
            "hardship plan is kept, up to 180)") in told
    assert len(told) <= 500


def test_a_late_notice_waits_for_the_block_that_charges_the_fee(servicing_settings, world, monkeypatch):
    """Review-servicing L1: with the wall clock past the grace period and the last block not yet, the
    `late` notice said a fee was added and quoted the amount without it. A notice is now given only
    when the last block is in its bucket too, so its amounts include what the bucket says."""
    import backend.chain.loan_book as loan_book

    settings, book, chain = servicing_settings, world.book, world.chain
    loan_id, start = world.active_loan()
    cutoff = start + 30 * DAY + deploy_params.GRACE_PERIOD
    chain.mine_at(cutoff - 5)  # the last block: 5 s before the fee
    index(settings)
    monkeypatch.setattr(loan_book.time, "time", lambda: cutoff + 7)  # the wall clock, 7 s past it
    assert _pass(settings).buckets == {"late_16_30": 1}
    monkeypatch.undo()
    assert "late" not in [kind for _, kind in _notices(settings)]
    chain.mine_at(cutoff + 8)
    _pass(settings)
    with session_scope(settings) as session:
        late = session.scalar(select(ServicingNotice).where(ServicingNotice.kind == "late"))
        assert int(late.amount) == book.functions.amountDue(loan_id).call()[0]  # the fee included


def test_a_loan_owing_only_late_fee_dust_is_not_defaulted_automatically(servicing_settings, world):
    """Review-servicing M4: a loan whose installments were all paid was defaulted automatically over
    one base unit of late fee. LoanBook still allows it; the platform does not, below one token."""
    settings, book, chain = servicing_settings, world.book, world.chain
    loan_id, start = world.active_loan(installments=1, principal=1_000 * 10**6)
    chain.mine_at(start + 30 * DAY + 20 * DAY)  # a late fee charged
    world.repay(loan_id, book.functions.amountDue(loan_id).call()[0] - 1)  # all but one base unit
    assert world.loan(loan_id)["feesDue"] == 1 and world.loan(loan_id)["principalOutstanding"] == 0
    threshold = book.functions.defaultableAt(loan_id).call()
    chain.mine_at(threshold + 60)
    index(settings)
    assert _pass(settings).defaults_queued == 0
    assert _intent_keys(settings) == []
    queue = client_for(settings).get("/api/v1/servicing/collections", headers=minted_bearer(settings, ADMIN)).json()
    assert [(i["loan_id"], i["bucket"]) for i in queue] == [(loan_id, "defaultable")]  # left to staff
