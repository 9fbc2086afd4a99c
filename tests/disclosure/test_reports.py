"""Monthly disclosure reports: a month that has ended on chain is frozen, as of its last block,
into a document (stored by CID, anchored on-chain) exactly once; what is served later is byte for
byte what was published, and the public verifier proves it; a month published late carries the
figures of its own end, not today's; the servicing worker publishes every month due by itself,
oldest first."""

from __future__ import annotations

import csv
import io
import json
import threading
from datetime import UTC, datetime

import pytest
from sqlalchemy import insert, select, update
from typer.testing import CliRunner

from backend import audit
from backend.anchoring.documents import anchor_document, document_hash
from backend.anchoring.models import Document
from backend.anchoring.verification import verify_cid
from backend.audit.models import AuditEntry
from backend.chain.indexer import Indexer
from backend.cli.main import app
from backend.config import get_settings
from backend.content.cid import cid_of
from backend.db.session import session_scope
from backend.disclosure import reports, tape
from backend.disclosure.decisions import LoanDecisions
from backend.disclosure.models import DisclosureReport
from backend.disclosure.report_binding import bind_published
from backend.disclosure.report_commitment import commit_report
from backend.disclosure.reports import (
    FORMAT,
    month_of,
    next_month,
    period_end,
    period_start,
    publish,
    publish_due,
)
from backend.scoring.grade_pd import priced_pd
from backend.scoring.models import CreditDecision
from backend.servicing.service import servicing_step
from tests.anchoring.helpers import flush_and_confirm, point_get_settings_at
from tests.conftest import own_database
from tests.contracts.conftest import chain, world  # noqa: F401
from tests.identity.conftest import ADMIN, client_for, minted_bearer
from tests.lending.test_portfolio import _decision_hash
from tests.scoring.conftest import SAMPLE
from tests.workers.overlap import Meeting, at_once

DAY = 86_400
# What a report reads at the month's last block (and the time-weighted figures, which grow with time on book).
AS_OF = ("as_of_block", "as_of_block_hash", "delinquency", "forbearance", "sources", "average_principal_outstanding",
         "gross_charge_off_rate")  # fmt: skip


@pytest.fixture
def settings(chain_settings, deployment, world, snapshot, tmp_path, database_url):  # noqa: F811
    return own_database(chain_settings, tmp_path, database_url, admin_wallets=[ADMIN.address], anchor_batch_interval=3600.0)


def start_a_month(world) -> str:  # noqa: F811
    """Move the chain to the 11th of its next month, so what a test does next happens in that month."""
    period = next_month(month_of(datetime.fromtimestamp(world.chain.now(), UTC)))
    world.chain.mine_at(period_start(period) + 10 * DAY)
    return period


def end_the_month(world, settings, period: str) -> int:  # noqa: F811
    """Mine a block an hour before `period` ends and one an hour after, as a live chain would, and
    index them; the number of the month's last block (the report's figures are read at its time)."""
    world.chain.mine_at(period_end(period) - 3600)
    last = world.w3.eth.block_number
    world.chain.mine_at(period_end(period) + 3600)
    Indexer().catch_up(settings)
    return last


def without(figures: dict, keys=AS_OF) -> dict:
    return {k: v for k, v in figures.items() if k not in keys}


