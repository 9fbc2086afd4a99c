"""Erasure requests that wait out the AML record-keeping period.

A wallet whose person borrowed or invested keeps its customer due diligence records for
`LOANCHAIN_AML_RETENTION_DAYS` (1825, five years: AMLD art. 40) after the business relationship
ended (`relationship.py`). An erasure asked for in that period is not refused: it is recorded here
(who asked, when, when it is due) and answered 202 with `erase_after`; the retention worker carries
it out when due, through erasure's own path (`lifecycle.erase_scheduled`: the erasure log, the
revocation, the backups' shredding, as for a request erased at once). A second request while one is
scheduled is that one. A loan taken meanwhile moves the due date to the new relationship's end.

Meanwhile processing is restricted (GDPR art. 18(1)(b) and (2)): the data is stored, and used only
for what the law keeps it for. In code: an admin reveals a restricted wallet's record only for a
fraud investigation or a legal request (`RESTRICTED_REVEAL_REASONS`; a review or the customer's own
request is refused, 409), and the restriction is in the audit log (`kyc.erase.scheduled`)."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from backend.config import Settings
from backend.errors import Conflict
from backend.identity.audit_trail import audit
from backend.identity.kyc.relationship import AmlHold, aml_hold
from backend.identity.models import ErasureRequest, utcnow
from backend.identity.schemas import ErasureScheduledPublic

SCHEDULED, DONE = "scheduled", "done"
# What the AML period keeps the data for: a reveal for anything else waits for the erasure.
RESTRICTED_REVEAL_REASONS = ("fraud_investigation", "legal_request")


def scheduled_request(session: Session, wallet: str, lock: bool = False) -> ErasureRequest | None:
    query = select(ErasureRequest).where(ErasureRequest.open_for == wallet)
    return session.scalar(query.with_for_update() if lock else query)


def due_requests(session: Session) -> list[int]:
    """Every scheduled request, oldest first: the worker asks each whether it is due now (a due date
    is not stored as final: a new loan moves it)."""
    return list(session.scalars(select(ErasureRequest.id).where(ErasureRequest.status == SCHEDULED).order_by(ErasureRequest.id)))


STAFF = "staff"  # who asked, to the owner, when it was not them: a staff member's wallet is their own data (art. 15(4))


def public(request: ErasureRequest, hold: AmlHold | None, for_owner: bool = False) -> ErasureScheduledPublic:
    asker = request.requested_by
    if for_owner and asker.lower() != request.wallet.lower():
        asker = STAFF
    return ErasureScheduledPublic(wallet=request.wallet, requested_at=request.requested_at, requested_by=asker,
                                  erase_after=request.erase_after,
                                  relationship_ended_at=hold.relationship_ended_at if hold else None,
                                  reason=str(hold) if hold else "due: the retention worker erases it at its next round")  # fmt: skip


def schedule(session: Session, wallet: str, actor: str, hold: AmlHold, now: datetime | None = None) -> ErasureScheduledPublic:
    """Record the request (or find the one already scheduled), due when `hold` ends."""
    request = scheduled_request(session, wallet, lock=True)
    if request is None:
        request = ErasureRequest(wallet=wallet, open_for=wallet, requested_by=actor, requested_at=now or utcnow(),
                                 erase_after=hold.erase_after, status=SCHEDULED)  # fmt: skip
        try:
            with session.begin_nested():  # two requests at once: the unique `open_for` keeps one
                session.add(request)
        except IntegrityError:
            return schedule(session, wallet, actor, hold, now)
        audit(session, actor, "kyc.erase.scheduled", wallet, {"wallet": wallet, "request": request.id,
                                                              "erase_after": _iso(hold.erase_after)})  # fmt: skip
    else:
        request.erase_after = hold.erase_after
    return public(request, hold, for_owner=actor.lower() == wallet.lower())


def close(session: Session, wallet: str, entry: str | None, now: datetime) -> None:
    """The wallet was erased (by the worker, or by a request once the period was over): its
    scheduled request, if any, is done."""
    if (request := scheduled_request(session, wallet, lock=True)) is not None:
        request.status, request.open_for, request.done_at, request.erasure = DONE, None, now, entry


def scheduled_erasure(session: Session, settings: Settings, wallet: str) -> ErasureScheduledPublic | None:
    """The wallet's scheduled erasure as its owner reads it (GET /kyc/me), due date as of now."""
    request = scheduled_request(session, wallet)
    return None if request is None else public(request, aml_hold(session, settings, wallet), for_owner=True)


def check_reveal_allowed(session: Session, wallet: str, reason: str | None) -> None:
    """Refuse a reveal (or a document's opening) of a wallet whose erasure is scheduled, unless for
    what the AML period is for (no reason: refused)."""
    if reason not in RESTRICTED_REVEAL_REASONS and (request := scheduled_request(session, wallet)) is not None:
        when = f"{request.erase_after:%Y-%m-%d}" if request.erase_after else "the end of the AML period"
        raise Conflict(f"this wallet's erasure is scheduled for {when}: processing is restricted until then (GDPR art. 18), "
                       f"a reveal only for {' or '.join(RESTRICTED_REVEAL_REASONS)}",
                       allowed_reasons=list(RESTRICTED_REVEAL_REASONS))  # fmt: skip


def _iso(moment: datetime | None) -> str | None:
    return moment.isoformat() if moment else None
