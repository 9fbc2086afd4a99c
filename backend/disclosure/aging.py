"""How late each active loan was at the moment figures are read: from the last servicing pass for
the live figures, or as LoanBook itself computed it at a past block for a monthly report."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

from backend.chain.blocks import BlockRef
from backend.chain.projection_models import LoanRow
from backend.chain.servicing_reader import loan_positions
from backend.config import Settings
from backend.servicing.aging import standing, stored_standing
from backend.servicing.models import ServicingState
from backend.servicing.schemas import ServicingPublic


def aging_now(session: Session) -> dict[int, ServicingPublic]:
    return {s.loan_id: stored_standing(s) for s in session.scalars(select(ServicingState))}


def aging_at(session: Session, settings: Settings, block: BlockRef) -> dict[int, ServicingPublic]:
    """Read with the index as it stood at `block` (`index_at`), so the loans asked about are the
    ones active then; the contract answers at that block's state and time."""
    active = list(session.scalars(select(LoanRow.loan_id).where(LoanRow.status == "active").order_by(LoanRow.loan_id)))
    return {p.loan_id: standing(p, block.timestamp)
            for p in loan_positions(settings, active, block.number) if p.status == "active"}  # fmt: skip
