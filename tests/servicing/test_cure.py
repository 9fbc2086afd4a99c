"""The right to cure (`backend/servicing/cure.py`): the platform's own default waits the cure period
after the borrower's first written warning of the late installment. A worker running all along gave
the `collections` warning 90 days before LoanBook allows the default, so it defaults at once; a pass
that first finds the loan defaultable (after an outage) gives the `default` notice, saying until when
it holds off, and defaults no earlier (before, it gave that notice and queued `markDefault` in the same
pass: the borrower's first word of it)."""

from __future__ import annotations

from sqlalchemy import select

from backend.chain import deploy_params
from backend.chain.outbox import process_until_idle
from backend.db.session import session_scope
from backend.servicing.models import ServicingNotice
from backend.servicing.notices import audit_entry_of
from backend.servicing.service import servicing_pass
from tests.servicing.conftest import index

DAY = 86_400


def _pass(settings):
    with session_scope(settings) as session:
        return servicing_pass(session, settings)


def _warnings(settings) -> list[tuple[str, int | None, str]]:
    with session_scope(settings) as session:
        rows = session.scalars(select(ServicingNotice).where(ServicingNotice.kind.in_(("collections", "default")),
                                                             ServicingNotice.recipient == ServicingNotice.borrower)
                               .order_by(ServicingNotice.id))  # fmt: skip
        return [(n.kind, n.chain_time, n.message) for n in rows]


def test_a_loan_first_seen_defaultable_is_warned_and_defaulted_only_after_the_cure_period(servicing_settings, world):
    settings, chain = servicing_settings.model_copy(update={"servicing_cure_days": 14}), world.chain
    loan_id, start = world.active_loan()
    index(settings)
    defaultable_at = start + 30 * DAY + deploy_params.DEFAULT_AFTER

    chain.mine_at(defaultable_at + DAY)  # the worker was down from before the first due date
    report = _pass(settings)
    assert report.buckets == {"defaultable": 1} and report.defaults_queued == 0
    ((kind, warned_at, message),) = _warnings(settings)
    assert kind == "default" and warned_at >= defaultable_at + DAY
    assert "The platform will not declare it before" in message and "pay what is past due by then" in message

    chain.mine_at(warned_at + 14 * DAY - 60)  # a minute short of the cure period
    assert _pass(settings).defaults_queued == 0
    chain.mine_at(warned_at + 14 * DAY + 1)
    assert _pass(settings).defaults_queued == 1
    process_until_idle(settings, timeout=30)
    assert world.loan(loan_id)["status"] == 4  # Defaulted
    with session_scope(settings) as session:  # its audit entry commits to the warning's chain time
        warning = session.scalar(select(ServicingNotice).where(ServicingNotice.kind == "default"))
        assert audit_entry_of(session, warning) is not None
        warning.chain_time -= 14 * DAY  # as if warned two weeks earlier: the row no longer matches its entry
        assert audit_entry_of(session, warning) is None
        session.rollback()


def test_a_loan_warned_at_31_days_is_defaulted_as_soon_as_loanbook_allows(servicing_settings, world):
    settings, chain = servicing_settings.model_copy(update={"servicing_cure_days": 14}), world.chain
    loan_id, start = world.active_loan()
    index(settings)
    first_due = start + 30 * DAY

    chain.mine_at(first_due + 40 * DAY)
    assert _pass(settings).buckets == {"late_31_120": 1}
    chain.mine_at(first_due + deploy_params.DEFAULT_AFTER + 1)
    report = _pass(settings)
    assert report.buckets == {"defaultable": 1} and report.defaults_queued == 1
    (collections, default) = _warnings(settings)
    assert collections[0] == "collections" and default[0] == "default"
    assert "will not declare it before" not in default[2]  # warned 80 days before: nothing more to wait for


def test_a_payment_within_the_cure_period_keeps_the_loan_out_of_default(servicing_settings, world):
    settings, chain = servicing_settings.model_copy(update={"servicing_cure_days": 14}), world.chain
    loan_id, start = world.active_loan()
    index(settings)
    chain.mine_at(start + 30 * DAY + deploy_params.DEFAULT_AFTER + DAY)
    assert _pass(settings).defaults_queued == 0
    ((_, warned_at, _),) = _warnings(settings)

    chain.mine_at(warned_at + 5 * DAY)
    world.repay(loan_id, world.book.functions.amountDue(loan_id).call()[0])  # what is past due, fees included
    index(settings)
    chain.mine_at(warned_at + 15 * DAY)
    report = _pass(settings)
    assert report.defaults_queued == 0 and "defaultable" not in report.buckets