def test_a_month_is_published_once_served_as_published_and_provable(settings, world):  # noqa: F811
    period = start_a_month(world)
    world.active_loan()
    Indexer().catch_up(settings)
    client, as_admin = client_for(settings), minted_bearer(settings, ADMIN)
    figures_then = client.get("/api/v1/disclosure").json()
    tape_then = client.get("/api/v1/disclosure/loans.csv").content
    last_block = end_the_month(world, settings, period)
    world.active_loan()  # the platform moves on after the month: none of it is in the month's report
    Indexer().catch_up(settings)

    first = client.post("/api/v1/disclosure/reports", json={"period": period}, headers=as_admin)
    assert first.status_code == 201, first.text
    report = first.json()
    assert (report["period"], report["as_of_block"], report["anchor_tx"]) == (period, last_block, None)

    served = client.get(f"/api/v1/disclosure/reports/{period}")  # public
    assert served.status_code == 200 and served.headers["content-type"].startswith("application/json")
    assert document_hash(served.content) == report["doc_hash"] == served.headers["x-document-hash"]
    assert cid_of(served.content) == report["cid"] == served.headers["x-content-cid"]
    body = json.loads(served.content)
    assert (body["format"], body["period"], without(body["figures"])) == (FORMAT, period, without(figures_then))
    assert without(body["figures"]["forbearance"], ("as_of",)) == without(figures_then["forbearance"], ("as_of",))
    # Lateness in a report is LoanBook's own answer at the month's last block, not the servicing pass's.
    assert body["figures"]["sources"]["delinquency"] == "chain call: LoanBook.amountDue at as_of_block"
    assert figures_then["sources"]["delinquency"].startswith("platform records: servicing_states")
    assert body["figures"]["reserve"]["balance_source"] == "chain call"
    # The month's one loan, outstanding in full since it was paid out, and nothing charged off.
    assert (body["figures"]["average_principal_outstanding"], body["figures"]["gross_charge_off_rate"]) == (
        figures_then["principal_originated"], 0.0)  # fmt: skip
    principal = figures_then["principal_originated"]
    assert body["month"] == {  # what happened within the month: the loan it made, nothing else yet
        "start": period_start(period), "end": period_end(period), "complete": True, "as_of": period_end(period),
        "as_of_block": None, "loans_disbursed": 1, "principal_disbursed": principal,
        "origination_fees": principal // 100, "principal_repaid": 0, "interest_paid": 0, "late_fees_paid": 0,
        "loans_repaid": 0, "defaults": 0, "principal_at_default": 0, "reserve_cover": 0, "recovered": 0, "cover_recouped": 0, "trades": 0,
        "trade_volume": 0,
    }  # fmt: skip
    assert body["figures"]["as_of_block_hash"] == world.w3.eth.get_block(last_block)["hash"].to_0x_hex()
    assert body["figures"]["delinquency"]["as_of"] == world.w3.eth.get_block(last_block)["timestamp"]
    assert body["figures"]["delinquency"]["loans_16_plus"] == 0  # the loan was current at the month's end
    sheet = client.get(f"/api/v1/disclosure/reports/{period}/loans.csv")  # the loan tape, named in the report
    assert sheet.status_code == 200 and sheet.headers["x-content-cid"] == report["loan_tape_cid"] == body["loan_tape"]["cid"]
    assert document_hash(sheet.content) == body["loan_tape"]["doc_hash"] and body["loan_tape"]["loans"] == 1
    tape_rows = sheet.content.decode().splitlines()
    assert tape_rows[0] == tape_then.decode().splitlines()[0] and len(tape_rows) == 2
    assert ",current," in tape_rows[1]  # the loan's bucket, as LoanBook computed it at the month's last block

    live = client.get("/api/v1/disclosure").json()  # reading the past left the index as it was
    assert live["loans"]["active"] == figures_then["loans"]["active"] + 1 and live["as_of_block"] > last_block
    assert client.get("/api/v1/chain/index").json()["indexed_block"] == live["as_of_block"]  # public, what pages poll
    # The flows of any month can be read live too (public): an ended month's are its report's, and by
    # default the month so far, here the one of the loan made after the report's month.
    assert client.get("/api/v1/disclosure/flows", params={"period": period}).json() == body["month"]
    so_far = client.get("/api/v1/disclosure/flows").json()
    assert (so_far["start"], so_far["loans_disbursed"]) == (period_end(period), 1)
    for bad in ("2026-13", "9999-12", "1969-12"):  # 9999-12 ends in year 10000, past what dates hold
        assert client.get("/api/v1/disclosure/flows", params={"period": bad}).status_code == 422
    assert client.get("/api/v1/disclosure/loans.csv").text.count("\n") == 3  # header and two loans now

    world.chain.travel(40 * DAY)  # months later it is still the same report, not a new one
    Indexer().catch_up(settings)
    again = client.post("/api/v1/disclosure/reports", json={"period": period}, headers=as_admin)
    assert again.status_code == 200 and again.json() == report
    assert client.get(f"/api/v1/disclosure/reports/{period}").content == served.content
    assert client.get(f"/api/v1/disclosure/reports/{period}/loans.csv").content == sheet.content

    flush_and_confirm(settings)  # the anchor batcher and the outbox put its hash on-chain
    (listed,) = client.get("/api/v1/disclosure/reports").json()
    assert listed["cid"] == report["cid"] and listed["anchor_tx"] is not None
    proof = client.get(listed["verify_url"]).json()
    assert (proof["status"], proof["doc_hash"], proof["tx_hash"]) == ("verified", report["doc_hash"], listed["anchor_tx"])


