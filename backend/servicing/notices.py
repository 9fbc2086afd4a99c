"""Notices: each (loan, installment, kind, recipient) is given once, whichever pass or process
gets there first, and worded with amounts in the loan token's units."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from functools import cache
from typing import Protocol

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from backend.amounts import money as money  # re-exported: notices are worded with it
from backend.chain.loan_book import loan_book_domain
from backend.config import Settings
from backend.servicing.models import ServicingNotice


def token_decimals(settings: Settings) -> Callable[[], int]:
    """The loan token's decimals for one servicing pass: read from the chain at most once, and
    only if a notice needs them."""
    return cache(lambda: loan_book_domain(settings).asset_decimals)


def day(ts: int) -> str:
    return datetime.fromtimestamp(ts, UTC).strftime("%Y-%m-%d")


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
    recipient: str | None = None,
) -> bool:
    """One notice per (loan, installment, kind, recipient; installment 0 = the whole loan, the
    recipient by default the borrower); False when it was given before."""
    recipient = recipient or row.borrower
    if given_before(db, row.loan_id, installment, kind, recipient):
        return False
    notice = ServicingNotice(loan_id=row.loan_id, borrower=row.borrower, recipient=recipient, installment=installment,
                             kind=kind, due_date=due_date, amount=amount, message=message)  # fmt: skip
    try:
        with db.begin_nested():  # the unique key is the last word if two passes ever overlap
            db.add(notice)
    except IntegrityError:
        return False
    return True
