"""Separation of duties is kept between persons, not wallets: a wallet's person is the national ID
its KYC records were verified with (their blind index), so an admin's second wallet (a sock) is not
a second admin. Regression of the review's M2 (one admin cleared a sanctions match and their own
flagged record with self-granted sock admins)."""

from __future__ import annotations

from datetime import date

from eth_account import Account
from eth_utils import to_checksum_address

from backend.db.session import session_scope
from backend.identity.persons import person_of, same_person, wallets_of, wallets_of_each
from backend.identity.roles import grant_role
from tests.identity.conftest import ADMIN, client_for, identity_settings, make_applicant, minted_bearer, submit, verify
from tests.identity.test_role_grants import SECOND_ADMIN, THIRD_ADMIN, decide, propose


def _sanctioned(seed: int):
    applicant = make_applicant(seed, born=date(1968, 3, 14))
    applicant.full_name = "Viktor Petrovich Blacklistov"
    return applicant


def test_one_admin_cannot_grant_a_sock_a_role_nor_use_one_as_a_second_admin(tmp_path):
    settings = identity_settings(tmp_path, f"sqlite:///{tmp_path / 'poc.db'}",
                                 admin_wallets=[ADMIN.address, SECOND_ADMIN.address, THIRD_ADMIN.address])  # fmt: skip
    client = client_for(settings)
    admin, second, third = (minted_bearer(settings, a) for a in (ADMIN, SECOND_ADMIN, THIRD_ADMIN))

    # A fresh sock (no KYC) is not granted anything, by one admin or at all.
    sock = Account.create()
    refused = propose(client, admin, sock.address, "admin")
    assert refused.status_code == 409 and "approved KYC" in refused.json()["detail"]

    # A sock verified with the admin's own national ID is the admin's person: the admin cannot clear
    # its flag, and once made admin (another admin confirming) it still is not a second person.
    me = make_applicant(50)
    assert submit(client, me, headers=admin).json()["status"] == "approved"
    me.account = sock
    held = submit(client, me).json()
    assert held["status"] == "needs_review"
    own = client.post(f"/api/v1/admin/kyc/{held['id']}/approve", json={"note": "my other wallet"}, headers=admin)
    assert own.status_code == 403 and "their own KYC record" in own.json()["detail"]
    for approver in (second, third):
        client.post(f"/api/v1/admin/kyc/{held['id']}/approve", json={"note": "their other wallet"}, headers=approver)
    proposal = propose(client, admin, sock.address, "admin").json()["proposal"]
    assert decide(client, second, proposal["id"], "confirm").status_code == 200
    sock_h = minted_bearer(settings, sock)

    # (a) a sanctions match needs two persons: the admin and their sock are one
    record = submit(client, _sanctioned(51)).json()
    assert client.post(f"/api/v1/admin/kyc/{record['id']}/approve", json={"note": "fine"}, headers=admin).status_code == 200
    again = client.post(f"/api/v1/admin/kyc/{record['id']}/approve", json={"note": "fine"}, headers=sock_h)
    assert again.status_code == 403 and "second admin" in again.json()["detail"]
    assert client.get(f"/api/v1/admin/kyc/{record['id']}", headers=third).json()["record"]["status"] == "needs_review"
    cleared = client.post(f"/api/v1/admin/kyc/{record['id']}/approve", json={"note": "agreed"}, headers=third).json()
    assert cleared["status"] == "approved"

    # (b) the admin's own flagged record: neither the admin's wallet nor the sock decides or reads it
    renewal = make_applicant(50)
    renewal.account, renewal.address_line = ADMIN, "8 New Street"  # moved (the same data again would be a retry)
    mine = submit(client, renewal, headers=admin).json()
    assert mine["status"] == "needs_review"  # its national ID is verified for the sock too
    for action, body in (("approve", {"note": "x"}), ("reject", {"note": "x"}), ("reveal", {"reason": "review"})):
        refused = client.post(f"/api/v1/admin/kyc/{mine['id']}/{action}", json=body, headers=sock_h)
        assert refused.status_code == 403 and "their own KYC record" in refused.json()["detail"], action


def test_a_wallet_without_kyc_is_its_own_person(settings):
    applicant, twin, stranger = make_applicant(53), make_applicant(54), Account.create().address
    verify(settings, applicant.account.address, applicant)
    twin.id_number, twin.date_of_birth = applicant.id_number, applicant.date_of_birth
    verify(settings, twin.account.address, twin, SECOND_ADMIN.address, THIRD_ADMIN.address)
    with session_scope(settings) as session:
        assert same_person(session, applicant.account.address, twin.account.address)
        assert same_person(session, stranger, stranger.lower())  # one wallet, however spelt
        assert not same_person(session, applicant.account.address, stranger)
        assert not same_person(session, stranger, Account.create().address)
        assert person_of(session, "cli") == frozenset({"wallet:cli"})
        # Many at once (monitoring's answers_changed) by the same rule as one by one, whatever the spelling.
        asked = [applicant.account.address.lower(), twin.account.address, stranger]
        each = wallets_of_each(session, asked)
        assert each == {to_checksum_address(w): wallets_of(session, w) for w in asked}
        assert each[twin.account.address] == {applicant.account.address, twin.account.address}


def test_a_staff_wallet_keeps_its_kyc_while_it_holds_a_staff_role(tmp_path):
    """Erasure drops a record's blind index, which would make a staff wallet a stranger to its own
    sock: so a wallet's personal data is kept while it is staff (revoke the role first)."""
    settings = identity_settings(tmp_path, f"sqlite:///{tmp_path / 'erase.db'}")
    client = client_for(settings)
    me = make_applicant(55)
    verify(settings, me.account.address, me)
    with session_scope(settings) as session:
        grant_role(session, "cli", me.account.address, "underwriter")
    own = minted_bearer(settings, me.account)
    admin = minted_bearer(settings, ADMIN)
    for refused in (client.delete("/api/v1/kyc/me", headers=own),
                    client.delete(f"/api/v1/admin/kyc/wallets/{me.account.address}", headers=admin)):
        assert refused.status_code == 409 and "staff role" in refused.json()["detail"], refused.json()
    client.post("/api/v1/admin/roles", json={"wallet": me.account.address, "role": "underwriter", "action": "revoke"},
                headers=admin)  # fmt: skip
    assert client.delete("/api/v1/kyc/me", headers=own).status_code == 200
