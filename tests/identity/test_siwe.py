"""Sign-In with Ethereum: each way a message can be wrong is refused with its own code."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import jwt
import pytest
from eth_account import Account

from backend.identity.eip4361 import MalformedMessage, parse
from tests.identity.conftest import login, make_settings, sign, siwe_text


def refused(response, code: str) -> None:
    assert response.status_code == 401, response.json()
    assert response.json()["error"] == code, response.json()


def test_a_signed_message_signs_in_and_the_token_names_the_wallet(client):
    account = Account.create()
    response = login(client, account)
    assert response.status_code == 200, response.json()
    body = response.json()
    assert body["token_type"] == "bearer" and body["access_token"] and body["refresh_token"]
    me = client.get("/api/v1/auth/me", headers={"Authorization": f"Bearer {body['access_token']}"})
    assert me.json() == {"wallet": account.address, "roles": []}


def test_nonce_is_fresh_each_time_and_expires(client, settings):
    first, second = client.get("/api/v1/auth/nonce").json(), client.get("/api/v1/auth/nonce").json()
    assert first["nonce"] != second["nonce"] and len(first["nonce"]) >= 16 and first["nonce"].isalnum()
    assert first["chain_id"] == 31337 and "localhost:8000" in first["domains"]
    expires = datetime.fromisoformat(first["expires_at"])
    assert timedelta(0) < expires - datetime.now(UTC) <= timedelta(seconds=settings.siwe_nonce_ttl)


def test_wrong_domain_is_refused(client):
    refused(login(client, Account.create(), domain="evil.example:8000"), "siwe_domain_mismatch")


def test_wrong_chain_id_is_refused(client):
    refused(login(client, Account.create(), chain_id=1), "siwe_chain_mismatch")


def test_expired_message_is_refused(client):
    past = datetime.now(UTC) - timedelta(hours=1)
    refused(login(client, Account.create(), issued_at=past, expires_in=60), "siwe_expired")


def test_message_issued_in_the_future_is_refused(client):
    refused(login(client, Account.create(), issued_at=datetime.now(UTC) + timedelta(hours=1)), "siwe_not_yet_valid")


def test_reused_nonce_is_refused(client):
    account = Account.create()
    nonce = client.get("/api/v1/auth/nonce").json()["nonce"]
    text = siwe_text(account, nonce)
    body = {"message": text, "signature": sign(account, text)}
    assert client.post("/api/v1/auth/login", json=body).status_code == 200
    refused(client.post("/api/v1/auth/login", json=body), "siwe_nonce_invalid")


def test_nonce_not_issued_here_is_refused(client):
    account = Account.create()
    text = siwe_text(account, "madeUpNonce123")
    refused(client.post("/api/v1/auth/login", json={"message": text, "signature": sign(account, text)}), "siwe_nonce_invalid")


def test_expired_nonce_is_refused(tmp_path):
    from tests.identity.conftest import client_for, identity_settings

    settings = identity_settings(tmp_path, f"sqlite:///{tmp_path / 'n.db'}", siwe_nonce_ttl=0)
    with client_for(settings) as client:
        refused(login(client, Account.create()), "siwe_nonce_invalid")


def test_forged_signature_is_refused(client):
    victim, forger = Account.create(), Account.create()
    nonce = client.get("/api/v1/auth/nonce").json()["nonce"]
    text = siwe_text(victim, nonce)  # claims the victim's address, signed by someone else
    refused(client.post("/api/v1/auth/login", json={"message": text, "signature": sign(forger, text)}), "siwe_signature_invalid")


def test_tampered_message_is_refused(client):
    account = Account.create()
    nonce = client.get("/api/v1/auth/nonce").json()["nonce"]
    text = siwe_text(account, nonce)
    signature = sign(account, text)
    tampered = text.replace("Sign in to loanchain.", "Sign in to loanchain!")
    refused(client.post("/api/v1/auth/login", json={"message": tampered, "signature": signature}), "siwe_signature_invalid")


@pytest.mark.parametrize("signature", ["0x", "0x1234", "not hex", "0x" + "00" * 65])
def test_garbage_signatures_are_refused(client, signature):
    account = Account.create()
    nonce = client.get("/api/v1/auth/nonce").json()["nonce"]
    refused(client.post("/api/v1/auth/login", json={"message": siwe_text(account, nonce), "signature": signature}), "siwe_signature_invalid")


def test_malformed_message_is_refused(client):
    refused(client.post("/api/v1/auth/login", json={"message": "hello", "signature": "0x00"}), "siwe_malformed")


def test_a_refused_attempt_leaves_the_nonce_usable(client):
    account, forger = Account.create(), Account.create()
    nonce = client.get("/api/v1/auth/nonce").json()["nonce"]
    text = siwe_text(account, nonce)
    refused(client.post("/api/v1/auth/login", json={"message": text, "signature": sign(forger, text)}), "siwe_signature_invalid")
    assert client.post("/api/v1/auth/login", json={"message": text, "signature": sign(account, text)}).status_code == 200


def test_parser_rejects_lowercase_address_and_extra_lines():
    account = Account.create()
    text = siwe_text(account, "abcdefgh123")
    assert parse(text).address == account.address
    with pytest.raises(MalformedMessage):
        parse(text.replace(account.address, account.address.lower()))
    with pytest.raises(MalformedMessage):
        parse(text + "\nInjected: yes")


# --- tokens -----------------------------------------------------------------------------------


def test_refresh_rotates_and_a_reused_refresh_token_revokes_the_wallet(client):
    tokens = login(client, Account.create()).json()
    renewed = client.post("/api/v1/auth/refresh", json={"refresh_token": tokens["refresh_token"]})
    assert renewed.status_code == 200
    fresh = renewed.json()
    assert fresh["refresh_token"] != tokens["refresh_token"]
    refused(client.post("/api/v1/auth/refresh", json={"refresh_token": tokens["refresh_token"]}), "refresh_reused")
    # reuse means the token leaked: the newer one is revoked too
    refused(client.post("/api/v1/auth/refresh", json={"refresh_token": fresh["refresh_token"]}), "refresh_reused")


def test_refresh_token_is_not_an_access_token_and_vice_versa(client):
    tokens = login(client, Account.create()).json()
    refused(client.get("/api/v1/auth/me", headers={"Authorization": f"Bearer {tokens['refresh_token']}"}), "token_invalid")
    refused(client.post("/api/v1/auth/refresh", json={"refresh_token": tokens["access_token"]}), "token_invalid")


def test_token_signed_with_another_secret_or_expired_is_refused(client, settings):
    from backend.identity.tokens import AUDIENCE, ISSUER, signing_secret

    now = datetime.now(UTC)
    claims = {"sub": Account.create().address, "typ": "access", "jti": "x", "iss": ISSUER, "aud": AUDIENCE, "iat": now, "exp": now + timedelta(minutes=5)}
    forged = jwt.encode(claims, b"k" * 32, algorithm="HS256")
    refused(client.get("/api/v1/auth/me", headers={"Authorization": f"Bearer {forged}"}), "token_invalid")
    expired = jwt.encode({**claims, "exp": now - timedelta(seconds=1)}, signing_secret(settings), algorithm="HS256")
    refused(client.get("/api/v1/auth/me", headers={"Authorization": f"Bearer {expired}"}), "token_expired")
    none_alg = jwt.encode(claims, None, algorithm="none")
    refused(client.get("/api/v1/auth/me", headers={"Authorization": f"Bearer {none_alg}"}), "token_invalid")


def test_jwt_secret_is_generated_under_var_keys_with_owner_only_permissions(client, settings):
    login(client, Account.create())
    path = settings.keys_dir / "jwt.key"
    assert path.exists() and path.stat().st_mode & 0o777 == 0o600


def test_off_a_local_chain_a_missing_jwt_key_is_refused_not_generated(tmp_path):
    """A key made up on one host would not verify another host's sessions, nor survive a restore."""
    from backend.errors import ConfigurationError
    from backend.identity.tokens import signing_secret

    settings = make_settings(tmp_path, chain_id=1)
    with pytest.raises(ConfigurationError, match="LOANCHAIN_JWT_SECRET"):
        signing_secret(settings)
    assert not (settings.keys_dir / "jwt.key").exists()


