"""Sanctions and watch-list screening: fuzzy name match, confirmed or cleared by date of birth.

The list is a CSV file (`LOANCHAIN_KYC_WATCHLIST_PATH`) with a header row:

    id,name,aliases,dob,nationality,list

- `aliases`: other spellings, separated by `;` (may be empty)
- `dob`: `YYYY-MM-DD`, or `YYYY` when only the year is known, or empty
- `nationality`: ISO 3166-1 alpha-3 or empty; informational
- `list`: which list the entry comes from (e.g. `OFAC-SDN`, `UN`, `internal`)

Names and aliases are normalised (accents removed, case folded, punctuation dropped) and compared
with rapidfuzz: the better of `token_sort_ratio`, which ignores word order ("Doe John" = "John
Doe"), and a plain ratio with spaces removed ("Wu Ming" = "Wuming"). A score at or above the
threshold (default 88/100: tolerates a one- or two-letter spelling variant in a full name, while
distinct names sharing a given name or a surname stay well below it) is a hit when the entry's date of birth agrees
(same date, same year for year-only entries) or the entry has none. A differing date of birth
clears the name match: the standard way screening keeps false positives of common names down.
"""

from __future__ import annotations

import csv
import re
import unicodedata
from dataclasses import dataclass
from datetime import date
from functools import lru_cache
from pathlib import Path

from rapidfuzz import fuzz, process

from backend.errors import ConfigurationError
from backend.identity.checks.reasons import Code, Disposition, Reason


@dataclass(frozen=True)
class WatchlistEntry:
    entry_id: str
    names: tuple[str, ...]  # normalised name and aliases
    dob: str  # "", "YYYY" or "YYYY-MM-DD"
    list_name: str


def normalise_name(name: str) -> str:
    decomposed = unicodedata.normalize("NFKD", name)
    ascii_ish = "".join(c for c in decomposed if not unicodedata.combining(c))
    return re.sub(r"\s+", " ", re.sub(r"[^\w\s]", " ", ascii_ish.casefold())).strip()


def _valid_dob(value: str) -> bool:
    if not value or re.fullmatch(r"\d{4}", value):
        return True
    try:
        date.fromisoformat(value)
        return True
    except ValueError:
        return False


@lru_cache(maxsize=4)
def _load(path: Path, mtime: float) -> tuple[WatchlistEntry, ...]:
    entries = []
    with path.open(newline="", encoding="utf-8") as handle:
        reader = csv.DictReader(handle)
        missing = {"id", "name", "aliases", "dob", "list"} - set(reader.fieldnames or ())
        if missing:
            raise ConfigurationError(f"watch list {path} lacks columns: {', '.join(sorted(missing))}")
        for line, row in enumerate(reader, start=2):
            dob = (row["dob"] or "").strip()
            if not _valid_dob(dob):
                raise ConfigurationError(f"watch list {path} line {line}: dob must be YYYY-MM-DD, YYYY or empty")
            names = [row["name"], *(row["aliases"] or "").split(";")]
            normalised = tuple(n for n in (normalise_name(x) for x in names) if n)
            entries.append(WatchlistEntry(row["id"].strip(), normalised, dob, (row["list"] or "").strip()))
    return tuple(entries)


def load_watchlist(path: Path) -> tuple[WatchlistEntry, ...]:
    if not path.exists():
        raise ConfigurationError(f"watch list file {path} does not exist (LOANCHAIN_KYC_WATCHLIST_PATH)")
    return _load(path, path.stat().st_mtime)  # reloaded when the file changes


def dob_agrees(entry_dob: str, born: date) -> bool:
    if not entry_dob:
        return True
    if len(entry_dob) == 4:
        return int(entry_dob) == born.year
    return date.fromisoformat(entry_dob) == born


def similarity(a: str, b: str, **_: object) -> float:
    return max(fuzz.token_sort_ratio(a, b), fuzz.ratio(a.replace(" ", ""), b.replace(" ", "")))


def screen(full_name: str, born: date, watchlist: tuple[WatchlistEntry, ...], threshold: float) -> Reason | None:
    name = normalise_name(full_name)
    best: tuple[float, WatchlistEntry] | None = None
    for entry in watchlist:
        match = process.extractOne(name, entry.names, scorer=similarity, score_cutoff=threshold)
        if match is None or not dob_agrees(entry.dob, born):
            continue
        if best is None or match[1] > best[0]:
            best = (match[1], entry)
    if best is None:
        return None
    score, entry = best
    dob_note = "date of birth agrees" if entry.dob else "entry has no date of birth"
    return Reason(
        Code.SANCTIONS_MATCH,
        f"name similarity {score:.1f} >= threshold {threshold:g} with {entry.list_name or 'watch list'} "
        f"entry {entry.entry_id}; {dob_note}",
        Disposition.REVIEW,
    )