def test_a_month_published_late_carries_its_own_end_not_today(settings, world):  # noqa: F811
    """A loan late at the end of a month and brought up to date after it: the month's report,
    published after the payment, still shows it late and the payment not made."""
    first = start_a_month(world)
    loan_id, _ = world.active_loan()  # first installment due on about the 10th of next month
    late_month = next_month(first)
    last_block = end_the_month(world, settings, late_month)  # about 21 days past due by then
    due_then = world.book.functions.amountDue(loan_id).call(block_identifier=last_block)[0]
    world.repay(loan_id, world.book.functions.amountDue(loan_id).call()[0])
    Indexer().catch_up(settings)
    servicing_step(settings.model_copy(update={"disclosure_publish_monthly": False}))
    client, as_admin = client_for(settings), minted_bearer(settings, ADMIN)
    live = client.get("/api/v1/disclosure").json()
    assert live["delinquency"]["loans_16_plus"] == 0 and live["interest_paid"] > 0

    answer = client.post("/api/v1/disclosure/reports", json={"period": late_month}, headers=as_admin)
    assert answer.status_code == 201, answer.text
    assert answer.json()["as_of_block"] == last_block
    figures = json.loads(client.get(f"/api/v1/disclosure/reports/{late_month}").content)["figures"]
    (loan,) = [row for row in client.get(f"/api/v1/disclosure/reports/{late_month}/loans.csv").text.splitlines()[1:]]
    outstanding = world.loan(loan_id)["principal"]
    assert figures["delinquency"]["loans_16_plus"] == 1 and figures["delinquency"]["loans_91_plus"] == 0
    assert figures["delinquency"]["principal_16_plus"] == outstanding == figures["principal_outstanding"]
    assert figures["delinquency"]["amount_overdue"] == due_then > 0
    assert (figures["interest_paid"], figures["principal_repaid"]) == (0, 0)  # the payment came after the month
    assert ",late_16_30," in loan
    month = json.loads(client.get(f"/api/v1/disclosure/reports/{late_month}").content)["month"]
    assert (month["loans_disbursed"], month["principal_repaid"], month["interest_paid"]) == (0, 0, 0)  # a quiet month
    paid_month = next_month(late_month)  # the month of the payment, once it is over, has it all
    end_the_month(world, settings, paid_month)
    assert client.post("/api/v1/disclosure/reports", json={"period": paid_month}, headers=as_admin).status_code == 201
    month = json.loads(client.get(f"/api/v1/disclosure/reports/{paid_month}").content)["month"]
    paid = {k: live[k] for k in ("principal_repaid", "interest_paid", "late_fees_paid")}
    assert {k: month[k] for k in paid} == paid and paid["late_fees_paid"] > 0 and month["loans_disbursed"] == 0

    earlier = client.post("/api/v1/disclosure/reports", json={"period": first}, headers=as_admin)  # out of order too
    assert earlier.status_code == 201 and earlier.json()["as_of_block"] < last_block
    figures = json.loads(client.get(f"/api/v1/disclosure/reports/{first}").content)["figures"]
    assert figures["loans"]["active"] == 1 and figures["delinquency"]["loans_16_plus"] == 0


def test_bad_requests_get_a_clear_4xx_and_publish_nothing(settings, world):  # noqa: F811
    Indexer().catch_up(settings)
    this_month = month_of(datetime.fromtimestamp(world.chain.now(), UTC))
    client, as_admin = client_for(settings), minted_bearer(settings, ADMIN)
    assert client.post("/api/v1/disclosure/reports", json={"period": this_month}).status_code == 401
    as_investor = minted_bearer(settings, world.investors[0])
    assert client.post("/api/v1/disclosure/reports", json={"period": this_month}, headers=as_investor).status_code == 403
    for period, code, why in ((this_month, 409, "has not ended on chain"), ("2099-01", 409, "has not ended on chain"),
                              ("2020-01", 409, "before the platform's contracts were deployed"),
                              ("2026-13", 422, "YYYY-MM"), ("26-01", 422, "YYYY-MM")):  # fmt: skip
        answer = client.post("/api/v1/disclosure/reports", json={"period": period}, headers=as_admin)
        assert answer.status_code == code and "period" in answer.text and why in answer.text, (period, answer.text)
    assert client.post("/api/v1/disclosure/reports", json={}, headers=as_admin).status_code == 422
    assert client.get("/api/v1/disclosure/reports/2026-13").status_code == 422
    for path in (f"/api/v1/disclosure/reports/{this_month}", f"/api/v1/disclosure/reports/{this_month}/loans.csv"):
        missing = client.get(path)
        assert missing.status_code == 404 and this_month in missing.text
    assert client.get("/api/v1/disclosure/reports").json() == []


