"""The README's scripted wallet (`docs/examples/wallet.py`) works against the platform on a local
chain: a borrower signs in and signs its offer's terms with a local key, an investor signs in and
sends the funding transactions the API prepared."""

from __future__ import annotations

import importlib.util
from pathlib import Path

from backend.chain.client import get_web3
from tests.contracts.conftest import chain, world  # noqa: F401
from tests.lending.conftest import approved, borrower, chain_identity_settings, client, settle  # noqa: F401

EXAMPLE = Path(__file__).parents[2] / "docs" / "examples" / "wallet.py"


def _example():
    spec = importlib.util.spec_from_file_location("wallet_example", EXAMPLE)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_a_script_signs_in_accepts_an_offer_and_funds_the_loan(client, chain_identity_settings, borrower, approved, world):  # noqa: F811
    wallet, settings = _example(), chain_identity_settings
    headers = wallet.sign_in(client, borrower.account)
    assert client.get("/api/v1/auth/me", headers=headers).json()["wallet"] == borrower.account.address

    offer = client.post("/api/v1/offers", json={"decision_id": approved["id"]}, headers=headers).json()
    assert wallet.accept_offer(client, borrower.account, headers, offer)["state"] == "submitting"
    settle(settings)
    loan_id = client.get(f"/api/v1/offers/{offer['id']}", headers=headers).json()["loan_id"]
    principal = world.loan(loan_id)["principal"]

    investor = world.investors[0]
    planned = client.post(f"/api/v1/loans/{loan_id}/transactions", json={"action": "fund", "amount": principal},
                          headers=wallet.sign_in(client, investor)).json()  # fmt: skip
    assert len(wallet.send(get_web3(settings), investor, planned["transactions"])) == len(planned["transactions"])
    assert world.loan(loan_id)["funded"] == principal
    assert wallet.anvil_account(0).address == "0xf39Fd6e51aad88F6F4ce6aB8827279cffFb92266"


def test_the_script_finds_the_api_on_the_port_the_platform_serves():
    """`make run` with LOANCHAIN_API_PORT=8001 serves on 8001: the script follows it, or a URL given."""
    api_url = _example().api_url
    assert api_url(["wallet.py", "3"], {}) == "http://127.0.0.1:8000"
    assert api_url(["wallet.py", "3"], {"LOANCHAIN_API_PORT": "8001"}) == "http://127.0.0.1:8001"
    assert api_url(["wallet.py", "3"], {"LOANCHAIN_API_URL": "http://10.0.0.5:9000", "LOANCHAIN_API_PORT": "8001"}) == "http://10.0.0.5:9000"
    assert api_url(["wallet.py", "3", "http://h:1"], {"LOANCHAIN_API_PORT": "8001"}) == "http://h:1"
