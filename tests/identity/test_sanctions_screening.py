"""A listed name is screened on the name: a birth date the applicant types does not clear it, and
added words do not hide it. Regression of the fraud review's H2 (the MRZ birth date moved a day,
with its public check digits recomputed, cleared a listed person; "Olga Embargova-Smith" passed)."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import pytest
from eth_account import Account

from backend.db.session import session_scope
from backend.identity.checks.sanctions import load_watchlist, screen
from backend.identity.kyc.submission import submit
from backend.identity.schemas import KycCreate
from tests.identity.conftest import make_applicant
from tests.identity.test_kyc_dedup import mrz

ENTRIES = load_watchlist(Path(__file__).resolve().parents[2] / "data" / "watchlist_sample.csv")
LISTED_BORN = date(1968, 3, 14)  # SAMPLE-001, Viktor Petrovich Blacklistov


# a day later, a day earlier, another day of that year, another year
@pytest.mark.parametrize("born", [date(1968, 3, 15), date(1968, 3, 13), date(1968, 2, 14), date(1990, 1, 1)])
def test_a_listed_name_is_a_hit_whatever_birth_date_is_typed(born):
    hit = screen("Viktor Petrovich Blacklistov", born, ENTRIES, 88)
    assert hit and "SAMPLE-001" in hit.message and "not verified by a document" in hit.message


def test_a_differing_birth_date_lowers_the_score_and_clears_only_when_a_document_proved_it():
    near = screen("Viktor Blacklistov", date(1968, 3, 15), ENTRIES, 88)  # a day off
    far = screen("Viktor Blacklistov", date(1990, 1, 1), ENTRIES, 88)
    assert "lowered to 97.0" in near.message and "lowered to 90.0" in far.message
    assert screen("Victor Blacklistow", date(1990, 1, 1), ENTRIES, 88) is None  # a variant and another date: below
    assert screen("Viktor Blacklistov", date(1990, 1, 1), ENTRIES, 88, dob_verified=True) is None


@pytest.mark.parametrize("name", ["Olga Embargova-Smith", "Olga Maria Embargova", "Smith-Embargova Olga", "Olga Embargowa Smith"])
def test_a_listed_name_inside_a_longer_one_is_a_hit(name):
    hit = screen(name, date(1979, 5, 9), ENTRIES, 88)
    assert hit and "SAMPLE-007" in hit.message, name


@pytest.mark.parametrize("name", ["Li Wei", "Wei Li", "Olga Smith", "Maria Sanchez", "John Smith", "Chen Wei", "Li Wei Chen"])
def test_a_shorter_or_shared_name_is_not_a_hit(name):
    assert screen(name, date(1962, 1, 30), ENTRIES, 88) is None, name


def test_a_listed_name_is_a_hit_whatever_birth_date_the_mrz_claims(settings):
    """Through a submission: the birth date moved a day in the passport's MRZ, its check digits
    recomputed (public arithmetic), still goes to review."""
    for seed, born, number in ((22, LISTED_BORN, "751234567"), (23, date(1968, 3, 15), "751234568")):
        applicant = make_applicant(seed, born=born)  # a phone of its own: one phone on two passports is SHARED_CONTACT
        applicant.full_name = "Viktor Petrovich Blacklistov"
        form = applicant.form() | {"nationality": "RUS", "id_type": "passport_mrz", "id_number": mrz(number, "RUS", born)}
        with session_scope(settings) as s:
            record = submit(s, settings, Account.create().address, KycCreate(**form), [])
            assert record.status == "needs_review" and [r["code"] for r in record.reasons] == ["SANCTIONS_MATCH"], born
