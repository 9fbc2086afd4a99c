"""One national ID is verified on a second wallet only through the two-admin DUPLICATE_IDENTITY review,
whatever the order of events. Regression of the security review's M2 (a duplicate sent while the
first record waited for review was approved with no one looking, and the first was then cleared by
one admin) and M1 (a passport's unchecked nationality field changed to get a fresh blind index)."""

from __future__ import annotations

import threading

import pytest
from eth_account import Account

from backend.db.session import session_scope
from backend.errors import Forbidden
from backend.identity.crypto.blind_index import blind_index_key
from backend.identity.kyc import review
from backend.identity.kyc.submission import submit
from backend.identity.schemas import KycCreate
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
