"""Staff roles through the API are maker-checker: one admin proposes a grant, an admin who is another
person than the proposer and the grantee confirms it (any admin may reject it) before it expires,
and only a wallet with an approved KYC is proposed. Revocation stays immediate. The operator's CLI
grants directly (tests/identity/test_roles_cli.py)."""

from __future__ import annotations

from datetime import timedelta

import pytest
from eth_account import Account
from sqlalchemy import select, update

from backend.audit.models import AuditEntry
from backend.db.session import session_scope
from backend.identity.models import RoleGrantProposal, utcnow
from backend.identity.roles import grant_role
from tests.identity.conftest import ADMIN, client_for, identity_settings, make_applicant, minted_bearer, verify

SECOND_ADMIN = Account.from_key("0x" + "a2" * 32)
THIRD_ADMIN = Account.from_key("0x" + "a3" * 32)


@pytest.fixture
def admins(tmp_path, database_url):
    """Three admins by configuration (no KYC: each its own person), signed in just now; on SQLite
    and on PostgreSQL."""
    settings = identity_settings(tmp_path, database_url,
                                 admin_wallets=[ADMIN.address, SECOND_ADMIN.address, THIRD_ADMIN.address])  # fmt: skip
    client = client_for(settings)
    return settings, client, [minted_bearer(settings, a) for a in (ADMIN, SECOND_ADMIN, THIRD_ADMIN)]


def propose(client, headers, wallet: str, role: str):
    return client.post("/api/v1/admin/roles", json={"wallet": wallet, "role": role}, headers=headers)


def decide(client, headers, proposal_id: int, verdict: str):
    return client.post(f"/api/v1/admin/roles/pending/{proposal_id}/{verdict}", headers=headers)


def pending(client, headers) -> list[int]:
    return [p["id"] for p in client.get("/api/v1/admin/roles/pending", headers=headers).json()]


def actions(settings) -> list[tuple[str, str, str]]:
    with session_scope(settings) as session:
        return [(e.actor, e.action, e.subject) for e in session.scalars(select(AuditEntry).order_by(AuditEntry.seq))
                if e.action.startswith("role.")]  # fmt: skip


def verified_wallet(settings, seed: int) -> str:
    applicant = make_applicant(seed)
    verify(settings, applicant.account.address, applicant)
    return applicant.account.address


def test_a_grant_waits_for_another_admin_then_holds_and_a_revocation_is_immediate(admins):
    settings, client, (first, second, _) = admins
    staff = verified_wallet(settings, 40)
    proposed = propose(client, first, staff, "underwriter")
    assert proposed.status_code == 201, proposed.json()  # a proposal made
    body = proposed.json()
    assert body["changed"] is False and body["roles"] == ["investor"]  # nothing granted yet
    proposal = body["proposal"]
    assert proposal["status"] == "pending" and proposal["proposed_by"] == ADMIN.address and proposal["wallet"] == staff
    assert proposal["decided_by"] is None
    waits = proposal["expires_at"][:19] > proposal["proposed_at"][:19]
    assert waits and settings.role_grant_ttl == 48 * 3600
    assert pending(client, second) == [proposal["id"]] and client.get("/api/v1/admin/roles", headers=first).json() == []
    again = propose(client, first, staff.lower(), "underwriter")  # one at a time: a retry gets the open one, 200
    assert again.status_code == 200 and again.json()["proposal"]["id"] == proposal["id"]

    confirmed = decide(client, second, proposal["id"], "confirm")
    assert confirmed.status_code == 200, confirmed.json()
    assert confirmed.json()["changed"] is True and confirmed.json()["roles"] == ["investor", "underwriter"]
    assert confirmed.json()["proposal"]["status"] == "confirmed"
    assert confirmed.json()["proposal"]["decided_by"] == SECOND_ADMIN.address
    grants = client.get("/api/v1/admin/roles", headers=first).json()
    assert [(g["wallet"], g["role"], g["granted_by"], g["confirmed_by"]) for g in grants] == [
        (staff, "underwriter", ADMIN.address, SECOND_ADMIN.address)]
    assert pending(client, first) == [] and decide(client, second, proposal["id"], "confirm").status_code == 409
    assert actions(settings) == [(ADMIN.address, "role.grant.propose", staff), (SECOND_ADMIN.address, "role.grant", staff)]

    revoked = client.post("/api/v1/admin/roles", json={"wallet": staff, "role": "underwriter", "action": "revoke"}, headers=first)
    assert revoked.status_code == 200 and revoked.json()["changed"] is True and revoked.json()["roles"] == ["investor"]


@pytest.mark.parametrize("role", ["admin", "underwriter", "auditor"])
def test_every_staff_role_is_maker_checker(admins, role):
    settings, client, (first, second, _) = admins
    staff = verified_wallet(settings, 41)
    body = propose(client, first, staff, role).json()
    assert role not in body["roles"] and body["proposal"]["status"] == "pending"
    assert role in decide(client, second, body["proposal"]["id"], "confirm").json()["roles"]


