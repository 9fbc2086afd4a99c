"""The borrower hears of its loan's good turns too, once each: fully funded (take the money now, or
when it is paid out anyway) and paid out (what reached the wallet, the fee, the first installment)."""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy import select

from backend.chain.projection_models import LoanRow
from backend.db.session import session_scope
from backend.servicing.models import ServicingNotice
from backend.servicing.payout_notices import PAID_OUT_RECENT
from backend.servicing.service import servicing_pass
from tests.servicing.conftest import index

DAY = 86_400


def _pass(settings) -> int:
    with session_scope(settings) as session:
        return servicing_pass(session, settings).notices_created


def _told(settings) -> list[tuple[str, int, str]]:
    with session_scope(settings) as session:
        rows = session.scalars(select(ServicingNotice).order_by(ServicingNotice.id))
        return [(n.kind, n.amount, n.message) for n in rows]


def _day(ts: int) -> str:
    return datetime.fromtimestamp(ts, UTC).strftime("%Y-%m-%d")


def test_a_borrower_is_told_once_that_its_loan_is_funded_and_once_that_it_was_paid_out(servicing_settings, world):
    settings = servicing_settings
    loan_id, _ = world.create()
    world.fund(loan_id, world.investors[0], 100 * 10**6)
    index(settings)
    assert _pass(settings) == 0  # not fully funded yet: nothing to take
    world.fund(loan_id, world.investors[1], world.loan(loan_id)["principal"] - 100 * 10**6)
    index(settings)
    assert _pass(settings) == 1 and _pass(settings) == 0
    deadline = world.loan(loan_id)["fundingDeadline"]
    [(kind, amount, message)] = _told(settings)
    assert (kind, amount) == ("loan_funded", 12_000 * 10**6)
    assert message == (f"Loan {loan_id} is fully funded (12,000.00). Take the money now with Receive funds; otherwise "
                       f"the platform pays it out to you once its funding deadline, {_day(deadline)}, has passed (while "
                       "LoanBook is not paused and your verification holds). Nothing is owed until it is paid out.")  # fmt: skip

    before = world.balance(world.borrower)
    receipt = world.chain.tx(world.book.functions.disburse(loan_id), world.borrower.address)
    start = world.w3.eth.get_block(receipt["blockNumber"])["timestamp"]
    index(settings)
    assert _pass(settings) == 1 and _pass(settings) == 0
    loan = world.loan(loan_id)
    kind, amount, message = _told(settings)[1]
    with session_scope(settings) as session:
        row = session.get(LoanRow, loan_id)
        net, fee, installment = row.principal - row.origination_fee, row.origination_fee, row.installment_amount
    assert fee > 0 and net == world.balance(world.borrower) - before and (kind, amount) == ("paid_out", net)
    assert message.startswith(f"Loan {loan_id} was paid out on {_day(start)}: {net / 10**6:,.2f} reached your wallet "
                              f"(12,000.00 borrowed, less the origination fee of {fee / 10**6:,.2f}, which goes to the risk reserve)")
    assert message.endswith(f"Installment 1 of {loan['installments']}, {installment / 10**6:,.2f}, is due on "
                            f"{_day(start + loan['installmentPeriod'])}.")


def test_a_loan_paid_out_long_before_the_first_pass_is_not_announced(servicing_settings, world):
    """Loans paid out before the notice existed (an upgrade) are not told of weeks later."""
    settings = servicing_settings
    _, start = world.active_loan()
    world.chain.mine_at(start + PAID_OUT_RECENT + 1)
    index(settings)
    _pass(settings)
    assert [kind for kind, _, _ in _told(settings)] == []


def test_a_pass_appends_its_audit_entries_at_its_end_not_as_it_goes(servicing_settings, world, monkeypatch):
    """The log's head row is locked from the first append to the commit: a notice given early must not
    hold every audited API write behind the rest of the pass's chain reads."""
    from sqlalchemy import func

    from backend.audit.models import AuditEntry
    from backend.servicing import service

    settings = servicing_settings
    loan_id, _ = world.create()
    world.fund_equally(loan_id)
    index(settings)
    seen = []

    def later_step(db, *args):  # the pass's chain reads after the borrower's notice
        seen.append(db.scalar(select(func.count()).select_from(AuditEntry).where(AuditEntry.action.like("notice.%"))))
        return told(db, *args)

    told = service.tell_investors
    monkeypatch.setattr(service, "tell_investors", later_step)
    assert _pass(settings) == 1 and seen == [0]  # the loan_funded notice was given, its entry not appended yet
    with session_scope(settings) as session:
        assert session.scalar(select(AuditEntry.action).where(AuditEntry.subject == f"loan:{loan_id}")) == "notice.loan_funded"