def test_the_servicing_worker_publishes_every_month_due_oldest_first(settings, world):  # noqa: F811
    servicing_step(settings)  # no loans yet: nothing to disclose
    with session_scope(settings) as session:
        assert publish_due(session, settings) is None
    period = start_a_month(world)
    world.active_loan()
    Indexer().catch_up(settings)
    servicing_step(settings)  # the month is not over
    assert client_for(settings).get("/api/v1/disclosure/reports").json() == []

    end_the_month(world, settings, next_month(period))  # the platform was down for two month ends
    servicing_step(settings.model_copy(update={"disclosure_publish_monthly": False}))
    assert client_for(settings).get("/api/v1/disclosure/reports").json() == []
    for _ in range(3):  # a month a pass; nothing more once both are out
        servicing_step(settings)
    reports = client_for(settings).get("/api/v1/disclosure/reports").json()
    assert [r["period"] for r in reports] == [next_month(period), period]  # newest first
    assert reports[1]["as_of_block"] < reports[0]["as_of_block"]


def test_the_cli_publishes_and_lists_like_the_api(settings, world, monkeypatch):  # noqa: F811
    period = start_a_month(world)
    world.active_loan()
    end_the_month(world, settings, period)
    runner = CliRunner()
    try:
        point_get_settings_at(monkeypatch, settings)
        published = runner.invoke(app, ["disclosure", "publish", "--period", period, "--json"])
        listed = runner.invoke(app, ["disclosure", "reports", "--json"])
        table = runner.invoke(app, ["disclosure", "reports"])
        figures = runner.invoke(app, ["disclosure", "--json"])  # the figures themselves, as before
        bad = runner.invoke(app, ["disclosure", "publish", "--period", next_month(period)])
        flows = runner.invoke(app, ["disclosure", "flows", "--period", period, "--json"])
    finally:
        monkeypatch.undo()
        get_settings.cache_clear()
    assert published.exit_code == 0, published.output
    assert json.loads(listed.stdout) == [json.loads(published.stdout)]
    assert json.loads(listed.stdout) == client_for(settings).get("/api/v1/disclosure/reports").json()
    assert table.exit_code == 0 and period in table.stdout
    assert figures.exit_code == 0 and "principal_originated" in json.loads(figures.stdout)
    assert bad.exit_code != 0 and "has not ended on chain" in bad.output
    assert json.loads(flows.stdout) == client_for(settings).get("/api/v1/disclosure/flows", params={"period": period}).json()


def test_a_report_that_cannot_be_read_never_holds_up_servicing(settings, world, monkeypatch):  # noqa: F811
    """A node without the month's old state fails the report, not the pass: the borrower's
    notices still go out, and the report is tried again on the next pass."""
    from backend.disclosure import reports
    from backend.errors import ChainUnavailable

    def unreadable(session, settings):
        raise ChainUnavailable("could not read LoanBook at block 1 (old state needs an archive node)")

    monkeypatch.setattr(reports, "publish_due", unreadable)
    _, start = world.active_loan()
    world.chain.mine_at(start + 50 * DAY)
    Indexer().catch_up(settings)
    assert servicing_step(settings) > 0  # the late notice was made and delivered all the same
    with session_scope(settings) as session:
        assert reports.list_reports(session) == []


def test_every_flow_reads_an_argument_its_event_has(chain_settings):
    from backend.chain.compiler import load_artifact
    from backend.disclosure.flows import FLOWS

    for (contract, event), flows in FLOWS.items():
        (abi,) = [e for e in load_artifact(chain_settings, contract)["abi"] if e["type"] == "event" and e["name"] == event]
        assert {a for a in flows.values() if a} <= {i["name"] for i in abi["inputs"]}, (contract, event)


def _verify_report(monkeypatch, settings, *args: str):
    try:
        point_get_settings_at(monkeypatch, settings)
        result = CliRunner().invoke(app, ["disclosure", "verify-report", *args, "--json"])
    finally:
        monkeypatch.undo()
        get_settings.cache_clear()
    return result.exit_code, json.loads(result.stdout) if result.stdout.strip() else result.output


def _anchor_and_index(settings) -> None:
    flush_and_confirm(settings)
    Indexer().catch_up(settings)


