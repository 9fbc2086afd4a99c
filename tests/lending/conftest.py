"""Offer fixtures: the session chain (reverted after each test), a database of the test's own, and
a borrower who passed KYC (an admin opened their ID document and approved: attested at level 2
on-chain) and holds a scored application."""

from __future__ import annotations

from dataclasses import dataclass

import pytest
from eth_account import Account
from eth_account.signers.local import LocalAccount
from fastapi.testclient import TestClient
from web3 import Web3

from backend.chain.indexer import Indexer
from backend.chain.outbox import process_until_idle
from backend.config import Settings
from backend.db import migrate
from tests.contracts.helpers import KYC_EXPIRY
from tests.identity.conftest import ADMIN, GENEROUS, PNG, approve_over_api, bearer, client_for, make_applicant, submit
from tests.scoring.conftest import RISKY
from tests.scoring.conftest import SAMPLE as SCORING_SAMPLE

# A first-time borrower has repaid nothing here, so "all_repaid_here" (scoring's SAMPLE) would be
# refused at the offer (`exposure.check_application`); the truthful answer, with a guarantor, scores
# exactly as scoring's SAMPLE does (37 + 53 points against 52 + 38): the same grade, PD and price.
SAMPLE = {**SCORING_SAMPLE, "credit_history": "no_credit_or_all_repaid", "guarantor": "guarantor"}


@dataclass
class Borrower:
    account: LocalAccount
    headers: dict[str, str]


def sign_typed(account: LocalAccount, typed_data: dict) -> str:
    return "0x" + bytes(Account.sign_typed_data(account.key, full_message=typed_data).signature).hex()


def settle(settings: Settings) -> None:
    """Send what the outbox holds, then index the chain: what the workers do in production."""
    process_until_idle(settings)
    Indexer().catch_up(settings)


@pytest.fixture
def chain_identity_settings(chain_settings, deployment, tmp_path, snapshot, database_url) -> Settings:
    """The session chain (reverted after the test) with a database of the test's own, once on
    SQLite and once on PostgreSQL."""
    settings = chain_settings.model_copy(update=dict(
        var_dir=tmp_path / "var", database_url=database_url, admin_wallets=[ADMIN.address], **GENEROUS
    ))  # fmt: skip
    migrate.upgrade(settings)
    return settings


@pytest.fixture
def client(chain_identity_settings) -> TestClient:
    with client_for(chain_identity_settings) as c:
        yield c


def verified_borrower(client: TestClient, settings: Settings, seed: int) -> Borrower:
    applicant = make_applicant(seed)
    headers = bearer(client, applicant.account)
    record = submit(client, applicant, headers, files=[("documents", ("id.png", PNG, "image/png"))]).json()
    assert record["status"] == "needs_review", record  # an ID document is looked at by a person
    assert approve_over_api(client, record["id"])["status"] == "approved"
    process_until_idle(settings)  # the attestation: LoanBook checks it on createLoan
    return Borrower(applicant.account, headers)


@pytest.fixture
def borrower(client, chain_identity_settings) -> Borrower:
    return verified_borrower(client, chain_identity_settings, 400)


def scored(client: TestClient, borrower: Borrower, application: dict | None = None) -> dict:
    response = client.post("/api/v1/score", json=application or SAMPLE, headers=borrower.headers)
    assert response.status_code == 201, response.json()
    return response.json()


@pytest.fixture
def approved(client, borrower) -> dict:
    decision = scored(client, borrower)
    assert decision["decision"] == "approve", decision
    return decision


def created_loan(client: TestClient, settings: Settings, borrower: Borrower, decision: dict) -> dict:
    """Offer, sign, accept, settle: the offer as it reads once its loan is on-chain and indexed."""
    offer = client.post("/api/v1/offers", json={"decision_id": decision["id"]}, headers=borrower.headers).json()
    signature = sign_typed(borrower.account, offer["typed_data"])
    accepted = client.post(f"/api/v1/offers/{offer['id']}/accept", json={"signature": signature}, headers=borrower.headers)
    assert accepted.status_code == 200, accepted.json()
    settle(settings)
    offer = client.get(f"/api/v1/offers/{offer['id']}", headers=borrower.headers).json()
    assert offer["state"] == "created", offer
    return offer


def chain_borrower(world, account: LocalAccount | None = None) -> LocalAccount:
    """`account` (a new one by default) verified at the borrowers' level on chain, as the session
    world's one borrower is: a loan needs its borrower's signature and attestation, no ether."""
    account = account or Account.create()
    world.chain.tx(world.kyc.functions.attest(account.address, world.borrower_level, KYC_EXPIRY,
                                              Web3.keccak(text=f"kyc-{account.address}")), world.admin.address)  # fmt: skip
    return account


def loan_by_another(world, **terms) -> tuple[int, dict]:
    """`world.create`, borrowed by a new borrower of its own: the mandate keeper puts no more than its
    per-loan amount into all the loans of one borrower person, so loans meant to be funded side by
    side are each another person's."""
    borrower = chain_borrower(world)
    return world.create(borrower=borrower.address, borrower_key=borrower, **terms)


__all__ = ["chain_borrower", "loan_by_another", "RISKY", "SAMPLE", "Borrower", "created_loan", "scored", "settle", "sign_typed", "verified_borrower"]
