"""Monitoring rule over the scheduled fair-lending checks (backend/scoring/fair_lending_checks.py):

- `fair_lending`: a daily check that flags an age band the check before it did not flag (the first
  check flagging any included). The check only records its finding, for staff to read in its own list;
  raised here, it reaches the alerts staff already review, once per band newly flagged, not once a day
  while it stays flagged. Counts only: the alert names no applicant and no wallet."""

from __future__ import annotations

from collections.abc import Callable

from sqlalchemy import select
from sqlalchemy.orm import Session

from backend.audit.schemas import AlertPublic
from backend.db.base import as_utc
from backend.scoring.models import FairLendingCheck


def fair_lending_flags(db: Session, alert: Callable[..., AlertPublic]) -> list[AlertPublic]:
    rows = db.execute(select(FairLendingCheck.id, FairLendingCheck.checked_on, FairLendingCheck.checked_at,
                             FairLendingCheck.since, FairLendingCheck.until, FairLendingCheck.flagged)
                      .order_by(FairLendingCheck.checked_on))  # fmt: skip
    found, before = [], set()
    for check_id, day, at, since, until, flagged in rows:
        new = sorted(set(flagged or []) - before)
        if new:
            found.append(alert(
                rule="fair_lending", loan_id=None, wallets=[], tx_hashes=[], timestamp=int(as_utc(at).timestamp()),
                amount=0, also=[f"fair-lending-check:{check_id}"],
                detail=f"the fair-lending check of {day:%Y-%m-%d} found the approval rate of the age band(s) "
                       f"{', '.join(new)} below four fifths of the best band's over {as_utc(since):%Y-%m-%d} to "
                       f"{as_utc(until):%Y-%m-%d}: the counts are in GET /api/v1/score/fairness/checks",
            ))  # fmt: skip
        before = set(flagged or [])
    return found