def test_logout_revokes_refresh_tokens(client):
    tokens = login(client, Account.create()).json()
    headers = {"Authorization": f"Bearer {tokens['access_token']}"}
    assert client.post("/api/v1/auth/logout", headers=headers).json() == {"revoked": 1}
    refused(client.post("/api/v1/auth/refresh", json={"refresh_token": tokens["refresh_token"]}), "refresh_reused")


def test_logout_ends_the_access_token_too_and_a_new_sign_in_works_at_once(client):
    account = Account.create()
    tokens = login(client, account).json()
    other_device = login(client, account).json()
    headers = {"Authorization": f"Bearer {tokens['access_token']}"}
    assert client.get("/api/v1/auth/me", headers=headers).status_code == 200
    assert client.post("/api/v1/auth/logout", headers=headers).status_code == 200
    refused(client.get("/api/v1/auth/me", headers=headers), "session_ended")
    refused(client.get("/api/v1/auth/me", headers={"Authorization": f"Bearer {other_device['access_token']}"}), "session_ended")
    again = login(client, account).json()  # the same second as the logout: a generation, not a clock, decides
    assert client.get("/api/v1/auth/me", headers={"Authorization": f"Bearer {again['access_token']}"}).status_code == 200


def test_refresh_token_reuse_ends_the_access_tokens_of_the_wallet(client):
    tokens = login(client, Account.create()).json()
    fresh = client.post("/api/v1/auth/refresh", json={"refresh_token": tokens["refresh_token"]}).json()
    headers = {"Authorization": f"Bearer {fresh['access_token']}"}
    assert client.get("/api/v1/auth/me", headers=headers).status_code == 200
    refused(client.post("/api/v1/auth/refresh", json={"refresh_token": tokens["refresh_token"]}), "refresh_reused")
    refused(client.get("/api/v1/auth/me", headers=headers), "session_ended")  # the thief's (or owner's) copy too


