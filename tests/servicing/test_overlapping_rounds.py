"""Two servicing rounds at once (a worker whose lock connection dropped mid-round beside the standby
that took over; `loanchain servicing run` takes the worker's lock, so not it): each notice is given
once, each LoanBook call queued once under its one key, and audited once."""

from __future__ import annotations

from collections import Counter

from sqlalchemy import select

import backend.servicing.funding as funding
from backend.audit.models import AuditEntry
from backend.chain import deploy_params
from backend.chain.models import Intent
from backend.db.session import session_scope
from backend.servicing.models import ServicingNotice
from backend.servicing.service import servicing_pass
from backend.workers.registry import WORKERS
from tests.servicing.conftest import index
from tests.workers.overlap import Meeting, at_once

DAY = 86_400
UNIT = 10**6


def test_two_rounds_at_once_queue_each_call_and_give_each_notice_once(servicing_settings, world, monkeypatch):
    settings, chain = servicing_settings, world.chain
    short, _ = world.create()  # misses full funding: cancelled at its deadline
    world.fund(short, world.investors[0], 100 * UNIT)
    late, start = world.active_loan()  # never paid: defaultable in the end
    index(settings)
    assert chain.now() < world.loan(short)["fundingDeadline"]
    with session_scope(settings) as session:  # the late loan's state exists, as after the worker's earlier rounds
        assert servicing_pass(session, settings).cancels_queued == 0
    chain.mine_at(start + 30 * DAY + deploy_params.DEFAULT_AFTER + DAY)

    meeting = Meeting()  # both rounds have read the loans before either queues anything
    monkeypatch.setattr(funding, "funding_facts", meeting.around(funding.funding_facts))
    step = WORKERS["servicing"].step
    results = at_once(lambda: step(settings), lambda: step(settings))
    assert all(isinstance(r, int) for r in results), results
    if settings.database_url.startswith("postgresql"):
        assert meeting.met  # (on SQLite the first round's writes hold the second back: they do not meet)

    with session_scope(settings) as session:
        keys = Counter(session.scalars(select(Intent.key)))
        audited = Counter(session.scalars(select(AuditEntry.action).where(AuditEntry.actor == "servicing")))
        notices = Counter(session.execute(select(ServicingNotice.loan_id, ServicingNotice.kind, ServicingNotice.recipient)))
    assert keys == {f"cancel:{short}": 1, f"default:{late}": 1}
    assert (audited["loan.cancel"], audited["loan.default"]) == (1, 1)  # the second round's enqueue found the key
    assert set(notices.values()) == {1} and (short, "not_funded", world.borrower.address) in notices
    assert (late, "default", world.borrower.address) in notices
    notice_entries = sum(n for action, n in audited.items() if action.startswith("notice."))
    assert notice_entries == sum(notices.values())  # one audit entry a notice


def test_two_rounds_at_once_issue_a_release_letter_once(servicing_settings, world, monkeypatch):
    import backend.servicing.release as release
    from backend.anchoring.models import Document

    settings, book = servicing_settings, world.book
    paid, start = world.active_loan()
    world.chain.mine_at(start + 30 * DAY)
    world.repay(paid, book.functions.amountDue(paid).call()[0])
    world.repay(paid, book.functions.amountDue(paid).call()[1])  # paid off
    index(settings)

    meeting = Meeting()  # both rounds have built the letter before either stores it
    monkeypatch.setattr(release, "anchor_document", meeting.around(release.anchor_document))
    step = WORKERS["servicing"].step
    results = at_once(lambda: step(settings), lambda: step(settings))
    assert all(isinstance(r, int) for r in results), results
    if settings.database_url.startswith("postgresql"):
        assert meeting.met

    with session_scope(settings) as session:
        released = list(session.scalars(select(ServicingNotice.loan_id).where(ServicingNotice.kind == release.NOTICE)))
        documents = session.scalars(select(Document)).all()
        anchored = Counter(session.scalars(select(AuditEntry.subject).where(AuditEntry.action == "document.anchor")))
        told = Counter(session.scalars(select(AuditEntry.subject).where(AuditEntry.action == f"notice.{release.NOTICE}")))
    assert released == [paid] and len(documents) == 1
    assert set(anchored.values()) == {1} and told == {f"loan:{paid}": 1}
