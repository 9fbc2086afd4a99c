"""The loan tape: one row per loan with its terms, grade, the grade's PD and performance, as P2P
disclosure rules and investors' own analysts expect (LendingClub and Bondora publish the same).
Nothing identifies a borrower: no wallet, no personal data, not the decision's own PD (it gives the
exact score back); the hashes tie each row to its on-chain terms and its recorded credit decision
for anyone who holds them."""

from __future__ import annotations

import csv
import io

from pydantic import BaseModel
from sqlalchemy import select
from sqlalchemy.orm import Session

from backend.chain.projection_models import LoanRow
from backend.disclosure.aging import aging_now
from backend.disclosure.decisions import UNVERIFIED, loan_decisions
from backend.servicing.schemas import ServicingPublic

DAY = 86_400


class TapeRow(BaseModel):
    loan_id: int
    status: str
    grade: str | None
    pd: float | None  # the PD of the loan's grade, which priced it (`LoanDecisions.pd`), not the decision's own
    purpose: str | None
    principal: int
    apr_bps: int
    installments: int
    period_days: float
    origination_fee_bps: int
    start_time: int | None
    latest_installment: int  # the latest installment a payment went to
    principal_paid: int
    interest_paid: int
    late_fees_paid: int
    principal_outstanding: int
    days_past_due: int | None
    bucket: str | None
    principal_at_default: int
    reserve_cover: int
    recovered: int
    net_loss: int
    terms_hash: str
    decision_hash: str
    tx_hash: str  # the transaction that created the loan (its signed terms carry both hashes)


COLUMNS = tuple(TapeRow.model_fields)


def loan_tape(session: Session, aging: dict[int, ServicingPublic] | None = None) -> list[TapeRow]:
    """Every disbursed or closed loan the index holds, oldest first (funding and cancelled loans
    never carried risk and are not in the tape), late as `aging` says (the last servicing pass by
    default)."""
    loans = list(session.scalars(select(LoanRow).where(LoanRow.status.in_(("active", "repaid", "defaulted")))
                                 .order_by(LoanRow.loan_id)))  # fmt: skip
    found = loan_decisions(session, {loan.status for loan in loans})
    decisions = {h: (row.grade, found.pd(h), (row.inputs or {}).get("purpose")) for h, row in found.proven.items()}
    # A record that no longer proves itself is named, not left blank like a loan decided elsewhere.
    decisions |= {h: (UNVERIFIED, None, None) for h in found.failed}
    states = aging_now(session) if aging is None else aging
    rows = []
    for loan in loans:
        grade, pd, purpose = decisions.get(loan.decision_hash, (None, None, None))
        state = states.get(loan.loan_id) if loan.status == "active" else None
        defaulted = loan.status == "defaulted"
        at_default = loan.principal_outstanding if defaulted else 0
        rows.append(TapeRow(
            loan_id=loan.loan_id, status=loan.status, grade=grade, pd=pd, purpose=purpose, principal=loan.principal,
            apr_bps=loan.apr_bps, installments=loan.installments, period_days=loan.installment_period / DAY,
            origination_fee_bps=loan.origination_fee_bps, start_time=loan.start_time,
            latest_installment=loan.last_installment, principal_paid=loan.principal_paid,
            interest_paid=loan.interest_paid, late_fees_paid=loan.fees_paid,
            principal_outstanding=0 if defaulted else loan.principal_outstanding,
            days_past_due=state.days_past_due if state else None, bucket=state.bucket if state else None,
            principal_at_default=at_default, reserve_cover=loan.cover, recovered=loan.recovered,
            net_loss=loan.net_loss,
            terms_hash=loan.terms_hash, decision_hash=loan.decision_hash, tx_hash=loan.created_tx or loan.tx_hash,
        ))  # fmt: skip
    return rows


def tape_csv(rows: list[TapeRow]) -> str:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(COLUMNS)
    for row in rows:
        writer.writerow("" if v is None else v for v in row.model_dump().values())
    return out.getvalue()