def test_refreshes_keep_the_sign_in_time_and_stop_at_the_absolute_session_age(tmp_path):
    from backend.db.session import session_scope
    from backend.identity.tokens import issue_pair
    from tests.identity.conftest import client_for, identity_settings

    settings = identity_settings(tmp_path, f"sqlite:///{tmp_path / 'age.db'}", session_max_age=3600)
    client, account = client_for(settings), Account.create()
    signed_in = datetime.now(UTC) - timedelta(minutes=50)
    with session_scope(settings) as session:
        pair = issue_pair(session, settings, account.address, auth_time=signed_in)
    renewed = client.post("/api/v1/auth/refresh", json={"refresh_token": pair.refresh_token}).json()
    claims = jwt.decode(renewed["refresh_token"], options={"verify_signature": False})
    assert claims["auth_time"] == int(signed_in.timestamp())  # carried, not restarted
    assert claims["exp"] <= int(signed_in.timestamp()) + 3600 and renewed["expires_in"] <= 10 * 60
    with session_scope(settings) as session:
        old = issue_pair(session, settings, account.address, auth_time=datetime.now(UTC) - timedelta(minutes=61))
    refused(client.post("/api/v1/auth/refresh", json={"refresh_token": old.refresh_token}), "token_expired")  # capped
    # issued while sessions could last longer: the age, not only the token's expiry, is checked
    with session_scope(settings) as session:
        longer = settings.model_copy(update=dict(session_max_age=7200))
        older = issue_pair(session, longer, account.address, auth_time=datetime.now(UTC) - timedelta(minutes=61))
    refused(client.post("/api/v1/auth/refresh", json={"refresh_token": older.refresh_token}), "session_expired")


def test_sign_in_is_rate_limited_per_client(tmp_path):
    from tests.identity.conftest import client_for, identity_settings

    settings = identity_settings(tmp_path, f"sqlite:///{tmp_path / 'r.db'}", auth_rate_limit=3)
    with client_for(settings) as client:
        codes = [client.get("/api/v1/auth/nonce").status_code for _ in range(5)]
    assert codes == [200, 200, 200, 429, 429]


def test_the_nonce_endpoint_can_prepare_the_message_for_a_lower_case_address(client):
    """Browser wallets hand out lower-case addresses; EIP-4361 wants them checksummed."""
    account = Account.create()
    issued = client.get("/api/v1/auth/nonce", params={"address": account.address.lower(), "domain": "localhost:8000"}).json()
    message = issued["message"]
    assert account.address in message and f"Nonce: {issued['nonce']}" in message
    assert parse(message).domain == "localhost:8000"
    response = client.post("/api/v1/auth/login", json={"message": message, "signature": sign(account, message)})
    assert response.status_code == 200, response.json()

    bad_address = client.get("/api/v1/auth/nonce", params={"address": "0x1234"})
    assert bad_address.status_code == 422 and bad_address.json()["context"]["field"] == "address"
    bad_domain = client.get("/api/v1/auth/nonce", params={"address": account.address, "domain": "evil.example"})
    assert bad_domain.status_code == 422 and "localhost:8000" in bad_domain.json()["detail"]
    assert client.get("/api/v1/auth/nonce").json()["message"] is None
