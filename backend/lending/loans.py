"""Loans as the chain index holds them (`chain_loans`, rebuilt from LoanBook's events), with the
schedule the contract enforces and where the agreement document is. Everything here is public
on-chain already, so it is served to anyone: investors browse it before they fund."""

from __future__ import annotations

from dataclasses import dataclass

from eth_utils import is_address, to_checksum_address
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from backend.anchoring.documents import by_hash
from backend.anchoring.models import BATCH_ANCHORED
from backend.chain import loan_terms
from backend.chain.projection_models import LoanRow
from backend.errors import NotFound, ValidationFailed
from backend.lending.schemas import (
    InstallmentPublic,
    LoanDetailPublic,
    LoanListPublic,
    LoanPublic,
)
from backend.market.book import loan_market
from backend.scoring.grade_pd import priced_pd
from backend.scoring.models import CreditDecision
from backend.servicing.funding import DISBURSEMENT_WINDOW
from backend.servicing.service import servicing_of

STATUSES = ("funding", "active", "repaid", "defaulted", "cancelled")
DISBURSED = ("active", "repaid", "defaulted")  # loans whose notes can have traded


@dataclass(frozen=True)
class DecisionFacts:
    """What investors are told of the credit decision behind a loan (no identity, no income). Not
    the application's purpose: a public list would tie it to the borrower's wallet for anyone,
    forever; investors read it in the borrower profile while they decide (privacy review L5)."""

    grade: str
    pd: float | None = None  # the calibrated probability of default the loan was priced at


def refundable(row: LoanRow, now: int) -> bool:
    """May the loan's investors take their money back? Once it is cancelled, or past its deadline
    while still funding: short of full funding, or fully funded but not paid out within LoanBook's
    `DISBURSEMENT_WINDOW` after it, so that investors are never locked in (LoanBook cancels the loan
    on the first refund if nobody has yet)."""
    missed = row.status == "funding" and now > row.funding_deadline and (
        row.funded < row.principal or now > row.funding_deadline + DISBURSEMENT_WINDOW)
    return row.status == "cancelled" or missed


def decision_facts(db: Session, hashes: set[str]) -> dict[str, DecisionFacts]:
    """The grade and the grade's PD, which priced the loan (`priced_pd`): the decision's own PD is one
    value per score, so it would give investors the score, and with it the hidden answers, back."""
    if not hashes:
        return {}
    rows = db.execute(select(CreditDecision.decision_hash, CreditDecision.grade, CreditDecision.model_version)
                      .where(CreditDecision.decision_hash.in_(hashes)))  # fmt: skip
    return {h: DecisionFacts(grade, priced_pd(version, grade)) for h, grade, version in rows}


def _public_fields(row: LoanRow, facts: dict[str, DecisionFacts]) -> dict:
    fact = facts.get(row.decision_hash)
    return dict(
        grade=fact.grade if fact else None,
        loan_id=row.loan_id, status=row.status, borrower=row.borrower, principal=row.principal, funded=row.funded,
        remaining=row.principal - row.funded if row.status == "funding" else 0, apr_bps=row.apr_bps,
        installments=row.installments, installment_period=row.installment_period,
        installment_amount=row.installment_amount, origination_fee_bps=row.origination_fee_bps,
        funding_deadline=row.funding_deadline, start_time=row.start_time,
        principal_outstanding=row.principal_outstanding, terms_hash=row.terms_hash,
        agreement_hash=row.agreement_hash, decision_hash=row.decision_hash, block_number=row.block_number,
        tx_hash=row.tx_hash,
    )  # fmt: skip


def list_loans(
    db: Session, *, status: str | None = None, borrower: str | None = None, limit: int = 50, offset: int = 0
) -> LoanListPublic:
    if status is not None and status not in STATUSES:
        raise ValidationFailed(f"status: one of {', '.join(STATUSES)}", field="status")
    query = select(LoanRow)
    if status is not None:
        query = query.where(LoanRow.status == status)
    if borrower is not None:
        if not is_address(borrower):
            raise ValidationFailed(f"borrower: {borrower!r} is not an Ethereum address", field="borrower")
        # The index stores addresses checksummed: compared as stored, the borrower index serves it.
        query = query.where(LoanRow.borrower == to_checksum_address(borrower))
    total = db.scalar(select(func.count()).select_from(query.subquery()))
    rows = list(db.scalars(query.order_by(LoanRow.loan_id.desc()).limit(limit).offset(offset)))
    facts = decision_facts(db, {row.decision_hash for row in rows})
    return LoanListPublic(loans=[LoanPublic(**_public_fields(row, facts)) for row in rows], total=total or 0)


def schedule_public(
    principal: int, apr_bps: int, period: int, installments: int, start_time: int | None = None
) -> list[InstallmentPublic]:
    """The contract's schedule when every installment is paid on time; due dates once disbursed."""
    return [
        InstallmentPublic(
            number=i.number,
            due_at=start_time + i.number * period if start_time is not None else None,
            amount=i.amount,
            interest=i.interest,
            principal=i.principal,
            balance_after=i.balance_after,
        )
        for i in loan_terms.schedule(principal, apr_bps, period, installments)
    ]


def get_loan(db: Session, loan_id: int) -> LoanDetailPublic:
    row = db.get(LoanRow, loan_id)
    if row is None:
        raise NotFound(f"no loan {loan_id} in the chain index (a loan created in the last few seconds may not be indexed yet)",
                       loan_id=loan_id)  # fmt: skip
    document = by_hash(db, row.agreement_hash)
    return LoanDetailPublic(
        **_public_fields(row, decision_facts(db, {row.decision_hash})),
        agreement_cid=document.cid if document else None,
        agreement_anchored=bool(document and document.batch and document.batch.status == BATCH_ANCHORED),
        schedule=schedule_public(row.principal, row.apr_bps, row.installment_period, row.installments, row.start_time),
        interest_paid=row.interest_paid,
        principal_paid=row.principal_paid,
        fees_paid=row.fees_paid,
        last_installment=row.last_installment,
        reserve_cover=row.cover,
        recovered=row.recovered,
        servicing=servicing_of(db, loan_id),
        market=loan_market(db, loan_id) if row.status in DISBURSED else None,
    )
