"""What an investor may know of a loan's borrower before funding: the banded facts of the
application the loan was priced on and its credit decision, never identity, declared amounts or
assets; for investors and staff only."""

from __future__ import annotations

import json

from eth_account import Account
from typer.testing import CliRunner

from backend.chain.projection_models import LoanRow, MarketListingRow, NoteBalanceRow
from backend.cli.main import app
from backend.config import get_settings
from backend.db.session import session_scope
from tests.anchoring.helpers import point_get_settings_at
from tests.identity.conftest import bearer
from tests.lending.conftest import SAMPLE, created_loan, verified_borrower


def test_an_investor_sees_the_borrowers_banded_facts_and_nothing_that_identifies_it(client, chain_identity_settings,
                                                                                     borrower, approved, monkeypatch):  # fmt: skip
    offer = created_loan(client, chain_identity_settings, borrower, approved)
    loan_id, path = offer["loan_id"], f"/api/v1/loans/{offer['loan_id']}/borrower"
    investor = verified_borrower(client, chain_identity_settings, 401)  # KYC-verified: the investor role

    shown = client.get(path, headers=investor.headers)
    assert shown.status_code == 200, shown.text
    profile = shown.json()
    assert (profile["loan_id"], profile["grade"], profile["score"]) == (loan_id, approved["grade"], approved["score"])
    assert profile["pd"] == approved["pd"] and profile["term_months"] == SAMPLE["term_months"]
    for band in ("purpose", "monthly_income_band", "employment_length", "housing", "credit_history",
                 "existing_loans_with_us"):  # fmt: skip
        assert profile[band] == SAMPLE[band]
    # Debt payments with this loan's installment over the income band's lower edge (2,000); one
    # installment every 30 days is 365/360 of one a month (review-pricing L1).
    installment = offer["price"]["installment_amount"] / 10 ** offer["asset_decimals"] * 365 / 360
    assert profile["debt_service_ratio"] == round((SAMPLE["monthly_debt_payments"] + installment) / 2_000, 2)
    assert profile["debt_service_ratio"] <= profile["debt_service_ratio_cap"] == 0.35
    assert profile["score_reasons"] == [r["text"] for r in approved["reasons"]]
    # Never the declared amounts, the assets, or anything naming the person.
    text = shown.text
    assert not {"monthly_debt_payments", "savings", "property", "checking_account", "borrower", "wallet"} & set(profile)
    assert borrower.account.address not in text and borrower.account.address.lower() not in text

    # Once the loan has left funding, only its note holders (and staff) see it.
    with session_scope(chain_identity_settings) as session:
        session.get(LoanRow, loan_id).status = "active"
    refused = client.get(path, headers=investor.headers)
    assert refused.status_code == 403 and "note holders" in refused.text
    with session_scope(chain_identity_settings) as session:  # a holder offers notes: buyers decide too
        session.add(MarketListingRow(listing_id=1, loan_id=loan_id, seller="0x" + "ab" * 20, notes_listed=1,
                                     notes_left=1, price_bps=9_900, status="open", block_number=1, log_index=0,
                                     tx_hash="0x" + "00" * 32))  # fmt: skip
    assert client.get(path, headers=investor.headers).json() == profile
    with session_scope(chain_identity_settings) as session:
        session.get(MarketListingRow, 1).status = "sold"
    assert client.get(path, headers=investor.headers).status_code == 403
    with session_scope(chain_identity_settings) as session:
        session.add(NoteBalanceRow(loan_id=loan_id, holder=investor.account.address, balance=1, block_number=1,
                                   log_index=0, tx_hash="0x" + "00" * 32))  # fmt: skip
    assert client.get(path, headers=investor.headers).json() == profile

    stranger = bearer(client, Account.create())  # signed in, no KYC: not an investor
    assert client.get(path, headers=stranger).status_code == 403
    assert client.get(path).status_code == 401
    assert client.get("/api/v1/loans/999/borrower", headers=investor.headers).status_code == 404
    try:  # staff read the same from the CLI
        point_get_settings_at(monkeypatch, chain_identity_settings)
        assert json.loads(CliRunner().invoke(app, ["loan", "borrower", str(loan_id), "--json"]).stdout) == profile
        assert f"grade {approved['grade']}" in CliRunner().invoke(app, ["loan", "borrower", str(loan_id)]).stdout
    finally:
        monkeypatch.undo()
        get_settings.cache_clear()

