"""How late each active loan was at the moment figures are read: from the last servicing pass for
the live figures, or as LoanBook itself computed it at a past block for a monthly report."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.orm import Session

from backend.chain.blocks import BlockRef
from backend.chain.projection_models import LoanRow
from backend.chain.servicing_reader import loan_positions
from backend.config import Settings
from backend.servicing.aging import bucket_of, days_past_due
from backend.servicing.models import ServicingState


@dataclass(frozen=True)
class Aging:
    days_past_due: int
    bucket: str
    due_now: int
    as_of: int  # the chain time it was computed at


def aging_now(session: Session) -> dict[int, Aging]:
    return {s.loan_id: Aging(s.days_past_due, s.bucket, s.due_now, s.as_of) for s in session.scalars(select(ServicingState))}


def aging_at(session: Session, settings: Settings, block: BlockRef) -> dict[int, Aging]:
    """Read with the index as it stood at `block` (`index_at`), so the loans asked about are the
    ones active then; the contract answers at that block's state and time."""
    active = list(session.scalars(select(LoanRow.loan_id).where(LoanRow.status == "active").order_by(LoanRow.loan_id)))
    at = block.timestamp
    return {p.loan_id: Aging(days_past_due(at, p.next_due_date), bucket_of(at, p.next_due_date, p.defaultable_at),
                             p.due_now, at)
            for p in loan_positions(settings, active, block.number) if p.status == "active"}  # fmt: skip
