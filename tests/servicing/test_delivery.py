"""Notices e-mailed over SMTP to a real (in-process aiosmtpd) server: once each, to the address in
the recipient's (borrower's or investor's) KYC record, retried while the server is down, never to
anyone without one."""

from __future__ import annotations

import dataclasses
import threading
import time
from email import message_from_bytes

import pytest
from aiosmtpd.controller import Controller
from sqlalchemy import select

from backend.audit.hashing import payload_hash
from backend.audit.models import AuditEntry
from backend.db.session import session_scope
from backend.identity.kyc.submission import submit
from backend.identity.schemas import KycCreate
from backend.servicing import channels
from backend.servicing.channels import (
    BACKOFF_FIRST,
    DELIVERED,
    LEASE,
    Channel,
    DeliveryFailed,
    backoff,
    deliver,
    delivery_payload,
)
from backend.servicing.delivery import MAX_ATTEMPTS
from backend.servicing.models import ServicingNotice
from backend.servicing.preferences import IN_WRITING
from backend.servicing.service import servicing_pass, servicing_step
from tests.conftest import free_port
from tests.identity.conftest import PNG, client_for, make_applicant, minted_bearer
from tests.servicing.conftest import index

DAY = 86_400


class Inbox:
    def __init__(self) -> None:
        self.messages: list = []

    async def handle_DATA(self, server, session, envelope):  # noqa: N802 - aiosmtpd's hook name
        self.messages.append((envelope.rcpt_tos, message_from_bytes(envelope.content)))
        return "250 OK"


@pytest.fixture
def smtp():
    inbox, port = Inbox(), free_port()
    controllers = [Controller(inbox, hostname="127.0.0.1", port=port)]
    controllers[0].start()

    def restart() -> None:
        controllers.append(Controller(inbox, hostname="127.0.0.1", port=port))
        controllers[-1].start()

    yield inbox, port, controllers, restart
    for controller in controllers:
        try:
            controller.stop()
        except (AssertionError, RuntimeError):  # already stopped
            pass


def _notices(settings) -> list[tuple[str, bool, int]]:
    with session_scope(settings) as session:
        return [(n.kind, n.emailed_at is not None, n.email_attempts)
                for n in session.scalars(select(ServicingNotice).order_by(ServicingNotice.id))]  # fmt: skip


def later(monkeypatch, seconds: int) -> None:
    """Moves delivery's wall clock `seconds` ahead (retries wait out a backoff on it)."""
    now = channels.wall_clock()
    monkeypatch.setattr(channels, "wall_clock", lambda: now + seconds)


