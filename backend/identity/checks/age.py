"""Age on a given day, in whole years (a 29 February birthday counts from 1 March in common years)."""

from __future__ import annotations

from datetime import date

from backend.identity.checks.reasons import Code, Disposition, Reason, invalid

OLDEST_PLAUSIBLE = 130


def age_on(born: date, today: date) -> int:
    return today.year - born.year - ((today.month, today.day) < (born.month, born.day))


def check_age(born: date, today: date, minimum: int) -> Reason | None:
    if born > today:
        return invalid(Code.DOB_INVALID, "the date of birth is in the future")
    years = age_on(born, today)
    if years > OLDEST_PLAUSIBLE:
        return invalid(Code.DOB_INVALID, f"the date of birth is more than {OLDEST_PLAUSIBLE} years ago")
    if years < minimum:
        return Reason(Code.UNDER_AGE, f"the applicant must be at least {minimum} years old", Disposition.REJECT)
    return None
