"""Sanctions and watch-list screening: fuzzy name match, its score lowered by a differing birth date.

The list is a CSV file (`LOANCHAIN_KYC_WATCHLIST_PATH`) with a header row:

    id,name,aliases,dob,nationality,list

- `aliases`: other spellings, separated by `;` (may be empty)
- `dob`: `YYYY-MM-DD`, or `YYYY` when only the year is known, or empty
- `nationality`: ISO 3166-1 alpha-3 or empty; informational
- `list`: which list the entry comes from (e.g. `OFAC-SDN`, `UN`, `internal`)

Names and aliases are normalised (accents removed, case folded, hyphens and other punctuation
read as spaces) and compared with rapidfuzz: the better of `token_sort_ratio`, which ignores word
order ("Doe John" = "John Doe"), and a plain ratio with spaces removed ("Wu Ming" = "Wuming"). A
listed name of two or more words is also compared with every choice of as many words of the
applicant's name, so added words do not hide it ("Olga Embargova-Smith", "Olga Maria Embargova"
contain "Olga Embargova"); never the other way round, or every "Li Wei" would match "Li Wei
Sanctioned". A score at or above the threshold (default 88/100: tolerates a one- or two-letter
spelling variant in a full name, while distinct names sharing a given name or a surname stay well
below it) is a hit.

A differing date of birth clears a name match only when a document proved the applicant's date
(`dob_verified`). Nothing here does: a passport's birth date is the applicant's to type (the check
digits are public arithmetic), and a PRC ID number exists for any date, so clearing on it let a
listed person pass by moving the date a day. An unverified differing date lowers the score instead,
by `NEAR_DOB_PENALTY` when it is a day off, has day and month swapped, or shares the year, and by
`OTHER_DOB_PENALTY` otherwise: a listed name typed exactly is a hit whatever the date, while a
spelling variant with another date falls below the threshold, which keeps common names' false
positives down.
"""

from __future__ import annotations

import csv
import re
import unicodedata
from dataclasses import dataclass
from datetime import date, timedelta
from functools import lru_cache
from itertools import combinations
from pathlib import Path

from rapidfuzz import fuzz, process

from backend.errors import ConfigurationError
from backend.identity.checks.reasons import Code, Disposition, Reason

NEAR_DOB_PENALTY = 3  # a typo, or a dodge: a day off, day and month swapped, the same year
OTHER_DOB_PENALTY = 10  # under 100 - the default threshold, so an exact name stays a hit
MAX_NAME_WORDS = 8  # of the applicant's name, compared by subsets (a real name has fewer)


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


def dob_penalty(entry_dob: str, born: date) -> int:
    """What a differing, unverified birth date takes off a name's score (0 when it agrees)."""
    if dob_agrees(entry_dob, born):
        return 0
    if len(entry_dob) == 4:
        return OTHER_DOB_PENALTY
    listed = date.fromisoformat(entry_dob)  # the same year covers day and month swapped
    near = abs(listed - born) <= timedelta(days=1) or listed.year == born.year
    return NEAR_DOB_PENALTY if near else OTHER_DOB_PENALTY


def _plain(a: str, b: str) -> float:
    return max(fuzz.token_sort_ratio(a, b), fuzz.ratio(a.replace(" ", ""), b.replace(" ", "")))


def similarity(a: str, b: str, **_: object) -> float:
    """How close applicant name `a` is to listed name `b`, or to any choice of as many of its words."""
    best = _plain(a, b)
    words, listed = a.split()[:MAX_NAME_WORDS], len(b.split())
    if 2 <= listed < len(words):
        best = max(best, *(_plain(" ".join(part), b) for part in combinations(words, listed)))
    return best


def screen(full_name: str, born: date, watchlist: tuple[WatchlistEntry, ...], threshold: float,
           dob_verified: bool = False) -> Reason | None:  # fmt: skip
    """The best watch-list hit for this name and birth date, or None. `dob_verified`: a document
    proved the birth date, so one differing from the entry's clears the name match."""
    name = normalise_name(full_name)
    best: tuple[float, float, WatchlistEntry] | None = None
    for entry in watchlist:
        match = process.extractOne(name, entry.names, scorer=similarity, score_cutoff=threshold)
        if match is None:
            continue
        penalty = dob_penalty(entry.dob, born)
        if penalty and dob_verified:
            continue
        score = match[1] - penalty
        if score >= threshold and (best is None or score > best[0]):
            best = (score, match[1], entry)
    if best is None:
        return None
    score, name_score, entry = best
    if score < name_score:
        dob_note = f"date of birth differs, not verified by a document: name score {name_score:.1f} lowered to {score:.1f}"
    else:
        dob_note = "date of birth agrees" if entry.dob else "entry has no date of birth"
    return Reason(
        Code.SANCTIONS_MATCH,
        f"name similarity {score:.1f} >= threshold {threshold:g} with {entry.list_name or 'watch list'} "
        f"entry {entry.entry_id}; {dob_note}",
        Disposition.REVIEW,
    )
