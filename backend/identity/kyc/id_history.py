"""What the platform already knows of a national ID before it approves it again: every other
wallet's record of it, whatever became of that record, and a reviewer's rejection of it on identity
grounds.

A record's status says what the platform decided, not whose the ID is: a record rejected as a stolen
identity, or one that expired while its wallet owes on a defaulted loan, still tells a reviewer who
else used the ID. Counting only approved and waiting records let the ID go through on a fresh wallet
the day it was rejected, or a year after its borrower defaulted. Erased records no longer count:
their blind index is gone (erasure keeps a debtor's record while it owes), except a rejection on
identity grounds the retention schedule erased, which keeps it (`retention.py`)."""

from __future__ import annotations

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from backend.chain.projection_models import LoanRow
from backend.identity.checks.reasons import Code, Disposition, Reason
from backend.identity.kyc.status import Status
from backend.identity.models import KycRecord, utcnow
from backend.identity.schemas import SameIdLoanPublic

DAY = 86_400
NAMED = 5  # records a flag's message lists; the review item lists every wallet


def other_records(session: Session, wallet: str, index: str) -> list[KycRecord]:
    """The other wallets' records of this national ID, of any status but erased (an erased one only
    where the retention schedule kept its index: a rejection on identity grounds), oldest first."""
    return list(session.scalars(select(KycRecord).where(KycRecord.blind_index == index, KycRecord.wallet != wallet)
                                .order_by(KycRecord.submitted_at, KycRecord.id)))  # fmt: skip


def check_duplicate(session: Session, wallet: str, index: str) -> Reason | None:
    """Another wallet has a record of this national ID (approved, waiting, rejected, expired or
    superseded): a second wallet of one person, or a stolen ID, which two admins tell apart. Called
    again at each approval (review.py), since the other wallet may have applied after this one."""
    others = other_records(session, wallet, index)
    if not others:
        return None
    named = ", ".join(f"{r.id} ({r.status})" for r in others[-NAMED:])
    more = f" and {len(others) - NAMED} older" if len(others) > NAMED else ""
    return Reason(Code.DUPLICATE_IDENTITY, f"this national ID is on {len(others)} record(s) of other wallets: {named}{more}",
                  Disposition.REVIEW)  # fmt: skip


def denied_identity_mark() -> Reason:
    """Put on a record a reviewer rejects on identity grounds (not its holder, a confirmed match)."""
    return Reason(Code.DENIED_IDENTITY, "rejected on identity grounds: this national ID is never approved automatically "
                  "again", Disposition.DECISION)  # fmt: skip


def check_denied(session: Session, index: str) -> Reason | None:
    """A reviewer rejected this national ID on identity grounds, on any wallet (this one too): from then
    on each submission of it waits for two admins, however long ago that was."""
    # Erased too: the retention schedule erases an old rejection's personal data but keeps the blind
    # index of one on identity grounds, for this check (retention.py); an erasure on request does not.
    rejected = session.scalars(select(KycRecord).where(KycRecord.blind_index == index,
                                                       KycRecord.status.in_((Status.REJECTED, Status.ERASED)))
                               .order_by(KycRecord.decided_at.desc(), KycRecord.id))  # fmt: skip
    denied = next((r for r in rejected if any(x["code"] == Code.DENIED_IDENTITY for x in r.reasons)), None)
    if denied is None:
        return None
    when = f" on {denied.decided_at:%Y-%m-%d}" if denied.decided_at else ""
    # The record, not its wallet: same_id_wallets names the wallets as they are now, an erased one no more.
    return Reason(Code.DENIED_IDENTITY, f"a reviewer rejected this national ID on identity grounds{when} (record {denied.id})",
                  Disposition.REVIEW)  # fmt: skip


def same_id_loans(session: Session, wallets: list[str], now: int | None = None) -> list[SameIdLoanPublic]:
    """The loans the other wallets of this national ID are still in, from the chain index: being
    funded, repaid (with the days an installment is late, at `now`, seconds), or defaulted with money
    still owed. What a reviewer must see before clearing the ID as a second wallet of one person:
    each wallet's debt and default checks see that wallet only."""
    if not wallets:
        return []
    now = int(utcnow().timestamp()) if now is None else now
    rows = session.scalars(select(LoanRow).where(func.lower(LoanRow.borrower).in_([w.lower() for w in wallets]))
                           .order_by(LoanRow.loan_id))  # fmt: skip
    return [_loan(r, now) for r in rows if r.owes]


def _loan(row: LoanRow, now: int) -> SameIdLoanPublic:
    late = 0
    if row.status == "active" and row.start_time:
        due = row.start_time + (row.installments_settled + 1) * row.installment_period
        late = -(-max(0, now - due) // DAY)
    standing = "defaulted" if row.status == "defaulted" else "late" if late else row.status
    owed = row.recoverable if row.status == "defaulted" else row.principal if row.status == "funding" else row.principal_outstanding
    return SameIdLoanPublic(loan_id=row.loan_id, borrower=row.borrower, standing=standing, days_late=late, owed=owed)
