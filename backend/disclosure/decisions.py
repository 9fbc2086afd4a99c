"""The credit decisions behind the book's loans, used only as far as they prove themselves.

A loan's terms, signed by its borrower and stored on chain, carry its decision's hash
(`LoanRow.decision_hash`, from `LoanCreated`). A decision row is read for a grade or a PD only when
its own model version, inputs and outputs still hash to that value and its columns say what the
hashed outputs say (`verify_decision`): an edited grade or PD cannot reach a disclosed figure or the
loan tape; the loan shows as `unverified` instead, and a loan whose decision was not made here as
`unrated`.

A loan's PD here is its grade's, which priced it (`priced_pd`), never the decision's own: that
one is one value per score and gives the score, and with it the borrower's hidden answers, back."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field

from sqlalchemy import select
from sqlalchemy.orm import Session

from backend.chain.projection_models import LoanRow
from backend.scoring.grade_pd import priced_pd
from backend.scoring.models import CreditDecision
from backend.scoring.service import verify_decision

UNRATED, UNVERIFIED = "unrated", "unverified"


@dataclass
class LoanDecisions:
    proven: dict[str, CreditDecision] = field(default_factory=dict)  # by decision hash
    failed: set[str] = field(default_factory=set)  # hashes whose record no longer proves itself

    def grade(self, decision_hash: str) -> str:
        row = self.proven.get(decision_hash)
        return row.grade if row else UNVERIFIED if decision_hash in self.failed else UNRATED

    def pd(self, decision_hash: str) -> float | None:
        """The PD of the loan's grade in its decision's model, which priced it; None when the
        decision does not prove itself or this installation no longer holds its model."""
        row = self.proven.get(decision_hash)
        return priced_pd(row.model_version, row.grade) if row else None


def loan_decisions(session: Session, statuses: Iterable[str]) -> LoanDecisions:
    """The decisions of the loans in `statuses`, joined on the hash their on-chain terms carry
    (a join rather than `IN` thousands of hashes)."""
    rows = session.scalars(select(CreditDecision)
                           .join(LoanRow, LoanRow.decision_hash == CreditDecision.decision_hash)
                           .where(LoanRow.status.in_(list(statuses))))  # fmt: skip
    found = LoanDecisions()
    for row in rows:
        if verify_decision(row):
            found.proven[row.decision_hash] = row
        else:
            found.failed.add(row.decision_hash)
    return found
