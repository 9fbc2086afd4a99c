"""What an investor may know of a loan's borrower before funding: the banded facts of the
application the loan was priced on and its credit decision, never identity, declared amounts or
assets, nor the exact score, PD, debt-service ratio or reasons from which they can be worked back;
for investors and staff only."""

from __future__ import annotations

import json

from eth_account import Account
from typer.testing import CliRunner

from backend.chain.projection_models import LoanRow, MarketListingRow, NoteBalanceRow
from backend.cli.main import app
from backend.config import get_settings
from backend.db.session import session_scope
from backend.lending.borrower_profile import DISCLOSED_REASON_CODES, dsr_band
from backend.scoring.reasons import REASONS
from tests.anchoring.helpers import point_get_settings_at
from tests.identity.conftest import bearer
from tests.lending.conftest import SAMPLE, created_loan, scored, verified_borrower

# An approval with a reason about an answer investors are not shown (no guarantor, R09) among its four.
PROFILED = {**SAMPLE, "amount": 3500, "term_months": 12, "guarantor": "none"}

# The answers investors are never shown, and the reason codes about them.
HIDDEN_FEATURES = ("status_of_existing_checking_account", "savings_account_and_bonds", "other_debtors_or_guarantors",
                   "property", "other_installment_plans")  # fmt: skip


def test_reasons_about_hidden_answers_are_never_disclosed():
    hidden = {REASONS[f][0] for f in HIDDEN_FEATURES}
    assert hidden == {"R01", "R06", "R09", "R11", "R12"} and not hidden & DISCLOSED_REASON_CODES
    assert "R99" not in DISCLOSED_REASON_CODES  # a reason the table does not know is left out too


def test_the_debt_service_ratio_is_shown_as_a_band_up_to_the_affordability_cap():
    shown = [(r, dsr_band(r)) for r in (0.0, 0.1999, 0.20, 0.2999, 0.30, 0.35, 0.3501, 0.9)]
    assert [band for _, band in shown] == ["under 20%", "under 20%", "20-30%", "20-30%", "30-35%", "30-35%",
                                           "over 35%", "over 35%"]  # fmt: skip


def test_an_investor_sees_the_borrowers_banded_facts_and_nothing_that_identifies_it(client, chain_identity_settings,
                                                                                     borrower, monkeypatch):  # fmt: skip
    approved = scored(client, borrower, PROFILED)
    offer = created_loan(client, chain_identity_settings, borrower, approved)
    loan_id, path = offer["loan_id"], f"/api/v1/loans/{offer['loan_id']}/borrower"
    investor = verified_borrower(client, chain_identity_settings, 401)  # KYC-verified: the investor role

    shown = client.get(path, headers=investor.headers)
    assert shown.status_code == 200, shown.text
    profile = shown.json()
    assert (profile["loan_id"], profile["grade"], profile["term_months"]) == (loan_id, approved["grade"],
                                                                            PROFILED["term_months"])  # fmt: skip
    # The grade's PD band, never the applicant's own score or PD (privacy review M4).
    grade_band = approved["grade_band"]
    assert (profile["pd_low"], profile["pd_high"]) == (grade_band["pd_low"], grade_band["pd_high"])
    assert grade_band["pd_low"] <= approved["pd"] <= grade_band["pd_high"]
    assert not {"score", "pd", "debt_service_ratio"} & set(profile)
    for band in ("purpose", "monthly_income_band", "employment_length", "housing", "credit_history",
                 "existing_loans_with_us"):  # fmt: skip
        assert profile[band] == PROFILED[band]
    # Debt payments with this loan's installment over the income band's lower edge (2,000); one
    # installment every 30 days is 365/360 of one a month (review-pricing L1); shown as its band only.
    installment = offer["price"]["installment_amount"] / 10 ** offer["asset_decimals"] * 365 / 360
    assert 0.20 <= (PROFILED["monthly_debt_payments"] + installment) / 2_000 < 0.30
    assert profile["debt_service_ratio_band"] == "20-30%" and profile["debt_service_ratio_cap"] == 0.35
    # Of the score's reasons, only those about facts shown anyway: PROFILED's guarantor reason (R09)
    # would tell investors about an answer they are not shown.
    codes = [r["code"] for r in approved["reasons"]]
    assert "R09" in codes and set(codes) - {"R09"} <= DISCLOSED_REASON_CODES, codes
    assert profile["score_reasons"] == [r["text"] for r in approved["reasons"] if r["code"] != "R09"]
    assert not {REASONS[f][1] for f in HIDDEN_FEATURES} & set(profile["score_reasons"])
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
        text = CliRunner().invoke(app, ["loan", "borrower", str(loan_id)]).stdout
        assert f"grade {approved['grade']} (PD {grade_band['pd_low']:.1%} to {grade_band['pd_high']:.1%})" in text
        assert "debt service 20-30% of income" in text and "score" not in text.replace("lowered the score", "")
    finally:
        monkeypatch.undo()
        get_settings.cache_clear()

