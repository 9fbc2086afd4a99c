"""Contact data compared across identities: a phone or e-mail on another person's KYC record (another
national ID), or an address more persons than the bound give, sends a submission to review
(SHARED_CONTACT, never a refusal), naming the other records and wallets but never the contact; checked
again at approval; erased records no longer match, and older records match once re-indexed."""

from __future__ import annotations

import threading
from datetime import date

import pytest
from eth_account import Account

from backend.db.session import session_scope
from backend.identity.checks.contacts import normalise_address, normalise_email, normalise_phone
from backend.identity.crypto.blind_index import blind_index_key
from backend.identity.kyc import review
from backend.identity.kyc.lifecycle import erase_wallet
from backend.identity.kyc.reindex import reindex_all
from backend.identity.kyc.submission import submit
from backend.identity.models import KycRecord
from backend.identity.schemas import KycCreate
from tests.identity.conftest import (
    ADMIN,
    PNG,
    approve_with_documents,
    client_for,
    identity_settings,
    make_applicant,
    minted_bearer,
)
from tests.identity.test_kyc_dedup import mrz


def codes(record) -> list[str]:
    return [r["code"] for r in record.reasons]


def message(record, code: str) -> str:
    return next(r["message"] for r in record.reasons if r["code"] == code)


def _submit(settings, wallet: str, applicant, documents: list[bytes] | None = None):
    with session_scope(settings) as s:
        record = submit(s, settings, wallet, KycCreate(**applicant.form()), documents or [])
        s.expunge(record)
        return record


def test_contact_data_is_normalised_before_it_is_compared():
    assert normalise_phone("+86 138-0013 (8000)") == normalise_phone("+8613800138000")
    assert normalise_email("Lin.Qiao@Example.org") == normalise_email("lin.qiao@example.org")
    assert normalise_email("lin.qiao+loans@example.org") == "lin.qiao@example.org"  # a sub-address: one mailbox
    assert normalise_email("l.i.n.qiao+x@GoogleMail.com") == normalise_email("linqiao@gmail.com")  # Gmail ignores dots
    assert normalise_email("john.smith@example.org") != normalise_email("johns.mith@example.org")  # elsewhere they count
    assert normalise_email("+@example.org") == "+@example.org"  # a "+" alone is the whole local part, not a tag
    assert normalise_address("chn", "100 020", "12 Quiet Lane, Building 3") == normalise_address(
        "CHN", "100020", "12  quiet lane building 3.")  # fmt: skip
    assert normalise_address("CHN", "100020", "12 Quiet Lane") != normalise_address("CHN", "100021", "12 Quiet Lane")


def test_a_phone_on_another_persons_record_goes_to_review_naming_it_but_never_the_number(tmp_path, database_url):
    settings = identity_settings(tmp_path, database_url)
    first, second = make_applicant(70), make_applicant(71)
    a, b = Account.create().address, Account.create().address
    assert _submit(settings, a, first).status == "approved"
    second.phone = first.phone[:3] + " " + first.phone[3:]  # spelled otherwise: the same number
    held = _submit(settings, b, second)
    assert held.status == "needs_review" and codes(held) == ["SHARED_CONTACT"]
    flag = message(held, "SHARED_CONTACT")
    first_id = next(r.id for r in _records(settings, a))
    assert "phone number is on 1 record(s) of 1 other person(s)" in flag and f"{first_id} (approved)" in flag
    assert first.phone[3:] not in flag and "e-mail" not in flag

    with client_for(settings) as client:  # the reviewer sees whose wallet, and what is shared: never the value
        admin = minted_bearer(settings, ADMIN)
        item = client.get(f"/api/v1/admin/kyc/{held.id}", headers=admin).json()
        shown = {"wallet": a, "shared": ["phone"], "record_ids": [first_id]}  # the records a link may name
        assert item["same_contact"] == [shown]
        queue = client.get("/api/v1/admin/kyc/queue", headers=admin).json()
        assert [q["same_contact"] for q in queue] == [[shown]]
        assert first.phone[3:] not in str(item) + str(queue)
        owner = client.get("/api/v1/kyc/me", headers=minted_bearer(settings, second.account)).json()
        assert "SHARED_CONTACT" not in str(owner) and a not in str(owner)  # the applicant reads "under review"
    with session_scope(settings) as s:  # one admin clears it: a family shares a phone
        assert review.approve(s, settings, held.id, ADMIN.address, "her mother's phone, seen on a call").status == "approved"


def test_a_mailbox_behind_another_spelling_is_the_same_and_a_persons_own_wallets_are_not_compared(tmp_path, database_url):
    settings = identity_settings(tmp_path, database_url)
    first, second = make_applicant(72), make_applicant(73)
    first.email, second.email = "Lin.Qiaoyun@gmail.com", "linqiaoyun+loans@googlemail.com"
    a, b, c = (Account.create().address for _ in range(3))
    assert _submit(settings, a, first).status == "approved"
    held = _submit(settings, b, second)
    assert codes(held) == ["SHARED_CONTACT"] and "e-mail address is on 1 record(s)" in message(held, "SHARED_CONTACT")
    assert "gmail" not in message(held, "SHARED_CONTACT")
    # The first person again, on a third wallet: the national ID's check names a's record, the contact
    # one only b's (a person's own mailbox on its own records is no second identity).
    again = _submit(settings, c, first)
    assert codes(again) == ["DUPLICATE_IDENTITY", "SHARED_CONTACT"]
    shared = message(again, "SHARED_CONTACT")
    assert "e-mail address is on 1 record(s) of 1 other person(s)" in shared and held.id in shared
    assert "phone" not in shared


