"""Delivering notices over a channel (e-mail, SMS), the same way for each: every due notice in
its own transaction, oldest first, to the contact in the recipient's KYC record (decrypted for
that purpose only, and audited). At least once: a crash between the provider's answer and the
commit sends it again, once its lease runs out. Never twice at once: a delivery first claims the
notice in the database (a compare-and-set moving its `*_retry_at` a lease ahead, committed before
the send), and one that finds it claimed leaves it. A transient failure is retried by the clock, not
by the round: after 1, 2, 4, … minutes, at most 6 hours apart, MAX_ATTEMPTS times in about three
days, so a mail server or gateway down for an afternoon loses nothing; a permanent failure (no
contact, a KYC record that cannot be decrypted, a refusal of the message itself) is not retried,
and nothing is sent over a channel its recipient turned off (`preferences.py`). Any other error a
delivery raises, the database's aside, is a failed attempt like a provider being down: left to
escape, it would keep the notice claimed and uncounted, tried again after every lease for ever. A notice that must go in writing and was given up on shows
in `/health` (`undelivered_in_writing`).

Each delivery is audit-logged (`notice.delivered`: the notice, its channel and the time it left, in
the transaction that records it), so when a notice reached its recipient is proven by the anchored
log, not only by the notice's row.

A failure is stored as a classified reason (exception class, SMTP code, gateway error code), never
a provider's text, which quotes the address or number. Erasing a wallet's personal data clears its
notices' failure reasons all the same (`forget_failures`)."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import or_, select, update
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session

from backend import audit
from backend.chain.projection_models import LoanRow
from backend.config import Settings
from backend.db.base import as_utc
from backend.db.session import session_scope
from backend.errors import LoanchainError
from backend.identity.crypto.keyring import MasterKeyMissing
from backend.identity.kyc.vault import RecordErased
from backend.servicing.models import ServicingNotice
from backend.servicing.notices import AUDIT_ACTOR, audit_subject, entry_recomputing
from backend.servicing.preferences import wants

BACKOFF_FIRST = 60  # seconds after the first failure, doubling after each
BACKOFF_CAP = 6 * 3600  # at most this long between two attempts
log = logging.getLogger("loanchain.servicing")

DELIVERED = "notice.delivered"
MAX_ATTEMPTS = 20  # the 20th failure falls about 68 hours after the first attempt: then given up
LEASE = 10 * 60  # a claimed notice is left alone this long (a send times out well before)


def backoff(failures: int) -> int:
    """Seconds from the `failures`-th failure to the next attempt."""
    return min(BACKOFF_FIRST * 2 ** (failures - 1), BACKOFF_CAP)


def wall_clock() -> int:
    """Delivery is retried on the wall clock (a provider's outage is the world's time, not the chain's)."""
    return int(time.time())


class DeliveryRefused(LoanchainError, ValueError):
    """The provider refused this message for good (a bad address or number): not retried."""

    code = "delivery_refused"


class DeliveryFailed(LoanchainError, ConnectionError):
    """The provider could not be reached or asked to come back later: retried."""

    code = "delivery_failed"


class DeliveryDeferred(LoanchainError):
    """Not to be sent before `until` (quiet hours in the recipient's time zone): no attempt counted."""

    code = "delivery_deferred"

    def __init__(self, message: str, until: int) -> None:
        super().__init__(message)
        self.until = until


@dataclass(frozen=True)
class Channel:
    """Where a channel keeps its delivery state on the notice, and whom it may write to."""

    name: str
    sent_at: str  # ServicingNotice attribute names
    attempts: str
    error: str
    retry_at: str
    # (session, settings, wallet, purpose) -> what `send` is given to write to, or None: no contact
    contact: Callable[[Session, Settings, str, str], Any]
    kinds: tuple[str, ...] | None = None  # None: every kind of notice
    provider_id: str | None = None  # where to keep the provider's message id, if it gives one
    # Why a notice is not to go over this channel at all (None: it may), e.g. texts paused while a
    # hardship request or a dispute is open: it stays in-app (and in writing), never sent later.
    held: Callable[[Session, Settings, ServicingNotice], str | None] | None = None


def deliver(settings: Settings, channel: Channel, send: Callable[[ServicingNotice, str], str | None],
            limit: int = 50) -> int:  # fmt: skip
    """Send what is due over `channel` with `send(notice, contact)`; returns how many were sent."""
    sent_at, attempts, retry_at = (getattr(ServicingNotice, name) for name in (channel.sent_at, channel.attempts,
                                                                               channel.retry_at))  # fmt: skip
    now = wall_clock()
    query = select(ServicingNotice.id).where(sent_at.is_(None), attempts < MAX_ATTEMPTS,
                                             or_(retry_at.is_(None), retry_at <= now))  # fmt: skip
    if channel.kinds is not None:
        query = query.where(ServicingNotice.kind.in_(channel.kinds))
    with session_scope(settings) as session:
        due = list(session.scalars(query.order_by(ServicingNotice.id).limit(limit)))
    sent = 0
    for notice_id in due:
        now = wall_clock()
        with session_scope(settings) as session:  # the claim, committed before anything is sent
            claimed = session.execute(
                update(ServicingNotice)
                .where(ServicingNotice.id == notice_id, sent_at.is_(None), attempts < MAX_ATTEMPTS,
                       or_(retry_at.is_(None), retry_at <= now))
                .values({channel.retry_at: now + LEASE})
                .execution_options(synchronize_session=False)
            ).rowcount  # fmt: skip
        if not claimed:  # another delivery took it (or sent it) since the list was read
            continue
        with session_scope(settings) as session:
            notice = session.get(ServicingNotice, notice_id)
            if not wants(session, notice.recipient, channel.name, notice.kind):  # in-app only: never decrypted
                setattr(notice, channel.attempts, MAX_ATTEMPTS)
                setattr(notice, channel.error, f"not sent: the recipient turned {channel.name} notices off")
                continue
            why = channel.held(session, settings, notice) if channel.held else None
            if why:
                setattr(notice, channel.attempts, MAX_ATTEMPTS)
                setattr(notice, channel.error, f"not sent: {why}")
                continue
            purpose = f"servicing notice {notice.id} by {channel.name}"
            try:
                to = _contact(channel, session, settings, notice.recipient, purpose)
                provider_id = send(notice, to)
            except DeliveryRefused as exc:
                setattr(notice, channel.attempts, MAX_ATTEMPTS)
                setattr(notice, channel.error, exc.message[:500])
                continue
            except DeliveryDeferred as exc:
                setattr(notice, channel.retry_at, exc.until)
                setattr(notice, channel.error, exc.message[:500])
                continue
            except DeliveryFailed as exc:
                _count_failure(channel, notice, exc.message)
                continue
            except SQLAlchemyError:
                raise  # the database's failure, not the notice's: the round fails, the lease runs out, it is retried
            except Exception as exc:  # noqa: BLE001 - uncaught, it would be retried every lease for ever, uncounted
                # Only the class is kept: its text may quote the address or number.
                log.warning("notice %s: %s delivery raised %s; counted as a failed attempt", notice.id, channel.name,
                            type(exc).__name__, exc_info=log.isEnabledFor(logging.DEBUG))  # fmt: skip
                _count_failure(channel, notice, f"unexpected: {type(exc).__name__}")
                continue
            delivered = datetime.fromtimestamp(wall_clock(), UTC)
            setattr(notice, channel.sent_at, delivered)
            setattr(notice, channel.error, None)
            if channel.provider_id:
                setattr(notice, channel.provider_id, provider_id)
            # In the same transaction as the row: the log (hash-chained, anchored) proves when a
            # notice left, which the notice's own row, the platform's to edit, does not.
            audit.record(session, actor=AUDIT_ACTOR, action=DELIVERED, subject=audit_subject(notice),
                         payload=delivery_payload(notice, channel.name, delivered))  # fmt: skip
            sent += 1
    return sent


def deliveries_of(db: Session, notice: ServicingNotice) -> list[tuple[str, datetime, int | None]]:
    """(channel, when it left, the seq of the audit entry that recomputes to that delivery: None when
    delivered before deliveries were logged, or the row edited since) for each channel it left by."""
    found = []
    for channel, column in (("email", "emailed_at"), ("sms", "sms_sent_at")):
        if (sent := getattr(notice, column)) is None:
            continue
        entry = entry_recomputing(db, notice, DELIVERED, delivery_payload(notice, channel, sent))
        found.append((channel, as_utc(sent), entry.seq if entry is not None else None))
    return found


def delivery_payload(notice: ServicingNotice, channel: str, sent_at: datetime) -> dict:
    """What a delivery's audit entry commits to, recomputed from the notice's row (`sent_at` its
    `emailed_at` or `sms_sent_at`)."""
    return {"notice": notice.id, "kind": notice.kind, "recipient": notice.recipient, "channel": channel,
            "sent_at": as_utc(sent_at).isoformat()}


def _contact(channel: Channel, session: Session, settings: Settings, wallet: str, purpose: str) -> Any:
    """What `send` writes to. A record that cannot be read (its master key is not in the keyring, say
    after a restore with `--allow-missing-keys`, or it was erased meanwhile) is refused for good:
    retrying will not bring the key back, and a notice owed in writing then shows in `/health`."""
    try:
        to = channel.contact(session, settings, wallet, purpose)
    except (MasterKeyMissing, RecordErased) as exc:
        raise DeliveryRefused(f"not sent: the {channel.name} contact cannot be read ({type(exc).__name__})") from exc
    if to is None:
        raise DeliveryRefused(f"no {channel.name} contact: KYC data missing or erased")
    return to


def _count_failure(channel: Channel, notice: ServicingNotice, reason: str) -> None:
    """One more failed attempt, retried after the back-off; given up at MAX_ATTEMPTS."""
    failures = getattr(notice, channel.attempts) + 1
    setattr(notice, channel.attempts, failures)
    setattr(notice, channel.retry_at, wall_clock() + backoff(failures))
    setattr(notice, channel.error, reason[:500])


REMINDERS = ("due_soon", "overdue")


def stale_reminder(session: Session, settings: Settings, notice: ServicingNotice) -> str | None:
    """A reminder (due soon, overdue) whose installment the index shows settled, or whose loan is no
    longer active: retries run for days, and "installment 2 is unpaid" must not reach a borrower who
    paid it since. Notices owed in writing go as they were given (they were true then)."""
    if notice.kind not in REMINDERS or notice.recipient != notice.borrower:
        return None
    loan = session.get(LoanRow, notice.loan_id)
    paid = loan is not None and (loan.status != "active" or loan.installments_settled >= notice.installment)
    return "the installment was paid since" if paid else None


def forget_failures(session: Session, wallet: str) -> int:
    """Clear the delivery failure reasons of `wallet`'s notices (on erasure): returns how many."""
    return session.execute(
        update(ServicingNotice)
        .where(ServicingNotice.recipient == wallet, or_(ServicingNotice.email_error.is_not(None), ServicingNotice.sms_error.is_not(None)))
        .values(email_error=None, sms_error=None)
        .execution_options(synchronize_session=False)
    ).rowcount