def test_a_replaced_report_is_caught_by_the_chain_binding_of_its_month(settings, world, monkeypatch):  # noqa: F811
    """The audit's M4: the operator anchors a report with other figures for a published month and
    points the database at it. Both documents verify as documents; the chain's binding of the month
    to its first report does not."""
    period = start_a_month(world)
    world.active_loan()
    end_the_month(world, settings, period)
    with session_scope(settings) as session:
        published, _ = publish(session, settings, period)
    _anchor_and_index(settings)
    client = client_for(settings)
    original = client.get(f"/api/v1/disclosure/reports/{period}")
    assert original.status_code == 200 and original.headers["x-report-binding"] == "bound"
    status, verdict = _verify_report(monkeypatch, settings, period)
    assert status == 0 and verdict["status"] == "bound" and verdict["source"] == "the node's Anchored events"
    (bound,) = verdict["anchors"]
    assert bound["doc_hash"] == published.doc_hash and not bound["forged"]

    # The operator anchors other figures as a plain document and re-points the month at them.
    body = json.loads(original.content)
    body["figures"]["defaults"]["count"] += 10
    forged = json.dumps(body, sort_keys=True, separators=(",", ":")).encode() + b"\n"
    with session_scope(settings) as session:
        new = anchor_document(session, settings, forged, actor="system").document
        session.execute(update(DisclosureReport).where(DisclosureReport.period == period)
                        .values(document_id=new.id, cid=new.cid, doc_hash=new.doc_hash))  # fmt: skip
    _anchor_and_index(settings)
    with session_scope(settings) as session:
        assert verify_cid(session, settings, new.cid).status == "verified"  # as a document, it verifies
    refused = client.get(f"/api/v1/disclosure/reports/{period}")
    assert refused.status_code == 409 and published.doc_hash in refused.json()["detail"]
    assert client.get(f"/api/v1/disclosure/reports/{period}/loans.csv").status_code == 409
    status, verdict = _verify_report(monkeypatch, settings, period)
    assert status == 1 and verdict["status"] == "replaced" and verdict["doc_hash"] == new.doc_hash
    assert f"first to the report {published.doc_hash}" in verdict["reason"]

    # It binds the month to the new report too: the chain now names two reports for one month.
    with session_scope(settings) as session:
        commit_report(session, period, new.doc_hash)
    _anchor_and_index(settings)
    assert client.get(f"/api/v1/disclosure/reports/{period}").status_code == 409
    assert client.get(f"/api/v1/disclosure/reports/{period}/binding").json()["status"] == "replaced"
    copy = settings.var_dir / "original.json"
    copy.write_bytes(original.content)
    status, verdict = _verify_report(monkeypatch, settings, period, "--file", str(copy), "--from-block", "0")
    assert status == 1 and verdict["status"] == "replaced" and len(verdict["anchors"]) == 2
    assert "a month is published once" in verdict["reason"]


def test_a_month_bound_on_a_document_anchor_since_replaced_still_verifies_and_is_served_bound(settings, world, tmp_path):  # noqa: F811
    """A redeploy of DocumentAnchor leaves the month's binding on the old contract: the check against the
    node reads the replaced contracts of the manifest's history too (before, it found no binding)."""
    from backend.disclosure.report_binding import verify_report
    from tests.anchoring.test_replaced_anchor import _replace_document_anchor

    period = start_a_month(world)
    world.active_loan()
    end_the_month(world, settings, period)
    with session_scope(settings) as session:
        publish(session, settings, period)
    _anchor_and_index(settings)
    data = client_for(settings).get(f"/api/v1/disclosure/reports/{period}").content
    moved, old, _ = _replace_document_anchor(settings, tmp_path)
    with session_scope(moved) as session:
        verdict = verify_report(session, moved, period, data)
    assert verdict.status == "bound", verdict.reason
    (binding,) = verdict.anchors
    assert binding.block_number <= world.w3.eth.block_number
    # The index, rebuilt for the new deployment, follows the replaced DocumentAnchor too: the month is
    # served bound, not `pending` (before, its batch was anchored and "the index has not read it").
    Indexer().catch_up(moved)
    assert client_for(moved).get(f"/api/v1/disclosure/reports/{period}").headers["x-report-binding"] == "bound"


