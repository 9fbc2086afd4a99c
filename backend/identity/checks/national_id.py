"""National ID formats and their check digits.

- `prc_resident_id`: PRC resident identity card, GB 11643-1999: 17 digits and an ISO 7064
  MOD 11-2 check character (0-9 or X); digits 7-14 are the holder's birth date.
- `passport_mrz`: the second line of an ICAO 9303 TD3 passport MRZ (44 characters): document
  number, nationality, birth date, sex, expiry, personal number, each with its 7-3-1 check digit,
  and a composite check digit over all of them.

`parse` returns the normalised ID (what the sealed record and its commitment hold) and the blind
index's input, or a `Reason` naming what is wrong. The blind index hashes only what a sender cannot
change at will: a PRC ID whole; a passport's document number alone. Its nationality has no check digit,
and its birth date's check digit is a public checksum anyone can recompute, so one passport sent with
another country code or birth date is still the same identity (security review M1). Records sealed
before that are re-indexed from their data by `kyc/reindex.py`.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date
from enum import StrEnum

from backend.identity.checks.countries import ICAO_SHORT_CODES
from backend.identity.checks.reasons import Code, Reason, invalid


class IdType(StrEnum):
    PRC_RESIDENT_ID = "prc_resident_id"
    PASSPORT_MRZ = "passport_mrz"


@dataclass(frozen=True)
class ParsedId:
    id_type: IdType
    normalised: str  # canonical form: what the sealed record and the commitment see
    birth_date: date
    nationality: str  # ISO 3166-1 alpha-3 (ICAO's D<< read as DEU)
    index_key: str  # what the blind index hashes (see the module docstring)


# --- PRC resident identity card ---------------------------------------------------------------

PRC_WEIGHTS = (7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2)
PRC_CHECK = "10X98765432"  # ISO 7064 MOD 11-2: index = weighted sum mod 11
PRC_PATTERN = re.compile(r"^[1-9]\d{16}[\dX]$")


def prc_check_char(first17: str) -> str:
    return PRC_CHECK[sum(int(d) * w for d, w in zip(first17, PRC_WEIGHTS)) % 11]


def parse_prc(raw: str) -> ParsedId | Reason:
    number = re.sub(r"[\s-]", "", raw).upper()
    if not PRC_PATTERN.match(number):
        return invalid(Code.ID_FORMAT, "a PRC resident ID is 17 digits followed by a digit or X")
    if prc_check_char(number[:17]) != number[17]:
        return invalid(Code.ID_CHECKSUM, "the PRC resident ID check character (ISO 7064 MOD 11-2) does not match")
    try:
        born = date(int(number[6:10]), int(number[10:12]), int(number[12:14]))
    except ValueError:
        return invalid(Code.ID_FORMAT, "the PRC resident ID does not encode a valid birth date")
    return ParsedId(IdType.PRC_RESIDENT_ID, f"PRC:{number}", born, "CHN", f"PRC:{number}")


# --- ICAO 9303 passport MRZ (TD3 line 2) -------------------------------------------------------

MRZ_WEIGHTS = (7, 3, 1)
MRZ_LINE2 = re.compile(r"^[A-Z0-9<]{9}[0-9][A-Z<]{3}[0-9]{6}[0-9][MFX<][0-9]{6}[0-9][A-Z0-9<]{14}[0-9<][0-9]$")


def mrz_value(char: str) -> int:
    if char.isdigit():
        return int(char)
    if char == "<":
        return 0
    return ord(char) - ord("A") + 10


def mrz_check_digit(field: str) -> str:
    return str(sum(mrz_value(c) * MRZ_WEIGHTS[i % 3] for i, c in enumerate(field)) % 10)


def _mrz_birth_date(yymmdd: str, stated: date | None) -> date | None:
    """Two-digit years: take the century that agrees with the stated birth date, else the past one."""
    yy, mm, dd = int(yymmdd[:2]), int(yymmdd[2:4]), int(yymmdd[4:6])
    centuries = [stated.year // 100 * 100] if stated and stated.year % 100 == yy else []
    centuries += [2000 if 2000 + yy <= date.today().year else 1900]
    for century in centuries:
        try:
            return date(century + yy, mm, dd)
        except ValueError:
            continue
    return None


def parse_passport_mrz(raw: str, stated_birth_date: date | None = None, today: date | None = None) -> ParsedId | Reason:
    line = re.sub(r"\s", "", raw).upper()
    if not MRZ_LINE2.match(line):
        return invalid(Code.ID_FORMAT, "a passport MRZ second line is 44 characters of A-Z, 0-9 and <")
    number, nationality = line[0:9], line[10:13]
    checks = [
        (line[0:9], line[9], "document number"),
        (line[13:19], line[19], "birth date"),
        (line[21:27], line[27], "expiry date"),
        (line[28:42], line[42] if line[42] != "<" else "0", "personal number"),
        (line[0:10] + line[13:20] + line[21:43], line[43], "composite"),
    ]
    for field, digit, name in checks:
        if mrz_check_digit(field) != digit:
            return invalid(Code.ID_CHECKSUM, f"the passport MRZ {name} check digit (ICAO 9303) does not match")
    born = _mrz_birth_date(line[13:19], stated_birth_date)
    try:
        expires = date(2000 + int(line[21:23]), int(line[23:25]), int(line[25:27]))
    except ValueError:
        return invalid(Code.ID_FORMAT, "the passport MRZ does not encode a valid expiry date")
    if born is None:
        return invalid(Code.ID_FORMAT, "the passport MRZ does not encode a valid birth date")
    if expires < (today or date.today()):
        return invalid(Code.ID_EXPIRED, "the passport has expired")
    code = nationality.replace("<", "")
    return ParsedId(IdType.PASSPORT_MRZ, f"PASSPORT:{nationality}:{number.rstrip('<')}", born, ICAO_SHORT_CODES.get(code, code),
                    passport_index_key(number))  # fmt: skip


def passport_index_key(number: str) -> str:
    """The document number alone. Every other MRZ field is the applicant's to write: check digits
    are a public checksum, not a seal, so a nationality or birth date in the key would let one
    passport sent again with it changed (digits recomputed) pass as a new identity. Two countries'
    passports that share a number meet in review (DUPLICATE_IDENTITY): the safe direction."""
    return f"PASSPORT:{number.rstrip('<')}"


def index_key_of(normalised: str) -> str:
    """The blind index's input for a stored record, from its normalised ID."""
    return passport_index_key(normalised.rsplit(":", 1)[-1]) if normalised.startswith("PASSPORT:") else normalised


def parse(id_type: IdType, raw: str, stated_birth_date: date, stated_nationality: str, today: date | None = None) -> ParsedId | Reason:
    """Parse and cross-check an ID against the stated birth date and nationality."""
    parsed = parse_prc(raw) if id_type == IdType.PRC_RESIDENT_ID else parse_passport_mrz(raw, stated_birth_date, today)
    if isinstance(parsed, Reason):
        return parsed
    if parsed.birth_date != stated_birth_date:
        return invalid(Code.ID_DOB_MISMATCH, "the birth date encoded in the ID differs from the stated date of birth")
    if parsed.nationality != stated_nationality:
        return invalid(Code.ID_NATIONALITY_MISMATCH, "the ID's issuing nationality differs from the stated nationality")
    return parsed


def masked(normalised: str) -> str:
    """Last four characters only, for admins who have not asked to reveal."""
    number = normalised.rsplit(":", 1)[-1]
    return "*" * max(len(number) - 4, 0) + number[-4:]
