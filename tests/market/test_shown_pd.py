"""Two loans of one grade whose decisions have different exact PDs (their borrowers' hidden savings
differ): everything shown to investors and the public (the market's listings, the loan tape, the
portfolio, the loan list) gives both the grade's PD, which priced them, so no exact PD, and with it
no exact score, can be read back; staff still see each decision's exact PD."""

from __future__ import annotations

import csv
import io
import json

import pytest
from sqlalchemy import select

from backend.db.session import session_scope
from backend.scoring.grade_pd import priced_pd
from backend.scoring.models import CreditDecision
from backend.servicing.roll_rates import remaining_share
from tests.conftest import own_database
from tests.contracts.conftest import chain, world  # noqa: F401
from tests.identity.conftest import ADMIN, client_for, minted_bearer
from tests.lending.test_portfolio import _decision_hash
from tests.lending.test_wallet_txs import _send
from tests.market.conftest import index
from tests.scoring.conftest import SAMPLE


@pytest.fixture
def settings(chain_settings, deployment, world, snapshot, tmp_path, database_url):  # noqa: F811
    return own_database(chain_settings, tmp_path, database_url, admin_wallets=[ADMIN.address])


def test_loans_of_a_grade_show_its_pd_and_only_staff_see_the_exact_one(settings, world):  # noqa: F811
    hashes = [_decision_hash(settings, application) for application in (SAMPLE, {**SAMPLE, "savings": "100_to_500"})]
    with session_scope(settings) as session:
        rows = session.scalars(select(CreditDecision).where(CreditDecision.decision_hash.in_(hashes)))
        made = {d.decision_hash: (d.id, d.model_version, d.grade, d.pd) for d in rows}
    (_, version, grade, first_pd), (_, _, other_grade, second_pd) = (made[h] for h in hashes)
    assert grade == other_grade == "A" and first_pd != second_pd
    shown = priced_pd(version, grade)
    assert shown not in (first_pd, second_pd)

    seller = world.investors[0]
    loans = [world.active_loan(investors=[seller, world.investors[3]], decision_hash=h)[0] for h in hashes]
    index(settings)
    client, as_seller = client_for(settings), minted_bearer(settings, seller)
    for loan_id in loans:  # the seller offers notes of both on the market
        held = world.book.functions.balanceOf(seller.address, loan_id).call()
        listing = client.post("/api/v1/market/listings", json={"loan_id": loan_id, "notes": held, "price_bps": 9_500},
                              headers=as_seller)  # fmt: skip
        assert listing.status_code == 200, listing.text
        _send(world.w3, seller, listing.json()["transactions"])
    index(settings)

    offered = {o["loan_id"]: o for o in client.get("/api/v1/market").json()}  # public
    assert [offered[i]["pd"] for i in loans] == [shown, shown]
    assert offered[loans[0]]["pd_now"] == offered[loans[1]]["pd_now"]
    # Same terms, same PD; the loans started a few blocks apart, so their remaining schedules (and
    # yields) differ by those seconds only.
    assert offered[loans[0]]["expected_yield"] == pytest.approx(offered[loans[1]]["expected_yield"], rel=1e-5)
    quotes = [client.get("/api/v1/market/quote", params={"loan_id": i, "notes": 1_000, "price_bps": 9_500}).json()
              for i in loans]  # fmt: skip
    assert [q["pd"] for q in quotes] == [shown, shown]

    tape = {int(r["loan_id"]): r for r in csv.DictReader(io.StringIO(client.get("/api/v1/disclosure/loans.csv").text))}
    assert [float(tape[i]["pd"]) for i in loans] == [shown, shown] and [tape[i]["grade"] for i in loans] == ["A", "A"]

    positions = {p["loan_id"]: p for p in client.get("/api/v1/portfolio", headers=as_seller).json()["positions"]}
    left = world.loan(loans[0])["installments"]  # nothing repaid yet: the whole term's PD is left
    assert [positions[i]["pd_now"] for i in loans] == [pytest.approx(remaining_share(shown, left, left))] * 2

    listed = client.get("/api/v1/loans").json()  # the public loan list gives the grade and no PD at all
    assert [loan["grade"] for loan in listed["loans"] if loan["loan_id"] in loans] == ["A", "A"]
    everything = json.dumps([listed, list(offered.values()), quotes, positions]) + "".join(tape[i]["pd"] for i in loans)
    for exact in (first_pd, second_pd):
        assert repr(exact) not in everything

    as_staff = minted_bearer(settings, ADMIN)  # staff's view of each decision keeps its exact PD
    for h in hashes:
        decision_id, *_, exact = made[h]
        seen = client.get(f"/api/v1/score/{decision_id}", headers=as_staff)
        assert seen.status_code == 200 and seen.json()["pd"] == exact
    assert client.get(f"/api/v1/score/{made[hashes[0]][0]}", headers=as_seller).status_code == 403