def test_a_report_published_before_months_were_bound_is_bound_by_the_next_servicing_pass(settings, world, monkeypatch):  # noqa: F811
    """A report anchored only as a document in a batch (as before this binding) is served as
    `unbound` and verifies as such (exit 3) until the servicing worker binds it."""
    period = start_a_month(world)
    world.active_loan()
    end_the_month(world, settings, period)
    with monkeypatch.context() as patched, session_scope(settings) as session:
        patched.setattr("backend.disclosure.reports.commit_report", lambda *args: None)
        publish(session, settings, period)
    _anchor_and_index(settings)
    client = client_for(settings)
    assert client.get(f"/api/v1/disclosure/reports/{period}").headers["x-report-binding"] == "unbound"
    assert _verify_report(monkeypatch, settings, period)[0] == 3
    with session_scope(settings) as session:
        assert bind_published(session) == 1 and bind_published(session) == 0
    assert client.get(f"/api/v1/disclosure/reports/{period}").headers["x-report-binding"] == "pending"
    assert _verify_report(monkeypatch, settings, period)[0] == 4
    _anchor_and_index(settings)
    assert client.get(f"/api/v1/disclosure/reports/{period}").headers["x-report-binding"] == "bound"
    assert _verify_report(monkeypatch, settings, period)[0] == 0


def test_a_month_that_cannot_be_published_does_not_hold_up_the_months_after_it(tmp_path, monkeypatch):
    """The review's M1: the index is at 2026-05-11, Jan-Apr are due, and the node cannot serve
    January's month-end state (pruned: 503). Three worker passes publish February, March and April,
    trying January first each time, and January is listed as missing with why."""
    from backend.anchoring.models import Document
    from backend.chain.models import ChainEvent, IndexedBlock, IndexerCheckpoint
    from backend.db import migrate
    from backend.disclosure import reports
    from backend.errors import ServiceUnavailable
    from tests.conftest import make_settings

    settings = make_settings(tmp_path)
    migrate.upgrade(settings)
    t0 = period_start("2026-01")
    with session_scope(settings) as session:
        session.add(ChainEvent(block_number=1, block_hash="0x" + "01" * 32, tx_hash="0x" + "01" * 32, tx_index=0,
                               log_index=0, contract="LoanBook", address="0x" + "66" * 20, event="LoanCreated", args={},
                               block_timestamp=t0 + DAY))  # fmt: skip
        session.add(IndexedBlock(number=5, hash="0x" + "05" * 32, parent_hash="0x" + "04" * 32, timestamp=t0 + 130 * DAY))
        session.add(IndexerCheckpoint(name="main", block_number=5, block_hash="0x" + "05" * 32, deployment_hash="x"))
    tried = []

    def publish(session, settings, period, *, actor="system"):
        tried.append(period)
        if period == "2026-01":
            raise ServiceUnavailable("the node has no state at 2026-01's last block (archive node needed)")
        doc = Document(doc_hash="0x" + period.replace("-", "").rjust(64, "0"), cid=f"cid-{period}", size=1,
                       created_at=datetime.now(UTC))  # fmt: skip
        session.add(doc)
        session.flush()
        session.add(DisclosureReport(period=period, document_id=doc.id, cid=doc.cid, doc_hash=doc.doc_hash, as_of_block=5,
                                     loan_tape_cid="tape", published_at=datetime.now(UTC), published_by=actor))  # fmt: skip
        return None, True

    monkeypatch.setattr(reports, "publish", publish)
    monkeypatch.setattr(reports, "bind_published", lambda session: None)  # nothing anchored here to bind
    with session_scope(settings) as session:
        assert [m.period for m in reports.missing_reports(session)] == ["2026-01", "2026-02", "2026-03", "2026-04"]
        assert reports.missing_reports(session)[0].last_tried is None
    published = []
    for _ in range(3):
        with session_scope(settings) as session:
            published.append(reports.publish_due(session, settings))
    assert published == ["2026-02", "2026-03", "2026-04"]
    assert tried == ["2026-01", "2026-02", "2026-01", "2026-03", "2026-01", "2026-04"]
    with session_scope(settings) as session:
        assert reports.publish_due(session, settings) is None  # only January left, and it still fails
        (missing,) = reports.missing_reports(session)
        assert [r.period for r in reports.list_reports(session)] == ["2026-04", "2026-03", "2026-02"]
    assert missing.period == "2026-01" and "archive node needed" in missing.reason and missing.last_tried is not None
    listed = client_for(settings).get("/api/v1/disclosure/reports/missing")
    assert listed.status_code == 200 and [m["period"] for m in listed.json()] == ["2026-01"]
    assert "archive node needed" in listed.json()[0]["reason"]