def test_an_address_counts_only_when_more_persons_than_the_bound_give_it(tmp_path, database_url):
    settings = identity_settings(tmp_path, database_url, kyc_address_max_persons=1)
    flatmates = [make_applicant(80 + i) for i in range(3)]
    for n, person in enumerate(flatmates):
        person.address_line = ["12 Quiet Lane, Flat 3", "12 quiet lane flat 3", "12 QUIET LANE - FLAT 3."][n]
        person.postal_code = ["100020", "100 020", "100020"][n]
    wallets = [Account.create().address for _ in flatmates]
    assert _submit(settings, wallets[0], flatmates[0]).status == "approved"
    assert _submit(settings, wallets[1], flatmates[1]).status == "approved"  # one other person: a shared flat
    third = _submit(settings, wallets[2], flatmates[2])
    assert third.status == "needs_review" and codes(third) == ["SHARED_CONTACT"]
    assert "address is on 2 record(s) of 2 other person(s) (more than 1 go to review)" in message(third, "SHARED_CONTACT")
    assert "Quiet" not in message(third, "SHARED_CONTACT")
    with session_scope(settings) as s:
        shown = review.same_contact(s, settings, review.get_record(s, third.id))
        assert [(c.wallet, c.shared) for c in shown] == sorted((w, ["address"]) for w in wallets[:2])


def test_a_passport_beside_a_national_id_with_one_phone_goes_to_review(tmp_path, database_url):
    """One person, two documents: their national IDs' indexes differ, so only the contact data ties them."""
    settings = identity_settings(tmp_path, database_url)
    person = make_applicant(74, born=date(1985, 4, 12))
    assert _submit(settings, Account.create().address, person).status == "approved"
    person.id_type, person.nationality, person.id_number = "passport_mrz", "DEU", mrz("C01X00T47", "DEU")
    second = _submit(settings, Account.create().address, person)
    assert second.status == "needs_review" and codes(second) == ["SHARED_CONTACT"]
    assert "phone number" in message(second, "SHARED_CONTACT") and "e-mail address" in message(second, "SHARED_CONTACT")


def test_an_erased_record_matches_no_one(tmp_path, database_url):
    settings = identity_settings(tmp_path, database_url)
    first, second = make_applicant(75), make_applicant(76)
    a, b = Account.create().address, Account.create().address
    assert _submit(settings, a, first).status == "approved"
    with session_scope(settings) as s:
        erase_wallet(s, settings, a, a)
    (erased,) = _records(settings, a)
    assert (erased.phone_index, erased.email_index, erased.address_index) == (None, None, None)
    second.phone, second.email = first.phone, first.email
    assert _submit(settings, b, second).status == "approved"


def test_a_contact_given_since_holds_the_approval_for_another_look(tmp_path, database_url):
    settings = identity_settings(tmp_path, database_url)
    first, second = make_applicant(77), make_applicant(78)
    a, b = Account.create().address, Account.create().address
    waiting = _submit(settings, a, first, [PNG])  # an ID document: waits for a person
    assert codes(waiting) == ["DOCUMENT_REVIEW"]
    second.email = first.email
    assert codes(_submit(settings, b, second)) == ["SHARED_CONTACT"]
    # The admin looked at a's document before b applied: the approval finds b now, and holds.
    assert approve_with_documents(settings, waiting.id, ADMIN.address) == "needs_review"
    with session_scope(settings) as s:
        record = review.get_record(s, waiting.id)
        assert codes(record) == ["DOCUMENT_REVIEW", "SHARED_CONTACT"]
        assert [(c.wallet, c.shared) for c in review.same_contact(s, settings, record)] == [(b, ["email"])]
    assert approve_with_documents(settings, waiting.id, ADMIN.address) == "approved"  # seen: one admin clears it


def test_a_record_from_before_contacts_were_indexed_matches_once_reindexed(tmp_path, database_url):
    settings = identity_settings(tmp_path, database_url)
    first, second, third = make_applicant(90), make_applicant(91), make_applicant(92)
    a = Account.create().address
    assert _submit(settings, a, first).status == "approved"
    with session_scope(settings) as s:  # as sealed before migration 0044
        record = s.query(KycRecord).filter_by(wallet=a).one()
        record.phone_index = record.email_index = record.address_index = None
    second.phone = first.phone
    assert _submit(settings, Account.create().address, second).status == "approved"  # nothing to match yet
    report = reindex_all(settings)
    assert (report.checked, report.changed, report.contacts) == (2, 0, 1)
    third.phone = first.phone
    held = _submit(settings, Account.create().address, third)
    assert codes(held) == ["SHARED_CONTACT"] and "on 2 record(s) of 2 other person(s)" in message(held, "SHARED_CONTACT")


@pytest.mark.parametrize("database_url", ["postgres"], indirect=True)
def test_two_persons_submitting_one_phone_at_once_are_not_both_approved(tmp_path, database_url):
    """PostgreSQL: two national IDs, two advisory locks; the phone's makes the second submission wait
    for the first to commit, and then see it."""
    settings = identity_settings(tmp_path, database_url)
    blind_index_key(settings)  # its fingerprint is recorded at first use: not by both threads at once
    first, second = make_applicant(93), make_applicant(94)
    second.phone = first.phone
    results: list[str] = []
    barrier = threading.Barrier(2)

    def apply(applicant) -> None:
        barrier.wait()
        with session_scope(settings) as s:
            results.append(submit(s, settings, Account.create().address, KycCreate(**applicant.form()), []).status)

    threads = [threading.Thread(target=apply, args=(a,)) for a in (first, second)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    assert sorted(results) == ["approved", "needs_review"], results


def _records(settings, wallet: str) -> list[KycRecord]:
    with session_scope(settings) as s:
        records = list(s.query(KycRecord).filter_by(wallet=wallet))
        s.expunge_all()
        return records
