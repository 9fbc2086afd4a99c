"""The collections case log: what staff did about a late loan and what its borrower said
(contacts, promises to pay, disputes, hardship). Entries are only added, each in the audit log
too. A promise to pay is judged by the chain: kept once the borrower's payments since it reach the
amount, broken if its date passes first."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable

from sqlalchemy import select
from sqlalchemy.orm import Session

from backend import audit
from backend.chain.loan_book import deadline_clock
from backend.chain.models import ChainEvent
from backend.chain.projection_models import LoanRow, RepaymentRow
from backend.config import Settings
from backend.errors import Conflict, NotFound
from backend.servicing.aging import DELINQUENT
from backend.servicing.models import CollectionAction, ServicingState
from backend.servicing.schemas import CollectionActionCreate, CollectionActionPublic

DAY = 86_400


def in_collections(db: Session, loan_id: int) -> bool:
    """16+ days late at the last servicing pass, or defaulted with money still to recover."""
    state = db.get(ServicingState, loan_id)
    loan = db.get(LoanRow, loan_id)
    return bool(state and state.bucket in DELINQUENT) or bool(loan and loan.status == "defaulted" and loan.recoverable > 0)


def record_action(db: Session, settings: Settings, loan_id: int, request: CollectionActionCreate,
                  actor: str) -> CollectionActionPublic:  # fmt: skip
    if db.get(LoanRow, loan_id) is None:
        raise NotFound(f"loan {loan_id} is not in the index", field="loan_id", loan_id=loan_id)
    if not in_collections(db, loan_id):
        raise Conflict(f"loan {loan_id} is not in collections (16+ days late, or defaulted and recovering)",
                       loan_id=loan_id)  # fmt: skip
    now = deadline_clock(settings)
    promised_by = now + request.promised_in_days * DAY if request.promised_in_days else None
    row = CollectionAction(loan_id=loan_id, kind=request.kind, note=request.note, actor=actor, chain_time=now,
                           promised_amount=request.promised_amount, promised_by=promised_by)  # fmt: skip
    db.add(row)
    db.flush()
    audit.record(db, actor=actor, action="collections.action", subject=f"loan:{loan_id}",
                 payload={"action_id": row.id, "kind": row.kind, "note": row.note, "promised_amount": row.promised_amount,
                          "promised_by": promised_by})  # fmt: skip
    return actions_of(db, [loan_id], lambda: now)[loan_id][0]


def actions_of(db: Session, loan_ids: list[int], clock: Callable[[], int]) -> dict[int, list[CollectionActionPublic]]:
    """Each loan's case log, newest first, promises judged at `clock()` (read only if there is one)."""
    out: dict[int, list[CollectionActionPublic]] = defaultdict(list)
    rows = list(db.scalars(select(CollectionAction).where(CollectionAction.loan_id.in_(loan_ids))
                           .order_by(CollectionAction.id.desc())))  # fmt: skip
    for row in rows:
        paid = status = None
        if row.kind == "promise_to_pay":
            paid = _paid_between(db, row.loan_id, row.chain_time, row.promised_by)
            status = "kept" if paid >= row.promised_amount else "broken" if clock() > row.promised_by else "pending"
        out[row.loan_id].append(CollectionActionPublic(
            id=row.id, loan_id=row.loan_id, kind=row.kind, note=row.note, actor=row.actor, chain_time=row.chain_time,
            promised_amount=row.promised_amount, promised_by=row.promised_by, promise_status=status, paid_since=paid,
        ))  # fmt: skip
    return out


def _paid_between(db: Session, loan_id: int, start: int, end: int) -> int:
    # Summed in Python: amounts are uint256 kept as decimal strings.
    amounts = db.scalars(select(RepaymentRow.amount).join(ChainEvent, ChainEvent.id == RepaymentRow.event_id)
                         .where(RepaymentRow.loan_id == loan_id, ChainEvent.block_timestamp >= start,
                                ChainEvent.block_timestamp <= end))  # fmt: skip
    return sum(amounts)

