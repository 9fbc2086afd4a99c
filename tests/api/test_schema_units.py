"""An `amount` is whole tokens on an application or an offer and base units everywhere money moves on
chain, sometimes inside one response: a client that copied an offer's `amount` (3000) into a repayment
paid 0.003 tokens. Times are ISO datetimes and block times in seconds, sometimes under one name
(`expires_at`). Every money-named integer and every time the OpenAPI document shows says its unit
(checked over the whole document, so a new field joins by itself)."""

from __future__ import annotations

import re

from backend.api.main import create_app

MONEY = re.compile(r"amount|principal|owed|cap|paid|due|fee|cost|balance|price")
UNITS = ("base units", "whole tokens", "in tokens", "basis points", "unix seconds", "days", "number of")
UNIT_IN_NAME = re.compile(r"_bps$|^days_|_days$")  # price_bps, days_past_due, promised_in_days
TIME = re.compile(r"_at$|_date$|_time$|timestamp$|^as_of$|^expiry$|_deadline$|^period_(start|end)$")


def _is_integer(schema: dict) -> bool:
    return schema.get("type") == "integer" or any(s.get("type") == "integer" for s in schema.get("anyOf", []))


def test_every_money_named_integer_names_its_unit():
    spec = create_app().openapi()
    silent, checked = [], 0
    for component, schema in spec["components"]["schemas"].items():
        for name, field in schema.get("properties", {}).items():
            if not (MONEY.search(name) and _is_integer(field)) or UNIT_IN_NAME.search(name):
                continue
            checked += 1
            if not any(unit in field.get("description", "").lower() for unit in UNITS):
                silent.append(f"{component}.{name}: {field.get('description')!r}")
    assert checked > 100
    assert not silent, "money fields whose description names no unit (backend/units.py):\n" + "\n".join(silent)


def test_the_units_that_differ_inside_one_offer_are_told_apart():
    props = create_app().openapi()["components"]["schemas"]
    described = {f"{c}.{n}": props[c]["properties"][n]["description"] for c, n in [
        ("OfferPublic", "amount"), ("PricePublic", "installment_amount"), ("InstallmentPublic", "amount"),
        ("ApplicationCreate", "amount"), ("WalletTxCreate", "amount"), ("BorrowingPublic", "cap"),
        ("QuotePublic", "max_amount"), ("LoanStatementLinePublic", "cash"), ("StatementLinePublic", "cash"),
    ]}  # fmt: skip
    whole = {"OfferPublic.amount", "ApplicationCreate.amount", "BorrowingPublic.cap", "QuotePublic.max_amount"}
    for field, words in described.items():
        assert ("whole tokens" in words.lower()) == (field in whole), (field, words)
        assert field in whole or "base units of the loan token" in words.lower(), (field, words)
    # the loan statement's cash was described as "Tokens to the borrower" while its class said base units
    assert described["LoanStatementLinePublic.cash"].startswith("To the borrower") and "Tokens" not in described[
        "LoanStatementLinePublic.cash"]  # fmt: skip
    assert described["StatementLinePublic.cash"].count("base units") == 1


def _is_datetime(schema: dict) -> bool:
    return schema.get("format") == "date-time" or any(s.get("format") == "date-time" for s in schema.get("anyOf", []))


def test_every_time_is_an_iso_datetime_or_says_unix_seconds():
    spec = create_app().openapi()
    unclear, checked = [], 0
    for component, schema in spec["components"]["schemas"].items():
        for name, field in schema.get("properties", {}).items():
            if not TIME.search(name):
                continue
            checked += 1
            if _is_integer(field):
                if "Unix seconds (UTC)" not in field.get("description", ""):
                    unclear.append(f"{component}.{name}: integer, {field.get('description')!r}")
            elif not _is_datetime(field):
                unclear.append(f"{component}.{name}: {field}")
    assert checked > 50
    assert not unclear, "times that are neither date-time nor described as Unix seconds:\n" + "\n".join(unclear)
    props = spec["components"]["schemas"]
    for component, name in [("KycPublic", "decided_at"), ("KycPublic", "expires_at"), ("CheckpointPublic", "block_time"),
                            ("AuditEntryPublic", "recorded_at")]:  # fmt: skip
        assert _is_datetime(props[component]["properties"][name]), (component, name)
    # the same name, two kinds: each says which it is
    assert _is_integer(props["ListingPublic"]["properties"]["expires_at"])
    assert _is_datetime(props["MandatePublic"]["properties"]["expires_at"])
    since = [p for p in spec["paths"]["/api/v1/audit/alerts"]["get"]["parameters"] if p["name"] == "since"][0]
    assert "Unix seconds" in since["description"]
