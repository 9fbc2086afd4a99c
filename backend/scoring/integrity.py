"""Every recorded credit decision checked at once, for an auditor: the record against its hash,
the columns read beside the hashed outputs (grade, PD... which disclosure, prices and the loan
tape use) against those outputs, a replay with the model version that made it, and the terms of
every indexed loan carrying its hash against what it decided."""

from __future__ import annotations

from collections.abc import Callable
from functools import cache

from pydantic import BaseModel, Field
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from backend.chain.projection_models import LoanRow
from backend.scoring.models import CreditDecision
from backend.scoring.scorer import Scorer, scorer_for_version
from backend.scoring.service import altered_columns, decision_hash, loan_differences, replay

BATCH = 500


class DecisionIssuePublic(BaseModel):
    id: str
    decision_hash: str
    problems: list[str] = Field(description="What does not hold: `hash` (the record no longer hashes to it), "
                                            "`column:<name>`, `replay` (the model gives other outputs), "
                                            "`loan:<id>: <term>: loan X, decision Y` (a loan carrying its hash "
                                            "with terms it did not decide)")


class DecisionsAuditPublic(BaseModel):
    checked: int
    erased: int = Field(0, description="Decisions not checked: no loan was made from them and their application was "
                                       "erased with the applicant's personal data")
    replayed: int = Field(description="Decisions replayed (their model version's artifact is held here)")
    issues: list[DecisionIssuePublic]

    @property
    def ok(self) -> bool:
        return not self.issues


def _problems(db: Session, row: CreditDecision, scorer: Scorer | None, loans: list[LoanRow],
              asset_decimals: int | None) -> list[str]:  # fmt: skip
    hashed = decision_hash(row.model_version, row.inputs, row.outputs, row.salt)
    problems = [] if hashed == row.decision_hash else ["hash"]
    problems += [f"column:{name}" for name in altered_columns(row)]
    if replay(row, scorer)[2]:  # the replay's outputs differ from the record's (or its inputs no longer hold)
        problems.append("replay")
    if loans:  # the same application decided twice hashes the same: any of its records' wallets borrows
        rows = db.scalars(select(CreditDecision).where(CreditDecision.decision_hash == row.decision_hash,
                                                       CreditDecision.erased_at.is_(None))
                          .order_by(CreditDecision.created_at)).all()  # fmt: skip
        for loan in loans:
            problems += [f"loan:{loan.loan_id}: {d}" for d in loan_differences(db, rows, loan, asset_decimals)]
    return problems


def audit_decisions(db: Session, advance: Callable[[int], None] | None = None,
                    asset_decimals: int | None = None) -> DecisionsAuditPublic:  # fmt: skip
    """Walks every decision in batches (ordered by id, so a long table is read in bounded memory).
    A loan's principal is read with `asset_decimals`, else with its offer's (`loan_differences`)."""
    scorer_of = cache(scorer_for_version)
    checked = replayed = erased = 0
    issues: list[DecisionIssuePublic] = []
    after = ""
    while rows := db.scalars(select(CreditDecision).where(CreditDecision.id > after)
                             .order_by(CreditDecision.id).limit(BATCH)).all():  # fmt: skip
        hashes = {row.decision_hash for row in rows}
        loans: dict[str, list[LoanRow]] = {}
        for loan in db.scalars(select(LoanRow).where(LoanRow.decision_hash.in_(hashes)).order_by(LoanRow.loan_id)):
            loans.setdefault(loan.decision_hash, []).append(loan)
        for row in rows:
            if row.erased_at is not None:
                erased += 1
                continue
            scorer = scorer_of(row.model_version)
            replayed += scorer is not None
            if problems := _problems(db, row, scorer, loans.get(row.decision_hash, []), asset_decimals):
                issues.append(DecisionIssuePublic(id=row.id, decision_hash=row.decision_hash, problems=problems))
        checked += len(rows) - sum(row.erased_at is not None for row in rows)
        after = rows[-1].id
        db.expunge_all()
        if advance:
            advance(len(rows))
    return DecisionsAuditPublic(checked=checked, erased=erased, replayed=replayed, issues=issues)


def decision_count(db: Session) -> int:
    return db.scalar(select(func.count()).select_from(CreditDecision)) or 0