def test_the_proposer_the_grantee_or_another_wallet_of_theirs_cannot_confirm(admins):
    settings, client, (first, second, third) = admins
    # The first admin's person: verified, and a second wallet of theirs that the operator made admin.
    me = make_applicant(42)
    verify(settings, ADMIN.address, me)
    other_wallet = Account.create()
    me.account = other_wallet
    verify(settings, other_wallet.address, me, SECOND_ADMIN.address, THIRD_ADMIN.address)  # the same national ID
    with session_scope(settings) as session:
        grant_role(session, "cli", other_wallet.address, "admin")
    mine = minted_bearer(settings, other_wallet)

    staff = verified_wallet(settings, 43)
    proposal = propose(client, first, staff, "admin").json()["proposal"]
    for who, why in ((first, "proposed"), (mine, "proposed")):
        refused = decide(client, who, proposal["id"], "confirm")
        assert refused.status_code == 403 and why in refused.json()["detail"], refused.json()
    # The grantee's own person does not confirm either: the second admin, verified, proposed for underwriter.
    verify(settings, SECOND_ADMIN.address, make_applicant(44))
    theirs = propose(client, first, SECOND_ADMIN.address, "underwriter").json()["proposal"]
    refused = decide(client, second, theirs["id"], "confirm")
    assert refused.status_code == 403 and "grantee" in refused.json()["detail"]
    assert sorted(pending(client, third)) == sorted([proposal["id"], theirs["id"]])  # nothing changed
    assert "admin" in decide(client, third, proposal["id"], "confirm").json()["roles"]  # another person does


def test_only_a_wallet_with_an_approved_kyc_is_proposed_or_granted(admins):
    settings, client, (first, second, _) = admins
    nobody = Account.create().address
    refused = propose(client, first, nobody, "admin")
    assert refused.status_code == 409 and "approved KYC" in refused.json()["detail"]
    assert pending(client, first) == [] and actions(settings) == []

    staff = verified_wallet(settings, 45)
    proposal = propose(client, first, staff, "auditor").json()["proposal"]
    with session_scope(settings) as session:  # the verification is withdrawn while the grant waits
        from backend.identity.kyc.review import reject
        from backend.identity.models import KycRecord

        record_id = session.scalar(select(KycRecord.id).where(KycRecord.wallet == staff))
        reject(session, settings, record_id, THIRD_ADMIN.address, "the document was forged")
    late = decide(client, second, proposal["id"], "confirm")
    assert late.status_code == 409 and "approved KYC" in late.json()["detail"]
    assert client.get("/api/v1/admin/roles", headers=first).json() == []


def test_a_proposal_expires_unconfirmed(admins):
    settings, client, (first, second, _) = admins
    staff = verified_wallet(settings, 46)
    proposal = propose(client, first, staff, "underwriter").json()["proposal"]
    with session_scope(settings) as session:  # its time ran out
        session.execute(update(RoleGrantProposal).values(expires_at=utcnow() - timedelta(seconds=1)))
    assert pending(client, first) == []
    late = decide(client, second, proposal["id"], "confirm")
    assert late.status_code == 409 and "expired" in late.json()["detail"]
    assert client.get("/api/v1/admin/roles", headers=first).json() == []
    renewed = propose(client, first, staff, "underwriter").json()["proposal"]
    assert renewed["id"] != proposal["id"] and pending(client, second) == [renewed["id"]]


def test_any_admin_rejects_a_proposal_its_proposer_too(admins):
    settings, client, (first, second, _) = admins
    staff = verified_wallet(settings, 47)
    proposal = propose(client, first, staff, "admin").json()["proposal"]
    rejected = decide(client, second, proposal["id"], "reject")
    assert rejected.status_code == 200 and rejected.json()["proposal"]["status"] == "rejected"
    assert rejected.json()["changed"] is False and "admin" not in rejected.json()["roles"]
    assert decide(client, first, proposal["id"], "confirm").status_code == 409
    withdrawn = propose(client, first, staff, "admin").json()["proposal"]
    assert decide(client, first, withdrawn["id"], "reject").json()["proposal"]["status"] == "rejected"
    assert pending(client, first) == [] and [a for _, a, _ in actions(settings)].count("role.grant.reject") == 2
    assert decide(client, first, 999, "confirm").status_code == 404


def test_a_proposal_lapses_when_its_proposer_is_no_longer_an_admin(admins):
    settings, client, (first, second, _) = admins
    proposer = Account.create()
    with session_scope(settings) as session:
        grant_role(session, "cli", proposer.address, "admin")
    staff = verified_wallet(settings, 48)
    proposal = propose(client, minted_bearer(settings, proposer), staff, "admin").json()["proposal"]
    client.post("/api/v1/admin/roles", json={"wallet": proposer.address, "role": "admin", "action": "revoke"}, headers=first)
    lapsed = decide(client, second, proposal["id"], "confirm")
    assert lapsed.status_code == 409 and "no longer an admin" in lapsed.json()["detail"]
