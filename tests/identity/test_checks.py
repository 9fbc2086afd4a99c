"""The KYC checks on their own: national IDs, age, watch-list screening, document sniffing."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import pytest

from backend.identity.checks.age import age_on, check_age
from backend.identity.checks.documents import check_document
from backend.identity.checks.national_id import (
    IdType,
    index_key_of,
    mrz_check_digit,
    parse,
    parse_passport_mrz,
    parse_prc,
    prc_check_char,
)
from backend.identity.checks.reasons import Code, Disposition, Reason
from backend.identity.checks.sanctions import load_watchlist, screen
from tests.identity.conftest import JPEG, PDF, PNG

ICAO_SAMPLE = "L898902C36UTO7408122F1204159ZE184226B<<<<<10"  # ICAO 9303 part 4 specimen
SAMPLE_LIST = Path(__file__).resolve().parents[2] / "data" / "watchlist_sample.csv"


def code_of(outcome) -> Code | None:
    return outcome.code if isinstance(outcome, Reason) else None


def test_prc_known_valid_number_and_its_birth_date():
    parsed = parse_prc("11010519491231002X")
    assert parsed.normalised == "PRC:11010519491231002X" and parsed.birth_date == date(1949, 12, 31)
    assert parse_prc("110105 19491231 002x").normalised == "PRC:11010519491231002X"  # spaces, lower-case x


@pytest.mark.parametrize(
    "number, code",
    [
        ("110105194912310021", Code.ID_CHECKSUM),  # check character altered
        ("11010519491231003X", Code.ID_CHECKSUM),  # a digit altered
        ("1101051949123100", Code.ID_FORMAT),  # too short
        ("01010519491231002X", Code.ID_FORMAT),  # region cannot start with 0
        ("1101051949123100XX", Code.ID_FORMAT),
    ],
)
def test_prc_malformed_numbers(number, code):
    assert code_of(parse_prc(number)) == code


def test_prc_impossible_birth_date_with_a_valid_check_character():
    first17 = "11010519490231002"  # 31 February
    assert code_of(parse_prc(first17 + prc_check_char(first17))) == Code.ID_FORMAT


def test_prc_birth_date_must_match_the_stated_one():
    assert code_of(parse(IdType.PRC_RESIDENT_ID, "11010519491231002X", date(1949, 12, 30), "CHN")) == Code.ID_DOB_MISMATCH
    assert code_of(parse(IdType.PRC_RESIDENT_ID, "11010519491231002X", date(1949, 12, 31), "DEU")) == Code.ID_NATIONALITY_MISMATCH


def test_icao_check_digits_of_the_specimen():
    assert [mrz_check_digit(f) for f in ("L898902C3", "740812", "120415")] == ["6", "2", "9"]
    parsed = parse_passport_mrz(ICAO_SAMPLE, date(1974, 8, 12), today=date(2010, 1, 1))
    assert parsed.normalised == "PASSPORT:UTO:L898902C3" and parsed.birth_date == date(1974, 8, 12)


def test_a_passports_blind_index_input_is_its_number_alone():
    """line[10:13] is under no check digit (review M1), and the others are a public checksum: the
    same passport with UTO or FRA there parses, keeps its nationality in the sealed form, and gives
    one index input."""
    other = ICAO_SAMPLE[:10] + "FRA" + ICAO_SAMPLE[13:]
    specimen, changed = (parse_passport_mrz(line, date(1974, 8, 12), today=date(2010, 1, 1)) for line in (ICAO_SAMPLE, other))
    assert (specimen.normalised, changed.normalised) == ("PASSPORT:UTO:L898902C3", "PASSPORT:FRA:L898902C3")
    assert specimen.index_key == changed.index_key == "PASSPORT:L898902C3"
    assert index_key_of(specimen.normalised) == specimen.index_key  # re-indexing a stored record
    german = parse_passport_mrz(ICAO_SAMPLE[:10] + "D<<" + ICAO_SAMPLE[13:], date(1974, 8, 12), today=date(2010, 1, 1))
    assert german.nationality == "DEU" and german.index_key == specimen.index_key
    prc = parse_prc("11010519491231002X")
    assert prc.index_key == prc.normalised == index_key_of(prc.normalised)  # PRC indexes never changed


@pytest.mark.parametrize("position", [9, 19, 27, 43, 0, 14])
def test_icao_any_altered_character_breaks_a_check_digit(position):
    line = list(ICAO_SAMPLE)
    line[position] = "7" if line[position] != "7" else "8"
    assert code_of(parse_passport_mrz("".join(line), today=date(2010, 1, 1))) == Code.ID_CHECKSUM


def test_icao_expired_passport_and_wrong_length():
    assert code_of(parse_passport_mrz(ICAO_SAMPLE, today=date(2020, 1, 1))) == Code.ID_EXPIRED
    assert code_of(parse_passport_mrz(ICAO_SAMPLE[:-1])) == Code.ID_FORMAT


def test_age_boundaries():
    assert age_on(date(2000, 2, 29), date(2018, 2, 28)) == 17
    assert age_on(date(2000, 2, 29), date(2018, 3, 1)) == 18
    assert check_age(date(2000, 6, 15), date(2018, 6, 15), 18) is None
    under = check_age(date(2000, 6, 16), date(2018, 6, 15), 18)
    assert under.code == Code.UNDER_AGE and under.disposition == Disposition.REJECT
    assert check_age(date(2030, 1, 1), date(2018, 6, 15), 18).code == Code.DOB_INVALID
    assert check_age(date(1850, 1, 1), date(2018, 6, 15), 18).code == Code.DOB_INVALID


def test_watchlist_hits_spelling_variants_and_word_order_when_birth_date_agrees():
    entries = load_watchlist(SAMPLE_LIST)
    for name in ("Viktor Blacklistov", "Victor Blacklistow", "BLACKLISTOV, Viktor Petrovich"):
        hit = screen(name, date(1968, 3, 14), entries, 88)
        assert hit and hit.code == Code.SANCTIONS_MATCH and hit.disposition == Disposition.REVIEW, name
        assert "threshold 88" in hit.message and "SAMPLE-001" in hit.message
    assert screen("Chen Wu Ming", date(1975, 11, 2), entries, 88)  # spacing variant
    assert screen("Maria Sanctionado", date(1981, 7, 1), entries, 88)  # year-only entry


def test_watchlist_misses_other_people():
    entries = load_watchlist(SAMPLE_LIST)
    assert screen("Victor Blacklistow", date(1990, 1, 1), entries, 88) is None  # a variant with another birth date
    assert screen("Maria Sanchez", date(1981, 7, 1), entries, 88) is None
    assert screen("Li Wei", date(1962, 1, 30), entries, 88) is None  # a common name inside a listed one


def test_documents_are_recognised_by_magic_bytes_only():
    assert [check_document(b, 1000) for b in (PNG, JPEG, PDF)] == ["image/png", "image/jpeg", "application/pdf"]
    assert check_document(b"GIF89a" + b"\x00" * 10, 1000).code == Code.DOCUMENT_TYPE
    assert check_document(b"<html>%PDF-", 1000).code == Code.DOCUMENT_TYPE
    assert check_document(PNG + b"\x00" * 1000, 1000).code == Code.DOCUMENT_TOO_LARGE