def test_the_flows_of_a_month_not_begun_are_refused_and_the_month_so_far_says_how_far(tmp_path):
    """The review's L4: with the index at 2026-01-04, June 2030 is not answered with zeros (404),
    the month so far says it is counted to the index's block, and an ended month says it is complete."""
    from backend.chain.models import IndexedBlock, IndexerCheckpoint
    from backend.db import migrate
    from backend.disclosure.reports import month_flows
    from backend.errors import NotFound
    from tests.conftest import make_settings

    settings = make_settings(tmp_path)
    migrate.upgrade(settings)
    at = period_start("2026-01") + 3 * DAY
    with session_scope(settings) as session:
        session.add(IndexedBlock(number=5, hash="0x" + "05" * 32, parent_hash="0x" + "04" * 32, timestamp=at))
        session.add(IndexerCheckpoint(name="main", block_number=5, block_hash="0x" + "05" * 32, deployment_hash="x"))
    with session_scope(settings) as session:
        with pytest.raises(NotFound, match="2026-02 has not begun on chain"):
            month_flows(session, "2026-02")
        so_far, ended = month_flows(session), month_flows(session, "2025-12")
    assert (so_far.start, so_far.end, so_far.complete, so_far.as_of, so_far.as_of_block) == (
        period_start("2026-01"), period_end("2026-01"), False, at, 5)
    assert (ended.complete, ended.as_of, ended.as_of_block) == (True, period_end("2025-12"), None)
    answer = client_for(settings).get("/api/v1/disclosure/flows", params={"period": "2030-06"})
    assert answer.status_code == 404 and "2030-06 has not begun on chain" in answer.text


def _leftovers(settings, period: str) -> tuple[list[str], list[str], list[str]]:
    """(the hashes of every document, those binding `period`, the subjects of document.anchor entries)."""
    with session_scope(settings) as session:
        hashes = list(session.scalars(select(Document.doc_hash).order_by(Document.id)))
        bindings = list(session.scalars(select(Document.doc_hash).where(Document.anchor_uri.like(f"%{period}%"))))
        anchored = list(session.scalars(select(AuditEntry.subject).where(AuditEntry.action == "document.anchor")))
    return hashes, bindings, anchored


def test_a_publisher_that_loses_the_race_for_a_month_binds_nothing(settings, world, monkeypatch):  # noqa: F811
    """Two publishers of one month: the second finds the month free, then taken when it inserts its
    report. Its figures, read a moment apart, may differ: had it kept its report and loan tape, or
    queued the month's binding, the chain would hold documents no report names, or name two reports
    for the month and the winner's would read as replaced. It leaves nothing: no document, no
    binding, no audit entry of an anchor the rollback undid."""
    period = start_a_month(world)
    world.active_loan()
    end_the_month(world, settings, period)
    before, _, _ = _leftovers(settings, period)
    found_free = reports.month_end_block
    winner = {}

    def other_publisher_inserts_first(session, settings, period):  # the loser has seen the month free
        with session_scope(settings) as other:  # the winner's own transaction, committed
            doc = anchor_document(other, settings, b"the other publisher's report", actor="other").document
            winner.update(period=period, document_id=doc.id, cid=doc.cid, doc_hash=doc.doc_hash, as_of_block=1,
                          loan_tape_cid=doc.cid, published_at=datetime.now(UTC), published_by="other")
            other.execute(insert(DisclosureReport).values(**winner))
        return found_free(session, settings, period)

    monkeypatch.setattr(reports, "month_end_block", other_publisher_inserts_first)
    # SQLite's one writer decides the race at the check (`begin_write`); here the insert decides it, as on PostgreSQL.
    monkeypatch.setattr(reports, "begin_write", lambda session, model: None)
    with session_scope(settings) as session, audit.deferred(session):  # as the API and the worker append
        served, created = publish(session, settings, period)
    assert not created and served.doc_hash == winner["doc_hash"]
    hashes, bindings, anchored = _leftovers(settings, period)
    assert hashes == [*before, winner["doc_hash"]] and bindings == []
    assert anchored == [f"document:{winner['document_id']}"]


