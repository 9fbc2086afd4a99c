"""Monthly disclosure reports: a month that has ended is frozen into a document (stored by CID,
anchored on-chain) exactly once; what is served later is byte for byte what was published, and
the public verifier proves it; the servicing worker publishes last month by itself."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import pytest
from typer.testing import CliRunner

from backend.anchoring.documents import document_hash
from backend.chain.indexer import Indexer
from backend.cli.main import app
from backend.config import get_settings
from backend.content.cid import cid_of
from backend.db.session import session_scope
from backend.disclosure.reports import month_of, previous_month, publish, publish_due
from backend.servicing.service import servicing_step
from tests.anchoring.helpers import flush_and_confirm, point_get_settings_at
from tests.conftest import own_database
from tests.contracts.conftest import chain, world  # noqa: F401
from tests.identity.conftest import ADMIN, client_for, minted_bearer

NOW = datetime.now(UTC)
LAST_MONTH = previous_month(NOW)


@pytest.fixture
def settings(chain_settings, deployment, world, snapshot, tmp_path, database_url):  # noqa: F811
    return own_database(chain_settings, tmp_path, database_url, admin_wallets=[ADMIN.address], anchor_batch_interval=3600.0)


def test_a_month_is_published_once_served_as_published_and_provable(settings, world):  # noqa: F811
    world.active_loan()
    Indexer().catch_up(settings)
    client, as_admin = client_for(settings), minted_bearer(settings, ADMIN)
    figures_now = client.get("/api/v1/disclosure").json()

    first = client.post("/api/v1/disclosure/reports", json={"period": LAST_MONTH}, headers=as_admin)
    assert first.status_code == 201, first.text
    report = first.json()
    assert (report["period"], report["as_of_block"], report["anchor_tx"]) == (LAST_MONTH, figures_now["as_of_block"], None)

    served = client.get(f"/api/v1/disclosure/reports/{LAST_MONTH}")  # public
    assert served.status_code == 200 and served.headers["content-type"].startswith("application/json")
    assert document_hash(served.content) == report["doc_hash"] == served.headers["x-document-hash"]
    assert cid_of(served.content) == report["cid"] == served.headers["x-content-cid"]
    body = json.loads(served.content)
    assert (body["format"], body["period"], body["figures"]) == ("loanchain.disclosure/1", LAST_MONTH, figures_now)
    sheet = client.get(f"/api/v1/disclosure/reports/{LAST_MONTH}/loans.csv")  # the loan tape, named in the report
    assert sheet.status_code == 200 and sheet.headers["x-content-cid"] == report["loan_tape_cid"] == body["loan_tape"]["cid"]
    assert document_hash(sheet.content) == body["loan_tape"]["doc_hash"] and body["loan_tape"]["loans"] == 1
    assert sheet.content == client.get("/api/v1/disclosure/loans.csv").content  # the tape now, unchanged since

    world.active_loan()  # the platform moves on; the published month does not
    Indexer().catch_up(settings)
    again = client.post("/api/v1/disclosure/reports", json={"period": LAST_MONTH}, headers=as_admin)
    assert again.status_code == 200 and again.json() == report
    with session_scope(settings) as session:  # months later it is still the same report, not a refusal
        later, created = publish(session, settings, LAST_MONTH, now=NOW + timedelta(days=70))
    assert (later.model_dump(mode="json"), created) == (report, False)
    assert client.get(f"/api/v1/disclosure/reports/{LAST_MONTH}").content == served.content
    assert client.get(f"/api/v1/disclosure/reports/{LAST_MONTH}/loans.csv").content == sheet.content
    assert client.get("/api/v1/disclosure/loans.csv").text.count("\n") == 3  # header and two loans now
    assert client.get("/api/v1/disclosure").json()["loans"]["active"] == figures_now["loans"]["active"] + 1

    flush_and_confirm(settings)  # the anchor batcher and the outbox put its hash on-chain
    (listed,) = client.get("/api/v1/disclosure/reports").json()
    assert listed["cid"] == report["cid"] and listed["anchor_tx"] is not None
    proof = client.get(listed["verify_url"]).json()
    assert (proof["status"], proof["doc_hash"], proof["tx_hash"]) == ("verified", report["doc_hash"], listed["anchor_tx"])


def test_bad_requests_get_a_clear_4xx_and_publish_nothing(settings, world):  # noqa: F811
    client, as_admin = client_for(settings), minted_bearer(settings, ADMIN)
    assert client.post("/api/v1/disclosure/reports", json={"period": LAST_MONTH}).status_code == 401
    as_investor = minted_bearer(settings, world.investors[0])
    assert client.post("/api/v1/disclosure/reports", json={"period": LAST_MONTH}, headers=as_investor).status_code == 403
    for period, code in ((month_of(NOW), 409), ("2020-01", 409), ("2026-13", 422), ("26-01", 422)):
        answer = client.post("/api/v1/disclosure/reports", json={"period": period}, headers=as_admin)
        assert answer.status_code == code and "period" in answer.text, (period, answer.text)
    assert client.post("/api/v1/disclosure/reports", json={}, headers=as_admin).status_code == 422
    assert client.get("/api/v1/disclosure/reports/2026-13").status_code == 422
    for path in (f"/api/v1/disclosure/reports/{LAST_MONTH}", f"/api/v1/disclosure/reports/{LAST_MONTH}/loans.csv"):
        missing = client.get(path)
        assert missing.status_code == 404 and LAST_MONTH in missing.text
    assert client.get("/api/v1/disclosure/reports").json() == []


def test_the_servicing_worker_publishes_last_month_once_there_are_loans(settings, world):  # noqa: F811
    servicing_step(settings)  # no loans yet: nothing to disclose
    with session_scope(settings) as session:
        assert publish_due(session, settings) is None
    world.active_loan()
    Indexer().catch_up(settings)
    servicing_step(settings.model_copy(update={"disclosure_publish_monthly": False}))
    assert client_for(settings).get("/api/v1/disclosure/reports").json() == []

    servicing_step(settings)
    servicing_step(settings)  # the month is out already
    (report,) = client_for(settings).get("/api/v1/disclosure/reports").json()
    assert report["period"] == LAST_MONTH


def test_the_cli_publishes_and_lists_like_the_api(settings, world, monkeypatch):  # noqa: F811
    world.active_loan()
    Indexer().catch_up(settings)
    runner = CliRunner()
    try:
        point_get_settings_at(monkeypatch, settings)
        published = runner.invoke(app, ["disclosure", "publish", "--period", LAST_MONTH, "--json"])
        listed = runner.invoke(app, ["disclosure", "reports", "--json"])
        table = runner.invoke(app, ["disclosure", "reports"])
        figures = runner.invoke(app, ["disclosure", "--json"])  # the figures themselves, as before
        bad = runner.invoke(app, ["disclosure", "publish", "--period", month_of(NOW)])
    finally:
        monkeypatch.undo()
        get_settings.cache_clear()
    assert published.exit_code == 0, published.output
    assert json.loads(listed.stdout) == [json.loads(published.stdout)]
    assert json.loads(listed.stdout) == client_for(settings).get("/api/v1/disclosure/reports").json()
    assert table.exit_code == 0 and LAST_MONTH in table.stdout
    assert figures.exit_code == 0 and "principal_originated" in json.loads(figures.stdout)
    assert bad.exit_code != 0 and "has not ended" in bad.output
