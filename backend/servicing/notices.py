"""Notices: each (loan, installment, kind, recipient) is given once, whichever pass or process
gets there first, and worded with amounts in the loan token's units. Each is also in the audit
log, in the same transaction, so a notice written in afterwards (or redated) has no entry that
recomputes to it: a loan's trace holds its default notice against that entry."""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from datetime import UTC, datetime
from functools import cache
from typing import Protocol

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from backend import audit
from backend.amounts import money as money  # re-exported: notices are worded with it
from backend.audit.hashing import format_timestamp, payload_hash
from backend.audit.models import AuditEntry
from backend.chain.loan_book import loan_book_domain
from backend.config import Settings
from backend.db.meta import MetaEntry
from backend.servicing.models import ServicingNotice


def token_decimals(settings: Settings) -> Callable[[], int]:
    """The loan token's decimals for one servicing pass: read from the chain at most once, and
    only if a notice needs them."""
    return cache(lambda: loan_book_domain(settings).asset_decimals)


def day(ts: int) -> str:
    return datetime.fromtimestamp(ts, UTC).strftime("%Y-%m-%d")


def moment(ts: int) -> str:
    """A deadline to the minute, zone named: installments fall due at the payout's second, so a bare
    UTC day can be the evening before in the borrower's own time zone."""
    return datetime.fromtimestamp(ts, UTC).strftime("%Y-%m-%d %H:%M UTC")


class NoticeSubject(Protocol):
    """What a notice is about: a loan (a `LoanRow`), or no one loan (`loan_id` 0, as a mandate's)."""

    loan_id: int
    borrower: str


def given_before(db: Session, loan_id: int, installment: int, kind: str, recipient: str) -> bool:
    """Whether that notice was given already (a pass can skip the reads that would word it again)."""
    return db.scalar(select(ServicingNotice.id).where(
        ServicingNotice.loan_id == loan_id, ServicingNotice.installment == installment,
        ServicingNotice.kind == kind, ServicingNotice.recipient == recipient,
    ).limit(1)) is not None  # fmt: skip


def add_notice(
    db: Session, row: NoticeSubject, installment: int, kind: str, due_date: int, amount: int, message: str,
    recipient: str | None = None, chain_time: int | None = None,
) -> bool:
    """One notice per (loan, installment, kind, recipient; installment 0 = the whole loan, the
    recipient by default the borrower); False when it was given before. `chain_time`: the pass's, for
    a notice a cure period runs from."""
    recipient = recipient or row.borrower
    if given_before(db, row.loan_id, installment, kind, recipient):
        return False
    notice = ServicingNotice(loan_id=row.loan_id, borrower=row.borrower, recipient=recipient, installment=installment,
                             kind=kind, due_date=due_date, amount=amount, message=message, chain_time=chain_time,
                             created_at=datetime.now(UTC))  # set here: the audit entry commits to it  # fmt: skip
    try:
        with db.begin_nested():  # the unique key is the last word if two passes ever overlap
            db.add(notice)
            db.flush()  # a duplicate fails here, before its audit entry is written
            audit.record(db, actor=AUDIT_ACTOR, action=f"notice.{kind}", subject=audit_subject(notice),
                         payload=audit_payload(notice))  # fmt: skip
    except IntegrityError:
        return False
    return True


AUDIT_ACTOR = "servicing"


def audit_subject(notice: ServicingNotice) -> str:
    return f"loan:{notice.loan_id}" if notice.loan_id else f"wallet:{notice.recipient}"


def audit_payload(notice: ServicingNotice) -> dict:
    """What a notice's audit entry commits to, recomputed from its row: the message only by its
    hash (it may name the person's figures and dates), the time it was given to the microsecond."""
    given = notice.created_at if notice.created_at.tzinfo else notice.created_at.replace(tzinfo=UTC)  # SQLite drops it
    payload = {"loan_id": notice.loan_id, "installment": notice.installment, "kind": notice.kind,
               "recipient": notice.recipient, "due_date": notice.due_date, "amount": int(notice.amount),
               "message_sha256": hashlib.sha256(notice.message.encode()).hexdigest(),
               "created_at": format_timestamp(given)}  # fmt: skip
    # Only where recorded (migration 0056): an entry written before commits to the fields above alone.
    return payload | ({"chain_time": int(notice.chain_time)} if notice.chain_time is not None else {})


AUDITED_AFTER = "notices_audited_after_id"  # meta: the highest notice id when notices began to be audit-logged (0038)


def audited(db: Session, notice: ServicingNotice) -> bool:
    """Whether the notice was given since notices are audit-logged: one given before has no entry,
    and never can have (one appended now would be dated after the fact, like a forgery's)."""
    before = db.scalar(select(MetaEntry.value).where(MetaEntry.key == AUDITED_AFTER))
    return notice.id > int(before or 0)


def audit_entry_of(db: Session, notice: ServicingNotice) -> AuditEntry | None:
    """The audit entry that recomputes to the notice as it stands, or None (written in, or edited, since)."""
    return entry_recomputing(db, notice, f"notice.{notice.kind}", audit_payload(notice))


def entry_recomputing(db: Session, notice: ServicingNotice, action: str, payload: dict) -> AuditEntry | None:
    """The first audit entry of `notice` whose action is `action` and whose payload hash is `payload`'s."""
    return db.scalar(select(AuditEntry).where(
        AuditEntry.subject == audit_subject(notice), AuditEntry.action == action,
        AuditEntry.payload_hash == payload_hash(payload),
    ).order_by(AuditEntry.seq).limit(1))  # fmt: skip