def test_two_publishers_of_a_month_at_once_leave_one_report_and_nothing_of_the_other(settings, world, monkeypatch):  # noqa: F811
    """A month published by the worker and by hand (or two API calls) at the same moment, each round
    in a thread of its own, reading figures that differ by a byte: one report stands, bound to its
    month; the other round returns it, and nothing of its own is left. Both rounds meet after finding
    the month free on PostgreSQL; SQLite's one writer holds the second back until the first commits,
    and it then finds the report."""
    period = start_a_month(world)
    world.active_loan()
    end_the_month(world, settings, period)
    before, _, _ = _leftovers(settings, period)
    meeting = Meeting()
    monkeypatch.setattr(reports, "month_end_block", meeting.around(reports.month_end_block))
    # Figures read a moment apart: each round's report and loan tape have bytes of their own.
    read_by = lambda: threading.current_thread().name  # noqa: E731
    report_bytes, tape_csv = reports.report_bytes, tape.tape_csv
    monkeypatch.setattr(reports, "report_bytes", lambda p, f, m, t: report_bytes(p, {**f, "read_by": read_by()}, m, t))
    monkeypatch.setattr(tape, "tape_csv", lambda rows: tape_csv(rows) + f"# read by {read_by()}\n")

    def round_() -> tuple:
        with session_scope(settings) as session, audit.deferred(session):
            return publish(session, settings, period)

    results = at_once(round_, round_)
    assert all(isinstance(r, tuple) for r in results), results
    assert sorted(created for _, created in results) == [False, True]
    assert meeting.met == settings.database_url.startswith("postgresql")
    (report,) = {served.doc_hash for served, _ in results}
    with session_scope(settings) as session:
        stands = session.get(DisclosureReport, period)
        tape_hash = session.scalar(select(Document.doc_hash).where(Document.cid == stands.loan_tape_cid))
        ids = [stands.document_id, session.scalar(select(Document.id).where(Document.cid == stands.loan_tape_cid))]
    hashes, bindings, anchored = _leftovers(settings, period)
    assert stands.doc_hash == report and len(bindings) == 1
    assert hashes == [*before, tape_hash, report, *bindings]  # the winner's tape, report and binding only
    assert sorted(anchored) == sorted(f"document:{i}" for i in ids)


def test_a_report_of_the_format_before_the_grades_pd_still_verifies_as_published(settings, world, monkeypatch):  # noqa: F811
    """Format /5 changed what the loan tape's pd column is: the PD of the loan's grade, which priced
    it, where /4 gave the decision's own PD (which gives the borrower's score back). A month
    published as /4, exact PD and all, is still served byte for byte, verifies and is bound to its
    month; the next month is published as /5 with the grade's PD."""
    decision = _decision_hash(settings, SAMPLE)
    with session_scope(settings) as session:
        made = session.scalar(select(CreditDecision).where(CreditDecision.decision_hash == decision))
        exact, shown = made.pd, priced_pd(made.model_version, made.grade)
    assert exact != shown
    old_month = start_a_month(world)
    world.active_loan(decision_hash=decision)
    end_the_month(world, settings, old_month)
    with monkeypatch.context() as before, session_scope(settings) as session:  # the platform as it was
        before.setattr(reports, "FORMAT", "loanchain.disclosure/4")
        before.setattr(LoanDecisions, "pd", lambda self, h: self.proven[h].pd if h in self.proven else None)
        old, _ = publish(session, settings, old_month)
    new_month = next_month(old_month)
    end_the_month(world, settings, new_month)
    with session_scope(settings) as session:
        new, _ = publish(session, settings, new_month)
    _anchor_and_index(settings)

    client = client_for(settings)
    for report, format_, pd in ((old, "loanchain.disclosure/4", exact), (new, FORMAT, shown)):
        served = client.get(f"/api/v1/disclosure/reports/{report.period}")
        assert served.status_code == 200 and served.headers["x-report-binding"] == "bound"
        assert document_hash(served.content) == report.doc_hash
        body = json.loads(served.content)
        assert body["format"] == format_ and body["loan_tape"]["columns"] == list(tape.COLUMNS)
        sheet = client.get(f"/api/v1/disclosure/reports/{report.period}/loans.csv")
        assert sheet.status_code == 200 and document_hash(sheet.content) == body["loan_tape"]["doc_hash"]
        (row,) = csv.DictReader(io.StringIO(sheet.text))
        assert (row["grade"], float(row["pd"])) == ("A", pd)
        assert client.get(report.verify_url).json()["status"] == "verified"
        status, verdict = _verify_report(monkeypatch, settings, report.period)
        assert status == 0 and verdict["status"] == "bound", verdict
    assert FORMAT == "loanchain.disclosure/5"
