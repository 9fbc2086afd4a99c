"""Quiet hours for text messages: none before 08:00 or from 21:00 in the borrower's own time, as
Reg F §1006.6(b)(1)(i) and FCA CONC 7.9 expect of collection contact (review-servicing M3).

The borrower's time zone is read from the KYC record's address country: every zone tzdata lists for
that country (`zone1970.tab`) must be within the allowed hours, so a country spanning several (the
United States, Russia, China) is texted only while it is day in all of them. A country tzdata does
not know, or no KYC country, is judged in UTC. The phone number's country code is not used (a number
moves with its owner; the address is what KYC checked). A country never within the hours in all its
zones at once (Antarctica) is refused, not deferred."""

from __future__ import annotations

from datetime import datetime
from functools import cache
from importlib import resources
from pathlib import Path
from zoneinfo import TZPATH, ZoneInfo

from backend.identity.checks.countries import ALPHA2
from backend.servicing.channels import DeliveryRefused

QUIET_FROM, QUIET_UNTIL = 21, 8  # local hours: no text from 21:00 to 08:00
STEP = 15 * 60  # the next allowed moment, to the quarter hour



@cache
def _zone_table() -> dict[str, tuple[str, ...]]:
    """alpha-2 country code -> its IANA zones, from tzdata's zone1970.tab (the system's, or the
    `tzdata` package's); empty when neither is there (every country is then judged in UTC)."""
    text = None
    for base in TZPATH:
        path = Path(base) / "zone1970.tab"
        if path.is_file():
            text = path.read_text()
            break
    if text is None:
        try:
            text = (resources.files("tzdata") / "zoneinfo" / "zone1970.tab").read_text()
        except (ModuleNotFoundError, FileNotFoundError):
            return {}
    zones: dict[str, list[str]] = {}
    for line in text.splitlines():
        if line and not line.startswith("#"):
            codes, _, zone, *_ = line.split("\t")
            for code in codes.split(","):
                zones.setdefault(code, []).append(zone)
    return {code: tuple(names) for code, names in zones.items()}


def zones_of(country: str | None) -> tuple[ZoneInfo, ...]:
    """The time zones of an address country (alpha-3); UTC when unknown."""
    names = _zone_table().get(ALPHA2.get((country or "").upper(), ""), ())
    return tuple(ZoneInfo(name) for name in names) or (ZoneInfo("UTC"),)


def _quiet_at(ts: int, zones: tuple[ZoneInfo, ...]) -> bool:
    return any(not QUIET_UNTIL <= datetime.fromtimestamp(ts, zone).hour < QUIET_FROM for zone in zones)


def next_allowed(now: int, country: str | None) -> int | None:
    """None when a text may go now; else the first quarter hour at which it may (within two days).
    DeliveryRefused when there is none: a country whose zones are never all within the hours at
    once (Antarctica's span every offset) would otherwise be deferred for ever, never counted."""
    zones = zones_of(country)
    if not _quiet_at(now, zones):
        return None
    at = now - now % STEP + STEP
    while at < now + 2 * 86_400 and _quiet_at(at, zones):
        at += STEP
    if _quiet_at(at, zones):  # two days, DST changes included, and never day in every zone
        raise DeliveryRefused(f"not sent: no time of day is outside quiet hours in every time zone of {country}")
    return at