def test_notices_are_emailed_once_retried_while_smtp_is_down_and_never_without_an_address(servicing_settings, world, smtp,
                                                                                          monkeypatch):  # fmt: skip
    inbox, port, controllers, restart = smtp
    settings = servicing_settings.model_copy(update=dict(smtp_host="127.0.0.1", smtp_port=port, smtp_starttls=False))
    loan_id, start = world.active_loan()
    index(settings)
    first_due = start + 30 * DAY

    world.chain.mine_at(first_due - 2 * DAY)
    assert servicing_step(settings) == 1  # the reminder is recorded, but there is nobody to write to yet
    assert _notices(settings) == [("due_soon", False, MAX_ATTEMPTS)] and inbox.messages == []

    applicant = make_applicant(950)
    with session_scope(settings) as session:
        submit(session, settings, world.borrower.address, KycCreate(**applicant.form()), [PNG])
    world.chain.mine_at(first_due + DAY)
    assert servicing_step(settings) == 2  # the overdue notice, and its e-mail
    assert servicing_step(settings) == 0  # nothing is sent twice
    (rcpt, mail), = inbox.messages
    assert rcpt == [applicant.email] and "overdue" in mail["Subject"] and f"Loan {loan_id}" in mail.get_payload()
    with session_scope(settings) as session:
        overdue = session.scalar(select(ServicingNotice.id).where(ServicingNotice.kind == "overdue"))
    assert mail["Message-ID"] == f"<notice-{overdue}@loanchain>"

    controllers[-1].stop()  # the mail server goes down
    world.chain.mine_at(first_due + 20 * DAY)
    assert servicing_step(settings) == 1  # the late notice is recorded; its e-mail waits
    assert _notices(settings)[-1] == ("late", False, 1)
    assert servicing_step(settings) == 0 and _notices(settings)[-1] == ("late", False, 1)  # not before its backoff
    later(monkeypatch, BACKOFF_FIRST)
    assert servicing_step(settings) == 0 and _notices(settings)[-1] == ("late", False, 2)
    restart()
    later(monkeypatch, BACKOFF_FIRST + 2 * BACKOFF_FIRST)
    assert servicing_step(settings) == 1
    assert [m["Subject"] for _, m in inbox.messages][-1].startswith("loanchain: Late fee") and len(inbox.messages) == 2
    assert _notices(settings) == [("due_soon", False, MAX_ATTEMPTS), ("overdue", True, 0), ("late", True, 2)]
    with session_scope(settings) as session:  # each e-mail's sending is in the audit log, recomputable from its row
        logged = session.scalars(select(AuditEntry).where(AuditEntry.action == DELIVERED).order_by(AuditEntry.seq)).all()
        emailed = session.scalars(select(ServicingNotice).where(ServicingNotice.emailed_at.is_not(None))
                                  .order_by(ServicingNotice.emailed_at, ServicingNotice.id)).all()  # fmt: skip
        assert [n.kind for n in emailed] == ["overdue", "late"]
        assert [(e.subject, e.payload_hash) for e in logged] == [
            (f"loan:{loan_id}", payload_hash(delivery_payload(n, "email", n.emailed_at))) for n in emailed]

    served = client_for(settings).get("/api/v1/servicing/notices", headers=minted_bearer(settings, world.borrower)).json()
    assert [(n["kind"], n["emailed_at"] is not None) for n in served] == [("late", True), ("overdue", True), ("due_soon", False)]

    investor, investing = world.investors[0], make_applicant(951)  # the only note holder with an address
    with session_scope(settings) as session:
        submit(session, settings, investor.address, KycCreate(**investing.form()), [])
    world.chain.mine_at(first_due + 40 * DAY)
    # the borrower's collections notice and every holder's loan_late; two of them e-mailed
    assert servicing_step(settings) == 1 + len(world.investors) + 2
    sent = {rcpt[0]: m for rcpt, m in inbox.messages[-2:]}
    assert set(sent) == {applicant.email, investing.email}
    assert sent[investing.email]["Subject"] == f"loanchain: A loan you hold is more than 30 days late (loan {loan_id})"
    assert "30 days late" in sent[investing.email].get_payload()


def test_a_borrower_who_turns_email_off_still_gets_late_notices_in_writing(servicing_settings, world, smtp):
    inbox, port, *_ = smtp
    settings = servicing_settings.model_copy(update=dict(smtp_host="127.0.0.1", smtp_port=port, smtp_starttls=False))
    _, start = world.active_loan()
    index(settings)
    applicant = make_applicant(952)
    with session_scope(settings) as session:
        submit(session, settings, world.borrower.address, KycCreate(**applicant.form()), [PNG])
    client, borrower = client_for(settings), minted_bearer(settings, world.borrower)
    url = "/api/v1/servicing/notices/preferences"
    assert client.get(url, headers=borrower).json() == {"email": True, "sms": True, "always_by_email": [
        "late", "collections", "default", "defaulted", "hardship_plan", "plan_broken"]}
    off = client.put(url, json={"email": False, "sms": False}, headers=borrower)
    assert off.status_code == 200 and (off.json()["email"], off.json()["sms"]) == (False, False)
    assert client.put(url, json={"email": "maybe", "sms": False}, headers=borrower).status_code == 422
    assert client.put(url, json={"email": False, "sms": False}).status_code == 401

    world.chain.mine_at(start + 30 * DAY + DAY)  # overdue
    servicing_step(settings)
    world.chain.mine_at(start + 30 * DAY + 20 * DAY)  # and a late fee charged
    servicing_step(settings)
    emailed = {kind: sent for kind, sent, _ in _notices(settings)}
    assert emailed == {"overdue": False, "late": True}  # the reminder in-app only; the late fee in writing anyway
    (rcpt, mail), = inbox.messages
    assert rcpt == [applicant.email] and mail["Subject"].startswith("loanchain: Late fee")
    with session_scope(settings) as session:
        skipped = session.scalar(select(ServicingNotice).where(ServicingNotice.kind == "overdue"))
        assert skipped.email_error == "not sent: the recipient turned email notices off"
    served = client.get("/api/v1/servicing/notices", headers=borrower).json()
    assert {n["kind"] for n in served} == {"overdue", "late"}  # every notice stays in the app


