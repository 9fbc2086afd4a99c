"""Same-person links (backend/identity/kyc/person_links.py): a second identity (a passport beside a
national ID) that shares a phone or e-mail with the first is joined to it as one borrower by two
admins of other persons, over the API; never by one admin, never to a record that shares nothing;
one step only; an erasure of either side drops its effect."""

from __future__ import annotations

from datetime import date

from eth_account import Account
from sqlalchemy import func, select

from backend.audit.models import AuditEntry
from backend.db.session import session_scope
from backend.identity.kyc.lifecycle import erase_wallet
from backend.identity.kyc.submission import submit
from backend.identity.models import KycPersonLink, KycRecord
from backend.identity.persons import borrower_wallets_of, borrower_wallets_of_each, same_person
from backend.identity.schemas import KycCreate
from tests.identity.conftest import ADMIN, client_for, identity_settings, make_applicant, minted_bearer
from tests.identity.test_kyc_dedup import mrz
from tests.identity.test_role_grants import SECOND_ADMIN, THIRD_ADMIN


def _submit(settings, wallet: str, applicant) -> str:
    with session_scope(settings) as s:
        record = submit(s, settings, wallet, KycCreate(**applicant.form()), [])
        return record.id


def _passport(applicant, number: str):
    born = applicant.date_of_birth
    applicant.id_type, applicant.nationality, applicant.id_number = "passport_mrz", "DEU", mrz(number, "DEU", born)
    return applicant


def _wallets(settings, wallet: str) -> frozenset[str]:
    with session_scope(settings) as s:
        return borrower_wallets_of(s, wallet)


def _link(client, admin, record_id: str, other_id: str, note: str = "one person: the passport photo is the ID's"):
    return client.post(f"/api/v1/admin/kyc/{record_id}/person-links", json={"other_record_id": other_id, "note": note},
                       headers=admin)  # fmt: skip


def _links(settings) -> int:
    with session_scope(settings) as s:
        return s.scalar(select(func.count()).select_from(KycPersonLink))


def test_two_admins_join_a_second_identity_to_its_first_and_one_admin_cannot(tmp_path, database_url):
    settings = identity_settings(tmp_path, database_url, admin_wallets=[ADMIN.address, SECOND_ADMIN.address,
                                                                         THIRD_ADMIN.address])  # fmt: skip
    person = make_applicant(74, born=date(1985, 4, 12))
    first_wallet, second_wallet, stranger_wallet = (Account.create().address for _ in range(3))
    first = _submit(settings, first_wallet, person)
    second = _submit(settings, second_wallet, _passport(person, "C01X00T47"))
    stranger = _submit(settings, stranger_wallet, make_applicant(81))
    admin, other_admin = minted_bearer(settings, ADMIN), minted_bearer(settings, SECOND_ADMIN)
    with client_for(settings) as client:
        item = client.get(f"/api/v1/admin/kyc/{second}", headers=admin).json()
        assert [r["code"] for r in item["record"]["reasons"]] == ["SHARED_CONTACT"]
        assert item["same_contact"] == [{"wallet": first_wallet, "shared": ["phone", "email"], "record_ids": [first]}]
        approved = client.post(f"/api/v1/admin/kyc/{second}/approve", json={"note": "a second document"}, headers=admin)
        assert approved.json()["status"] == "approved"  # clearing a shared phone takes one admin, and joins nobody
        assert _wallets(settings, second_wallet) == {second_wallet}

        # No linking strangers at will: a record that shares no contact data now is refused, nothing written.
        refused = _link(client, admin, second, stranger)
        assert refused.status_code == 409 and "share no phone, e-mail or address" in refused.json()["detail"]
        assert _link(client, admin, second, second).status_code == 409
        assert _links(settings) == 0

        proposed = _link(client, admin, second, first)
        assert proposed.status_code == 201, proposed.json()
        assert proposed.json() | {"proposed_at": None} == {
            "record_id": second, "other_record_id": first, "other_wallet": first_wallet, "status": "proposed",
            "proposed_by": ADMIN.address, "proposed_at": None, "confirmed_by": None, "confirmed_at": None}  # fmt: skip
        alone = _link(client, admin, first, second)  # the proposer again, from the other side: still one admin
        assert alone.status_code == 403 and "second admin" in alone.json()["detail"]
        assert _wallets(settings, second_wallet) == {second_wallet}  # a proposal joins nothing
        with session_scope(settings) as s:
            assert not same_person(s, first_wallet, second_wallet)

        shown = client.get(f"/api/v1/admin/kyc/{first}", headers=other_admin).json()["person_links"]
        assert [(p["other_record_id"], p["status"], p["proposed_by"]) for p in shown] == [(second, "proposed", ADMIN.address)]
        confirmed = _link(client, other_admin, first, second, "confirmed: same face, same birth date")
        assert confirmed.status_code == 200 and confirmed.json()["status"] == "confirmed"
        assert confirmed.json()["confirmed_by"] == SECOND_ADMIN.address
        assert _link(client, other_admin, first, second).status_code == 200  # a retry: the link as it is
    assert _wallets(settings, second_wallet) == _wallets(settings, first_wallet) == {first_wallet, second_wallet}
    assert _wallets(settings, stranger_wallet) == {stranger_wallet}
    with session_scope(settings) as s:  # one person for the four-eyes rules too: neither reviews the other's records
        assert same_person(s, first_wallet, second_wallet) and not same_person(s, first_wallet, stranger_wallet)
        assert borrower_wallets_of_each(s, [second_wallet, stranger_wallet]) == {
            second_wallet: {first_wallet, second_wallet}, stranger_wallet: {stranger_wallet}}  # fmt: skip
        entries = {e.action: e for e in s.scalars(select(AuditEntry).where(AuditEntry.action.like("kyc.person_link%")))}
        row = s.scalars(select(KycPersonLink)).one()
    assert set(entries) == {"kyc.person_link.proposed", "kyc.person_link"}
    assert entries["kyc.person_link"].actor == SECOND_ADMIN.address
    assert (row.proposed_by, row.confirmed_by) == (ADMIN.address, SECOND_ADMIN.address)
    assert len(row.note_sha256) == len(row.confirm_note_sha256) == 64

    # An erasure of one side drops the link's effect: the erased record is gone from persons.
    with session_scope(settings) as s:
        erase_wallet(s, settings, first_wallet, first_wallet)
    assert _wallets(settings, second_wallet) == {second_wallet}


