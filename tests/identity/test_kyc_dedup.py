"""One national ID is verified on a second wallet only through the two-admin DUPLICATE_IDENTITY review,
whatever the order of events. Regression of the security review's M2 (a duplicate sent while the
first record waited for review was approved with no one looking, and the first was then cleared by
one admin) and M1 (a passport's nationality field, which no check digit covers, changed to get a fresh
blind index)."""

from __future__ import annotations

import json
import threading
from datetime import date

import pytest
from eth_account import Account
from typer.testing import CliRunner

from backend.cli.main import app
from backend.config import get_settings
from backend.db.session import session_scope
from backend.errors import Forbidden
from backend.identity.checks.national_id import mrz_check_digit
from backend.identity.crypto.blind_index import blind_index, blind_index_key
from backend.identity.kyc import review
from backend.identity.kyc.submission import submit
from backend.identity.models import KycRecord
from backend.identity.persons import same_person
from backend.identity.schemas import KycCreate
from tests.anchoring.helpers import point_get_settings_at
from tests.identity.conftest import ADMIN, identity_settings, make_applicant

SECOND_ADMIN = Account.from_key("0x" + "a2" * 32)
SHARED = "81.2.69.160"


def codes(record) -> list[str]:
    return [r["code"] for r in record.reasons]


def _held_for_shared_origin(settings, wallet: str, applicant) -> str:
    """`wallet` submits `applicant`'s ID from an address four other wallets applied from: held for
    SHARED_ORIGIN only, a flag one admin clears."""
    for i in range(4):
        with session_scope(settings) as s:
            submit(s, settings, Account.create().address, KycCreate(**make_applicant(100 + i).form()), [], client_address=SHARED)
    with session_scope(settings) as s:
        first = submit(s, settings, wallet, KycCreate(**applicant.form()), [], client_address=SHARED)
        assert first.status == "needs_review" and codes(first) == ["SHARED_ORIGIN"]
        return first.id


def test_a_duplicate_sent_while_the_first_waits_for_review_is_held_and_the_first_then_needs_two_admins(tmp_path, database_url):
    settings = identity_settings(tmp_path, database_url, admin_wallets=[ADMIN.address, SECOND_ADMIN.address])
    owner_id, a, b = make_applicant(7), Account.create().address, Account.create().address
    first_id = _held_for_shared_origin(settings, a, owner_id)
    with session_scope(settings) as s:  # the same ID from another wallet and address
        second = submit(s, settings, b, KycCreate(**owner_id.form()), [], client_address="81.2.69.200")
        assert second.status == "needs_review" and codes(second) == ["DUPLICATE_IDENTITY"]
        assert review.same_id_wallets(s, second) == [a]  # the reviewer is told whom it matched
    with session_scope(settings) as s:  # one admin no longer clears the first alone
        held = review.approve(s, settings, first_id, ADMIN.address, "office address, fine")
        assert held.status == "needs_review" and codes(held) == ["SHARED_ORIGIN", "DUPLICATE_IDENTITY", "FIRST_APPROVAL"]
    with session_scope(settings) as s, pytest.raises(Forbidden, match="second admin"):
        review.approve(s, settings, first_id, ADMIN.address, "again")
    with session_scope(settings) as s:
        approved = review.approve(s, settings, first_id, SECOND_ADMIN.address, "the owner, seen on a call")
        assert approved.status == "approved" and "DUPLICATE_IDENTITY" in codes(approved)