class Refuser:
    """An SMTP server that refuses every recipient for now (450): smtplib's error quotes the address."""

    async def handle_RCPT(self, server, session, envelope, address, rcpt_options):  # noqa: N802 - aiosmtpd's hook name
        return "450 4.2.0 mailbox temporarily unavailable"


def test_a_refused_address_is_kept_as_its_reply_code_not_in_clear_and_erasure_clears_it(tmp_path):
    from backend.identity.kyc.lifecycle import erase_wallet
    from backend.servicing.delivery import deliver_notices
    from tests.identity.conftest import identity_settings

    port = free_port()
    controller = Controller(Refuser(), hostname="127.0.0.1", port=port)
    controller.start()
    try:
        settings = identity_settings(tmp_path, f"sqlite:///{tmp_path / 'refused.db'}").model_copy(
            update=dict(smtp_host="127.0.0.1", smtp_port=port, smtp_starttls=False))  # fmt: skip
        applicant = make_applicant(953)
        wallet = applicant.account.address
        with session_scope(settings) as session:
            submit(session, settings, wallet, KycCreate(**applicant.form()), [])
            session.add(ServicingNotice(loan_id=1, borrower=wallet, recipient=wallet, installment=1, kind="overdue",
                                        due_date=0, amount=1, message="overdue"))  # fmt: skip
        assert deliver_notices(settings) == 0
        with session_scope(settings) as session:
            notice = session.scalar(select(ServicingNotice))
            assert (notice.email_error, notice.email_attempts) == ("SMTPRecipientsRefused: 450", 1)
            assert applicant.email.split("@")[0] not in notice.email_error
            notice.sms_error = "400 code 21211"  # as the SMS channel keeps a refusal
        with session_scope(settings) as session:
            erase_wallet(session, settings, wallet, actor=wallet)
        with session_scope(settings) as session:
            notice = session.scalar(select(ServicingNotice))
            assert (notice.email_error, notice.sms_error) == (None, None)
    finally:
        controller.stop()


def _late_notice(settings, world) -> None:
    _, start = world.active_loan()
    world.chain.mine_at(start + 30 * DAY + 16 * DAY)  # 16 days late: the `late` notice, which must go in writing
    index(settings)
    with session_scope(settings) as session:
        servicing_pass(session, settings)


def _channel(contact: str = "b@example.org") -> Channel:
    return Channel("email", sent_at="emailed_at", attempts="email_attempts", error="email_error",
                   retry_at="email_retry_at", contact=lambda *_: contact, kinds=IN_WRITING)  # fmt: skip


def _overdue_reminder_waiting_for_its_retry(settings, world) -> tuple[int, Channel]:
    """An active loan a day overdue whose `overdue` reminder failed once (the mail server was down)
    and waits for its retry: the loan's id, and the e-mail channel (every kind, to a set address)."""
    from backend.servicing.delivery import EMAIL

    email = dataclasses.replace(EMAIL, contact=lambda *_: "b@example.org")
    loan_id, start = world.active_loan()
    world.chain.mine_at(start + 30 * DAY + DAY)
    index(settings)
    with session_scope(settings) as session:
        servicing_pass(session, settings)

    def down(notice, to):
        raise DeliveryFailed("SMTPServerDisconnected")

    assert deliver(settings, email, down) == 0
    return loan_id, email