def test_an_admin_does_not_link_their_own_identity(tmp_path, database_url):
    settings = identity_settings(tmp_path, database_url, admin_wallets=[ADMIN.address, SECOND_ADMIN.address])
    person = make_applicant(82, born=date(1979, 2, 3))
    first = _submit(settings, SECOND_ADMIN.address, person)  # the admin's own KYC
    second = _submit(settings, Account.create().address, _passport(person, "C01X00T48"))
    with client_for(settings) as client:
        own = _link(client, minted_bearer(settings, SECOND_ADMIN), second, first)
    assert own.status_code == 403 and _links(settings) == 0


def test_links_are_followed_one_step(tmp_path, database_url):
    """A linked to B and B to C: A and C are not one borrower (no reviewer compared them)."""
    settings = identity_settings(tmp_path, database_url, admin_wallets=[ADMIN.address, SECOND_ADMIN.address])
    a_person, c_person = make_applicant(83), make_applicant(84)
    a_wallet, b_wallet, c_wallet = (Account.create().address for _ in range(3))
    a = _submit(settings, a_wallet, a_person)
    b_person = _passport(make_applicant(83), "C01X00T49")  # A's phone and e-mail
    b_person.email = c_person.email  # and C's e-mail
    b = _submit(settings, b_wallet, b_person)
    c = _submit(settings, c_wallet, c_person)
    admin, other_admin = minted_bearer(settings, ADMIN), minted_bearer(settings, SECOND_ADMIN)
    with client_for(settings) as client:
        for record in (b, c):
            client.post(f"/api/v1/admin/kyc/{record}/approve", json={"note": "seen"}, headers=admin)
        for one, other in ((a, b), (b, c)):
            assert _link(client, admin, one, other).status_code == 201
            assert _link(client, other_admin, other, one).status_code == 200
    assert _wallets(settings, b_wallet) == {a_wallet, b_wallet, c_wallet}
    assert _wallets(settings, a_wallet) == {a_wallet, b_wallet}
    assert _wallets(settings, c_wallet) == {b_wallet, c_wallet}


def test_two_admins_proposing_one_link_at_once_make_one_link_confirmed(tmp_path, database_url):
    """Two admins of other persons propose the same pair at the same instant: one proposes, the other
    finds the proposal and confirms it (SQLite takes turns on the write lock, PostgreSQL on the rows'),
    never two rows nor a 500."""
    from backend.identity.kyc.person_links import link
    from tests.workers.overlap import at_once

    settings = identity_settings(tmp_path, database_url, admin_wallets=[ADMIN.address, SECOND_ADMIN.address,
                                                                         THIRD_ADMIN.address])  # fmt: skip
    person = make_applicant(75, born=date(1986, 5, 13))
    first = _submit(settings, Account.create().address, person)
    second = _submit(settings, Account.create().address, _passport(person, "C01X00T55"))

    def propose(admin: str):
        with session_scope(settings) as s:
            return link(s, settings, second, first, admin, "one person").confirmed_by

    results = at_once(lambda: propose(ADMIN.address), lambda: propose(SECOND_ADMIN.address))
    assert not any(isinstance(r, BaseException) for r in results), results
    assert _links(settings) == 1
    assert sorted(r is None for r in results) == [False, True]  # one proposed, the other confirmed


def test_an_admins_second_identity_linked_before_its_approval_is_not_theirs_to_approve(tmp_path, database_url):
    """Two admins link an admin's own KYC record and a second identity of theirs still waiting for
    review: from then the admin is that record's person for the four eyes, approved or not yet (the
    borrower person waits for both approvals; the four eyes do not: they count records whatever their
    status). The admin neither approves nor opens it; another admin does."""
    settings = identity_settings(tmp_path, database_url, admin_wallets=[ADMIN.address, SECOND_ADMIN.address,
                                                                         THIRD_ADMIN.address])  # fmt: skip
    person = make_applicant(85, born=date(1981, 7, 9))
    own = _submit(settings, SECOND_ADMIN.address, person)  # the admin's own KYC, approved at once
    second = _submit(settings, Account.create().address, _passport(person, "C01X00T56"))
    admin, other_admin, third_admin = (minted_bearer(settings, a) for a in (ADMIN, SECOND_ADMIN, THIRD_ADMIN))
    with client_for(settings) as client:
        item = client.get(f"/api/v1/admin/kyc/{second}", headers=admin).json()
        assert item["record"]["status"] == "needs_review"
        assert _link(client, admin, second, own).status_code == 201
        assert _link(client, third_admin, own, second).status_code == 200  # confirmed: one person
        refused = client.post(f"/api/v1/admin/kyc/{second}/approve", json={"note": "mine"}, headers=other_admin)
        assert refused.status_code == 403, refused.json()
        with session_scope(settings) as s:
            assert same_person(s, SECOND_ADMIN.address, s.get(KycRecord, second).wallet)
        approved = client.post(f"/api/v1/admin/kyc/{second}/approve", json={"note": "seen"}, headers=admin)
        assert approved.json()["status"] == "approved"