@pytest.mark.parametrize("database_url", ["postgres"], indirect=True)
def test_two_wallets_submitting_one_id_at_once_are_not_both_approved(tmp_path, database_url):
    """PostgreSQL: the wallets' row locks are two rows; the national ID's advisory lock makes the
    second submission wait for the first to commit, and then see it."""
    settings = identity_settings(tmp_path, database_url)
    blind_index_key(settings)  # its fingerprint is recorded at first use: not by both threads at once
    owner_id = make_applicant(9)
    results: list[str] = []
    barrier = threading.Barrier(2)

    def apply() -> None:
        wallet = Account.create().address
        barrier.wait()
        with session_scope(settings) as s:
            results.append(submit(s, settings, wallet, KycCreate(**owner_id.form()), []).status)

    threads = [threading.Thread(target=apply) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    assert sorted(results) == ["approved", "needs_review"], results


# --- M1: the passport's nationality, which no check digit covers ---------------------------------

BORN = date(1985, 4, 12)


def mrz(number: str, nationality: str, born: date = BORN, expires: date = date(2031, 1, 1)) -> str:
    """A TD3 second line with valid check digits; the nationality (line[10:13]) is under none."""
    num, dob, exp = number.ljust(9, "<"), born.strftime("%y%m%d"), expires.strftime("%y%m%d")
    line = num + mrz_check_digit(num) + nationality.ljust(3, "<") + dob + mrz_check_digit(dob) + "M" + exp + mrz_check_digit(exp) + "<" * 15
    return line + mrz_check_digit(line[0:10] + line[13:20] + line[21:43])


def passport(seed: int, nationality: str, number: str = "C01X00T47") -> KycCreate:
    applicant = make_applicant(seed, born=BORN)
    stated = "DEU" if nationality == "D" else nationality
    return KycCreate(**applicant.form() | {"id_type": "passport_mrz", "nationality": stated, "id_number": mrz(number, nationality)})


def test_one_passport_sent_with_another_nationality_code_is_the_same_identity(tmp_path, database_url):
    settings = identity_settings(tmp_path, database_url)
    a, b, c = (Account.create().address for _ in range(3))
    with session_scope(settings) as s:
        assert submit(s, settings, a, passport(1, "DEU"), []).status == "approved"
    with session_scope(settings) as s:
        second = submit(s, settings, b, passport(1, "FRA"), [])  # same number, birth date and name
        assert second.status == "needs_review" and codes(second) == ["DUPLICATE_IDENTITY"]
        assert same_person(s, a, b)
    with session_scope(settings) as s:  # ICAO writes Germany as D<<: the same passport again
        third = submit(s, settings, c, passport(2, "D"), [])
        assert third.status == "needs_review" and "DUPLICATE_IDENTITY" in codes(third) and same_person(s, a, c)


def test_one_passport_sent_with_another_birth_date_is_the_same_identity(tmp_path):
    """The MRZ birth date is under a check digit, but anyone can recompute it: it is no seal."""
    settings = identity_settings(tmp_path, f"sqlite:///{tmp_path / 'b.db'}")
    a, b = Account.create().address, Account.create().address
    with session_scope(settings) as s:
        assert submit(s, settings, a, passport(1, "DEU"), []).status == "approved"
    other_day = date(1985, 4, 13)
    moved = KycCreate(**passport(1, "DEU").model_dump() | {"date_of_birth": other_day, "id_number": mrz("C01X00T47", "DEU", other_day)})
    with session_scope(settings) as s:
        second = submit(s, settings, b, moved, [])
        assert second.status == "needs_review" and codes(second) == ["DUPLICATE_IDENTITY"] and same_person(s, a, b)


def test_another_passport_number_is_not_a_duplicate(tmp_path):
    settings = identity_settings(tmp_path, f"sqlite:///{tmp_path / 'n.db'}")
    with session_scope(settings) as s:
        assert submit(s, settings, Account.create().address, passport(1, "DEU"), []).status == "approved"
    with session_scope(settings) as s:
        assert submit(s, settings, Account.create().address, passport(3, "FRA", number="C01X00T48"), []).status == "approved"


def _as_before_the_fix(settings, wallet: str) -> None:
    """Give `wallet`'s records the passport index of before: nationality and number, no birth date."""
    with session_scope(settings) as s:
        record = s.query(KycRecord).filter_by(wallet=wallet).one()
        record.blind_index = blind_index(blind_index_key(settings, s), "PASSPORT:DEU:C01X00T47")


def test_an_older_record_is_found_by_its_passport_and_reindexed_at_the_next_submission_of_it(tmp_path):
    settings = identity_settings(tmp_path, f"sqlite:///{tmp_path / 'o.db'}")
    old, new = Account.create().address, Account.create().address
    with session_scope(settings) as s:
        assert submit(s, settings, old, passport(1, "DEU"), []).status == "approved"
    _as_before_the_fix(settings, old)
    with session_scope(settings) as s:
        second = submit(s, settings, new, passport(1, "DEU"), [])
        assert second.status == "needs_review" and codes(second) == ["DUPLICATE_IDENTITY"] and same_person(s, old, new)


def test_loanchain_kyc_reindex_brings_older_passport_records_to_the_new_index(tmp_path, monkeypatch):
    settings = identity_settings(tmp_path, f"sqlite:///{tmp_path / 'c.db'}")
    old, prc, new = Account.create().address, Account.create().address, Account.create().address
    with session_scope(settings) as s:
        assert submit(s, settings, old, passport(1, "DEU"), []).status == "approved"
    with session_scope(settings) as s:
        assert submit(s, settings, prc, KycCreate(**make_applicant(5).form()), []).status == "approved"
    _as_before_the_fix(settings, old)
    with session_scope(settings) as s:  # sealed before migration 0044, too: no contact indexes
        for record in s.query(KycRecord):
            record.phone_index = record.email_index = record.address_index = None
    point_get_settings_at(monkeypatch, settings)
    try:
        first = CliRunner().invoke(app, ["kyc", "reindex", "--json"])
        assert first.exit_code == 0, first.output
        # The PRC record's ID index is not touched; both are given their contact indexes.
        assert json.loads(first.output) == {"checked": 2, "changed": 1, "unreadable": 0, "contacts": 2}
        again = CliRunner().invoke(app, ["kyc", "reindex", "--json"])
        assert json.loads(again.output) == {"checked": 2, "changed": 0, "unreadable": 0, "contacts": 0}
    finally:
        monkeypatch.undo()
        get_settings.cache_clear()
    with session_scope(settings) as s:  # now another nationality code finds it too
        second = submit(s, settings, new, passport(1, "FRA"), [])
        assert second.status == "needs_review" and codes(second) == ["DUPLICATE_IDENTITY"] and same_person(s, old, new)


def test_the_retention_worker_reindexes_older_records_once_after_an_upgrade(tmp_path, monkeypatch):
    """`loanchain kyc reindex` was an operator's step after upgrading, and until it ran an older
    passport record was not matched by the same passport sent with another nationality code. The
    retention worker's round now does it once per database and formula."""
    from backend.db.meta import MetaEntry
    from backend.identity.kyc import reindex as reindexing
    from backend.identity.kyc.retention import retention_step

    settings = identity_settings(tmp_path, f"sqlite:///{tmp_path / 'w.db'}")
    old, new = Account.create().address, Account.create().address
    with session_scope(settings) as s:
        assert submit(s, settings, old, passport(1, "DEU"), []).status == "approved"
    _as_before_the_fix(settings, old)
    runs = []
    real = reindexing.reindex_all
    monkeypatch.setattr(reindexing, "reindex_all", lambda *a, **k: runs.append(1) or real(*a, **k))
    retention_step(settings)
    retention_step(settings)
    assert len(runs) == 1  # once: the database is marked re-indexed to this formula
    with session_scope(settings) as s:
        assert s.get(MetaEntry, reindexing.FORMULA_META).value == str(reindexing.INDEX_FORMULA)
        second = submit(s, settings, new, passport(1, "FRA"), [])
        assert second.status == "needs_review" and codes(second) == ["DUPLICATE_IDENTITY"] and same_person(s, old, new)