def test_two_deliveries_at_once_send_a_notice_once(servicing_settings, world):
    """Review-servicing H2: the worker's round and a `servicing run` by hand delivering at the same
    time both sent the same text. Each claims a notice in the database before sending it."""
    settings = servicing_settings
    _late_notice(settings, world)
    sent: list[int] = []

    def send(notice, to):
        time.sleep(0.5)  # the provider's round trip
        sent.append(notice.id)

    threads = [threading.Thread(target=deliver, args=(settings, _channel(), send)) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(sent) == 1
    with session_scope(settings) as session:
        assert session.get(ServicingNotice, sent[0]).emailed_at is not None


def test_a_required_notice_is_retried_for_days_and_raised_in_health_once_given_up(servicing_settings, world, monkeypatch):
    """Review-servicing H3: five failed rounds (five minutes) and a `late` notice was never sent, and
    nothing said so. Retries now back off over about three days, and one given up shows in /health."""
    settings = servicing_settings
    _late_notice(settings, world)
    tries: list[int] = []

    def down(notice, to):
        tries.append(notice.id)
        raise DeliveryFailed("SMTPServerDisconnected")

    elapsed = 0
    for failures in range(1, 6):  # five failures: five minutes no longer loses it
        assert deliver(settings, _channel(), down) == 0 and len(tries) == failures
        assert deliver(settings, _channel(), down) == 0 and len(tries) == failures  # not again before its backoff
        elapsed += backoff(failures)
        later(monkeypatch, elapsed)
    assert deliver(settings, _channel(), lambda notice, to: None) == 1  # the mail server is back: sent

    health = client_for(settings).get("/health").json()["notices"]
    assert health == {"ok": True, "status": "ok", "undelivered_in_writing": 0, "notice_ids": []}
    world.chain.mine_at(world.chain.now() + 30 * DAY)  # the next one, `collections`: mail stays down for days
    with session_scope(settings) as session:
        servicing_pass(session, settings)
    tries.clear()
    for failures in range(1, MAX_ATTEMPTS + 1):
        deliver(settings, _channel(), down)
        elapsed += backoff(failures)
        later(monkeypatch, elapsed)
    assert len(tries) == MAX_ATTEMPTS and sum(backoff(n) for n in range(1, MAX_ATTEMPTS)) > 2.5 * DAY
    assert deliver(settings, _channel(), down) == 0 and len(tries) == MAX_ATTEMPTS  # given up...
    health = client_for(settings).get("/health").json()["notices"]
    assert (health["status"], health["undelivered_in_writing"], health["notice_ids"]) == ("undelivered", 1, [tries[0]])


def test_a_reminder_retried_after_its_installment_was_paid_is_not_sent(servicing_settings, world, monkeypatch):
    """Retries now run for days (H3): an `overdue` reminder retried after the borrower paid would tell
    it the installment is unpaid. The reminder is dropped once the servicing pass sees it paid."""
    settings = servicing_settings
    loan_id, email = _overdue_reminder_waiting_for_its_retry(settings, world)
    world.repay(loan_id, world.book.functions.amountDue(loan_id).call()[0])
    index(settings)
    with session_scope(settings) as session:
        servicing_pass(session, settings)
    later(monkeypatch, BACKOFF_FIRST)
    assert deliver(settings, email, lambda notice, to: None) == 0
    with session_scope(settings) as session:
        overdue = session.scalar(select(ServicingNotice).where(ServicingNotice.kind == "overdue"))
        assert (overdue.emailed_at, overdue.email_error) == (None, "not sent: the installment was paid since")


def test_a_notice_whose_contact_cannot_be_read_is_given_up_at_once_and_raised_in_health(servicing_settings, world,
                                                                                        tmp_path, monkeypatch):  # fmt: skip
    """Review-recent M3: after a restore with --allow-missing-keys, a borrower's record under a missing
    master key raised MasterKeyMissing out of every delivery: retried after every lease for ever,
    never counted, never in /health. It cannot be read until the key is back: refused for good."""
    from backend.servicing.delivery import EMAIL

    settings = servicing_settings
    with session_scope(settings) as session:
        submit(session, settings, world.borrower.address, KycCreate(**make_applicant(952).form()), [PNG])
    _late_notice(settings, world)
    keyless = settings.model_copy(update={"kyc_keyring_dir": tmp_path / "another-keyring"})  # the record's key is not there
    sent: list[str] = []
    assert deliver(keyless, EMAIL, lambda notice, to: sent.append(to)) == 0
    later(monkeypatch, LEASE + 1)
    assert deliver(keyless, EMAIL, lambda notice, to: sent.append(to)) == 0 and sent == []
    with session_scope(settings) as session:
        late = session.scalar(select(ServicingNotice).where(ServicingNotice.kind == "late"))
        assert (late.emailed_at, late.email_attempts) == (None, MAX_ATTEMPTS)
        assert late.email_error == "not sent: the email contact cannot be read (MasterKeyMissing)"
    health = client_for(settings).get("/health").json()["notices"]
    assert health["status"] == "undelivered" and late.id in health["notice_ids"]


def test_an_unexpected_error_while_sending_is_a_counted_failure(servicing_settings, world, monkeypatch):
    """Review-recent M3: any exception but the channel's own escaped the delivery: the notice stayed
    claimed, uncounted, and was tried again after every lease without end. It is now a failed attempt
    like a provider being down (retried with back-off, given up at MAX_ATTEMPTS, then in /health),
    kept as its class only (its text may quote the address)."""
    settings = servicing_settings
    _late_notice(settings, world)
    tries: list[int] = []

    def broken(notice, to):
        tries.append(notice.id)
        raise KeyError("b@example.org")  # a bug in a provider's client

    elapsed = 0
    for failures in range(1, MAX_ATTEMPTS + 1):
        assert deliver(settings, _channel(), broken) == 0 and len(tries) == failures
        elapsed += backoff(failures)
        later(monkeypatch, elapsed)
    assert deliver(settings, _channel(), broken) == 0 and len(tries) == MAX_ATTEMPTS  # given up
    with session_scope(settings) as session:
        notice = session.get(ServicingNotice, tries[0])
        assert (notice.emailed_at, notice.email_attempts, notice.email_error) == (None, MAX_ATTEMPTS, "unexpected: KeyError")
    health = client_for(settings).get("/health").json()["notices"]
    assert (health["status"], health["notice_ids"]) == ("undelivered", [tries[0]])


def test_a_database_error_while_delivering_is_not_the_notices_and_costs_no_attempt(servicing_settings, world):
    """The database failing mid-delivery is the round's failure (the worker reports it), not one of
    the notice's attempts: an outage must not use them up."""
    from sqlalchemy.exc import OperationalError

    settings = servicing_settings
    _late_notice(settings, world)

    def database_down(notice, to):
        raise OperationalError("SELECT 1", {}, Exception("server closed the connection"))

    with pytest.raises(OperationalError):
        deliver(settings, _channel(), database_down)
    with session_scope(settings) as session:
        assert all(n.email_attempts == 0 for n in session.scalars(select(ServicingNotice)))


def test_texts_go_out_even_when_the_email_round_raised(servicing_settings, monkeypatch):
    """Review-recent M3: `after_pass` sent the texts only if the e-mail round returned."""
    from backend.servicing import delivery, sms
    from backend.servicing.service import after_pass

    texted: list[bool] = []

    def mail_broken(settings):
        raise RuntimeError("the e-mail round failed")

    monkeypatch.setattr(delivery, "deliver_notices", mail_broken)
    monkeypatch.setattr(sms, "deliver_sms", lambda settings: texted.append(True) or 2)
    with pytest.raises(RuntimeError, match="the e-mail round failed"):  # still raised: the worker reports it
        after_pass(servicing_settings)
    assert texted == [True]


def test_a_reminder_retried_during_a_hardship_request_is_not_emailed(servicing_settings, world, monkeypatch):
    """Review-recent L1: only texts were paused; an `overdue` reminder created before the request and
    still retried (retries run for about three days) was e-mailed while the request waited."""
    settings = servicing_settings
    loan_id, email = _overdue_reminder_waiting_for_its_retry(settings, world)
    asked = client_for(settings).post(f"/api/v1/loans/{loan_id}/hardship", headers=minted_bearer(settings, world.borrower),
                                      json={"note": "lost my job, can pay half"})  # fmt: skip
    assert asked.status_code == 201
    with session_scope(settings) as session:
        servicing_pass(session, settings)
    later(monkeypatch, BACKOFF_FIRST)
    sent: list[int] = []
    assert deliver(settings, email, lambda notice, to: sent.append(notice.id)) == 0 and sent == []
    with session_scope(settings) as session:
        overdue = session.scalar(select(ServicingNotice).where(ServicingNotice.kind == "overdue"))
        assert (overdue.emailed_at, overdue.email_error) == (None, "not sent: a hardship request awaits an answer")
