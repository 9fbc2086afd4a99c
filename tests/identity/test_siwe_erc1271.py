"""Sign-in for smart-contract wallets (ERC-1271): the wallet's own isValidSignature decides,
over the EIP-191 digest of the sign-in message. On the session chain, with a minimal wallet
that accepts its owner's signatures."""

from __future__ import annotations

import pytest
from eth_account import Account

from backend.identity.eip4361 import SiweMessage
from tests.identity.conftest import client_for, sign


@pytest.fixture
def client(chain_identity_settings):
    with client_for(chain_identity_settings) as c:
        yield c


@pytest.fixture
def wallet(w3, artifacts, chain_identity_settings):
    """A contract wallet owned by a fresh key, deployed by Anvil account 0."""
    owner = Account.create()
    art = artifacts["MockERC1271Wallet"]
    factory = w3.eth.contract(abi=art["abi"], bytecode=art["bytecode"])
    tx = factory.constructor(owner.address).transact({"from": w3.eth.accounts[0]})
    address = w3.eth.wait_for_transaction_receipt(tx)["contractAddress"]
    return address, owner


def _text(client, address: str) -> str:
    from datetime import UTC, datetime, timedelta

    now = datetime.now(UTC)
    return SiweMessage(
        domain="localhost:8000", address=address, uri="http://localhost:8000", chain_id=31337,
        nonce=client.get("/api/v1/auth/nonce").json()["nonce"], issued_at=now,
        expiration_time=now + timedelta(minutes=5), statement="Sign in to loanchain.",
    ).to_text()  # fmt: skip


def test_a_contract_wallet_signs_in_with_its_owners_signature(client, wallet):
    address, owner = wallet
    text = _text(client, address)
    response = client.post("/api/v1/auth/login", json={"message": text, "signature": sign(owner, text)})
    assert response.status_code == 200, response.json()
    me = client.get("/api/v1/auth/me", headers={"Authorization": f"Bearer {response.json()['access_token']}"})
    assert me.json()["wallet"] == address


def test_a_contract_wallet_refuses_a_strangers_signature(client, wallet):
    address, _ = wallet
    text = _text(client, address)
    response = client.post("/api/v1/auth/login", json={"message": text, "signature": sign(Account.create(), text)})
    assert response.status_code == 401 and response.json()["error"] == "siwe_signature_invalid"


def test_an_account_without_code_is_not_asked(client):
    """A wrong signature for an ordinary account stays wrong: no code, no ERC-1271 answer."""
    stranger, signer = Account.create(), Account.create()
    text = _text(client, stranger.address)
    response = client.post("/api/v1/auth/login", json={"message": text, "signature": sign(signer, text)})
    assert response.status_code == 401 and response.json()["error"] == "siwe_signature_invalid"


def test_a_contract_that_is_not_a_wallet_is_refused(client, chain_identity_settings):
    """KYCRegistry has no isValidSignature: the call reverts, and that is a refusal, not a 500."""
    from backend.chain.deploy import deployed_addresses

    registry = deployed_addresses(chain_identity_settings)["KYCRegistry"]
    owner = Account.create()
    text = _text(client, registry)
    response = client.post("/api/v1/auth/login", json={"message": text, "signature": sign(owner, text)})
    assert response.status_code == 401 and response.json()["error"] == "siwe_signature_invalid"
