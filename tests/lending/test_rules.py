"""Standing instructions (auto-invest without custody): an investor says which new loans it wants
and how much to hold in each; the servicing pass tells it of each matching loan once; one call
builds the wallet transactions that fund every match, which the investor's wallet sends."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from backend.chain.indexer import Indexer
from backend.db.session import session_scope
from backend.identity.kyc.submission import submit
from backend.identity.schemas import KycCreate
from backend.servicing.models import ServicingNotice
from backend.servicing.service import servicing_pass
from tests.conftest import own_database
from tests.contracts.conftest import chain, world  # noqa: F401
from tests.identity.conftest import client_for, make_applicant, minted_bearer
from tests.lending.test_portfolio import _decision_hash
from tests.lending.test_wallet_txs import _send
from tests.scoring.conftest import SAMPLE

UNIT = 10**6


@pytest.fixture
def settings(chain_settings, deployment, world, snapshot, tmp_path, database_url):  # noqa: F811
    return own_database(chain_settings, tmp_path, database_url, disclosure_publish_monthly=False)


def _matches(settings) -> list[tuple[int, str]]:
    with session_scope(settings) as session:
        return [(n.loan_id, n.recipient) for n in session.scalars(
            select(ServicingNotice).where(ServicingNotice.kind == "loan_match").order_by(ServicingNotice.id))]  # fmt: skip


def _pass(settings) -> None:
    Indexer().catch_up(settings)
    with session_scope(settings) as session:
        servicing_pass(session, settings)


def test_an_investor_is_told_of_each_matching_loan_once_and_funds_them_in_one_go(settings, world):  # noqa: F811
    investor = world.investors[0]
    with session_scope(settings) as session:  # KYC level 1: the investor role
        submit(session, settings, investor.address, KycCreate(**make_applicant(901).form()), [])
    client, headers = client_for(settings), minted_bearer(settings, investor)
    grade_a = _decision_hash(settings, SAMPLE)
    wanted = world.create(decision_hash=grade_a, apr_bps=1_500, installments=12)[0]
    too_cheap = world.create(decision_hash=grade_a, apr_bps=900, installments=12)[0]
    too_long = world.create(decision_hash=grade_a, apr_bps=1_500, installments=48)[0]
    unrated = world.create(apr_bps=1_500, installments=12)[0]  # decided elsewhere: no grade

    rule = {"per_loan": 300 * UNIT, "grades": ["A", "B"], "min_apr_bps": 1_000, "max_installments": 36}
    Indexer().catch_up(settings)
    saved = client.put("/api/v1/portfolio/rule", json=rule, headers=headers)
    assert saved.status_code == 200, saved.text
    assert saved.json()["matching_now"] == [wanted] and client.get("/api/v1/portfolio/rule", headers=headers).json() == saved.json()
    assert {too_cheap, too_long, unrated}.isdisjoint(saved.json()["matching_now"])

    _pass(settings)
    _pass(settings)  # once per loan, however many passes
    assert _matches(settings) == [(wanted, investor.address)]
    later = world.create(decision_hash=grade_a, apr_bps=2_000, installments=6)[0]  # a new loan that matches
    _pass(settings)
    assert _matches(settings) == [(wanted, investor.address), (later, investor.address)]
    notices = client.get("/api/v1/servicing/notices", headers=headers).json()
    assert any(f"Loan {later} matches your standing instruction: grade A, 20.00% APR" in n["message"] for n in notices)

    plan = client.post("/api/v1/portfolio/rule/plan", headers=headers).json()
    assert sorted((a["loan_id"], a["amount"]) for a in plan["allocations"]) == [(wanted, 300 * UNIT), (later, 300 * UNIT)]
    _send(world.w3, investor, plan["transactions"])  # the investor's wallet funds them, not the platform
    assert world.book.functions.balanceOf(investor.address, wanted).call() == 300 * UNIT
    _pass(settings)
    assert client.get("/api/v1/portfolio/rule", headers=headers).json()["matching_now"] == []  # held in full
    assert client.post("/api/v1/portfolio/rule/plan", headers=headers).status_code == 409  # nothing left to fund

    assert client.delete("/api/v1/portfolio/rule", headers=headers).status_code == 204
    assert client.get("/api/v1/portfolio/rule", headers=headers).status_code == 404
    world.create(decision_hash=grade_a, apr_bps=2_000, installments=6)
    _pass(settings)
    assert len(_matches(settings)) == 2  # no instruction, no notices


def test_bad_instructions_get_a_clear_4xx(settings, world):  # noqa: F811
    investor = world.investors[1]
    with session_scope(settings) as session:
        submit(session, settings, investor.address, KycCreate(**make_applicant(902).form()), [])
    client, headers = client_for(settings), minted_bearer(settings, investor)
    for body, field in (({"per_loan": 0}, "per_loan"), ({"per_loan": 1, "grades": ["Z"]}, "grades"),
                        ({"per_loan": 1, "min_apr_bps": -1}, "min_apr_bps"), ({"per_loan": 1, "extra": 1}, "extra"),
                        ({}, "per_loan")):  # fmt: skip
        answer = client.put("/api/v1/portfolio/rule", json=body, headers=headers)
        assert answer.status_code == 422 and field in answer.text, (body, answer.text)
    too_small = client.put("/api/v1/portfolio/rule", json={"per_loan": 24 * UNIT}, headers=headers)
    assert too_small.status_code == 422 and "per_loan" in too_small.text and str(25 * UNIT) in too_small.text
    assert client.get("/api/v1/portfolio/rule", headers=headers).status_code == 404  # nothing was saved
    assert client.put("/api/v1/portfolio/rule", json={"per_loan": 1}).status_code == 401
    borrower = client.put("/api/v1/portfolio/rule", json={"per_loan": 1}, headers=minted_bearer(settings, world.borrower))
    assert borrower.status_code == 403  # investing is for verified investors
    assert client.get("/api/v1/portfolio/rule", headers=headers).status_code == 404
    assert client.post("/api/v1/portfolio/rule/plan", headers=headers).status_code == 404
    assert client.delete("/api/v1/portfolio/rule", headers=headers).status_code == 404
