"""Monitoring rule over the collections case log:

- `promise_chain`: a promise to pay recorded on a loan after an earlier one on it that was not kept
  (broken, or still open when the next came). Promises hold the platform's automatic default and
  one staff member records each alone; the hold is capped (`servicing_promise_hold_max_days`), and
  a chain is the pattern a person checks: a borrower stringing collections along, or staff keeping
  a loan out of default. One alert per chained promise, so each new one is seen."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from backend.audit.schemas import AlertPublic
from backend.chain.projection_models import LoanRow
from backend.servicing.collections import payments_of, promise_kept
from backend.servicing.models import CollectionAction


def promise_chains(db: Session, alert: Callable[..., AlertPublic]) -> list[AlertPublic]:
    rows = db.execute(select(CollectionAction, LoanRow.borrower).join(LoanRow, LoanRow.loan_id == CollectionAction.loan_id)
                      .where(CollectionAction.kind == "promise_to_pay")
                      .order_by(CollectionAction.loan_id, CollectionAction.id))  # fmt: skip
    # The payments of every loan with a promise in one read, not one read per promise judged.
    payments = payments_of(db, select(CollectionAction.loan_id).where(CollectionAction.kind == "promise_to_pay"))
    found, earlier = [], {}
    for row, borrower in rows:
        before = earlier.get(row.loan_id)
        if before is not None and not promise_kept(before, payments[row.loan_id]):
            day = datetime.fromtimestamp(row.chain_time, UTC)
            found.append(alert(
                rule="promise_chain", loan_id=row.loan_id, wallets=[borrower, *dict.fromkeys([before.actor, row.actor])],
                tx_hashes=[], timestamp=row.chain_time, amount=row.promised_amount, also=[f"action:{row.id}"],
                detail=f"loan {row.loan_id}: a promise to pay recorded by {row.actor} on {day:%Y-%m-%d} follows one not "
                       f"kept (case-log entry {before.id}, by {before.actor}): check that collections are not being "
                       "strung along to hold off the default",
            ))  # fmt: skip
        earlier[row.loan_id] = row
    return found
