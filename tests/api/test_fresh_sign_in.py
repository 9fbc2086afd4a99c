"""Step-up: reading or erasing KYC data and changing roles need a recent SIWE sign-in, not only a
valid token; everything else keeps working on an older session."""

from datetime import UTC, datetime, timedelta

from eth_account import Account

from backend.api.deps import ENDPOINT_ROLES, FRESH_SIGN_IN, PUBLIC
from backend.db.session import session_scope
from backend.identity.models import User
from backend.identity.roles import grant_role
from backend.identity.tokens import issue_pair
from tests.identity.conftest import bearer, client_for, identity_settings, make_applicant, submit, verify


def _session_begun(settings, account, minutes_ago: float) -> dict[str, str]:
    with session_scope(settings) as session:
        session.merge(User(wallet=account.address))
        pair = issue_pair(session, settings, account.address, auth_time=datetime.now(UTC) - timedelta(minutes=minutes_ago))
    return {"Authorization": f"Bearer {pair.access_token}"}


def test_every_fresh_sign_in_endpoint_is_declared_and_signed_in():
    assert FRESH_SIGN_IN <= ENDPOINT_ROLES.keys()
    assert all(ENDPOINT_ROLES[e] != PUBLIC for e in FRESH_SIGN_IN)


def test_an_old_session_must_sign_in_again_to_read_or_erase_its_kyc_data(tmp_path):
    settings = identity_settings(tmp_path, f"sqlite:///{tmp_path / 'fresh.db'}")
    client, account = client_for(settings), Account.create()
    applicant = make_applicant(7)
    assert submit(client, applicant, bearer(client, account)).status_code == 201

    old = _session_begun(settings, account, minutes_ago=11)
    assert client.get("/api/v1/kyc/me", headers=old).status_code == 200  # status is not sensitive
    for response in (client.get("/api/v1/kyc/me/data", headers=old), client.delete("/api/v1/kyc/me", headers=old)):
        assert response.status_code == 401, response.json()
        body = response.json()
        assert body["error"] == "fresh_sign_in_required" and body["context"]["max_age"] == 600
        assert "within the last 10 min" in body["detail"] and "11 min ago" in body["detail"]
    assert client.get("/api/v1/kyc/me", headers=old).json()["current"]["status"] != "erased"  # nothing changed

    recent = _session_begun(settings, account, minutes_ago=9)
    assert client.get("/api/v1/kyc/me/data", headers=recent).json()["data"]["full_name"] == applicant.form()["full_name"]
    # a refresh keeps the session's sign-in time: renewing tokens does not make a session fresh
    with session_scope(settings) as session:
        pair = issue_pair(session, settings, account.address, auth_time=datetime.now(UTC) - timedelta(minutes=30))
    renewed = client.post("/api/v1/auth/refresh", json={"refresh_token": pair.refresh_token}).json()
    response = client.get("/api/v1/kyc/me/data", headers={"Authorization": f"Bearer {renewed['access_token']}"})
    assert response.status_code == 401 and response.json()["error"] == "fresh_sign_in_required"


def test_an_old_admin_session_cannot_change_roles_reveal_or_erase(tmp_path):
    admin = Account.create()
    settings = identity_settings(tmp_path, f"sqlite:///{tmp_path / 'fresh.db'}", admin_wallets=[admin.address])
    client, person = client_for(settings), make_applicant(8)
    someone = person.account
    verify(settings, someone.address, person)
    colleague = Account.create()  # a second admin, by the operator, whose confirmation needs a recent sign-in too
    with session_scope(settings) as session:
        grant_role(session, "cli", colleague.address, "admin")
    old = _session_begun(settings, admin, minutes_ago=60)
    assert client.get("/api/v1/admin/roles/pending", headers=old).status_code == 200
    grant = {"wallet": someone.address, "role": "auditor", "action": "grant"}
    proposed = client.post("/api/v1/admin/roles", headers=bearer(client, admin), json=grant).json()["proposal"]
    for response in (
        client.post("/api/v1/admin/roles", headers=old, json=grant),
        client.post("/api/v1/admin/roles", headers=old, json={**grant, "action": "revoke"}),
        client.post(f"/api/v1/admin/roles/pending/{proposed['id']}/confirm", headers=_session_begun(settings, colleague, 60)),
        client.post(f"/api/v1/admin/roles/pending/{proposed['id']}/reject", headers=_session_begun(settings, colleague, 60)),
        client.post(f"/api/v1/admin/roles/pending/{proposed['id']}/reject", headers=old),  # nor withdraw it
        client.post("/api/v1/admin/kyc/1/reveal", headers=old, json={"reason": "review"}),
        client.delete(f"/api/v1/admin/kyc/wallets/{someone.address}", headers=old),
    ):
        assert response.status_code == 401 and response.json()["error"] == "fresh_sign_in_required", response.json()
    assert client.get("/api/v1/admin/roles/pending", headers=old).json()[0]["status"] == "pending"  # nothing granted

    confirmed = client.post(f"/api/v1/admin/roles/pending/{proposed['id']}/confirm", headers=bearer(client, colleague))
    assert confirmed.status_code == 200 and "auditor" in confirmed.json()["roles"]
