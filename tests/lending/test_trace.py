"""An auditor traces a loan end to end: every record agrees, and an altered agreement shows up."""

from __future__ import annotations

import json

from typer.testing import CliRunner

from backend.anchoring.batcher import batcher_step
from backend.cli.main import app
from backend.config import get_settings
from backend.content.store import get_content_store
from tests.anchoring.helpers import point_get_settings_at
from tests.identity.conftest import ADMIN, minted_bearer
from tests.lending.conftest import created_loan, settle


def test_a_loan_traced_end_to_end_is_consistent(client, chain_identity_settings, borrower, approved, monkeypatch):
    settings = chain_identity_settings.model_copy(update={"anchor_batch_interval": 0})
    offer = created_loan(client, settings, borrower, approved)
    loan_id = offer["loan_id"]
    batcher_step(settings)  # the agreement's hash goes into a Merkle root on-chain
    settle(settings)
    batcher_step(settings)  # and the batch is marked anchored once confirmed
    auditor = minted_bearer(settings, ADMIN)

    trace = client.get(f"/api/v1/audit/trace/loan/{loan_id}", headers=auditor).json()
    assert trace["consistent"], trace["checks"]
    assert {c["name"] for c in trace["checks"]} == {
        "index_current", "index_matches_chain", "terms_hash_recomputed", "events_match_chain", "terms_match_offer",
        "created_by_platform_tx", "decision_reproduced", "terms_match_decision", "agreement_anchored",
        "agreement_matches_terms",
        "borrower_attested", "attestation_matches_chain", "case_log_matches_audit_log", "plans_match_audit_log",
    }  # fmt: skip
    assert trace["case_log"] == []
    assert trace["offer_id"] == offer["id"] and trace["create_intent"] == f"offer:{offer['id']}"
    assert [e["event"] for e in trace["events"]] == ["LoanCreated"]
    assert trace["decision"]["verified"] and trace["agreement"]["status"] == "verified"
    assert {e["action"] for e in trace["audit_entries"]} >= {"offer.create", "offer.accept"}
    created_tx = trace["events"][0]["tx_hash"]

    tx = client.get(f"/api/v1/audit/trace/tx/{created_tx}", headers=auditor).json()
    assert tx["intent_key"] == f"offer:{offer['id']}" and tx["function"] == "LoanBook.createLoan"
    assert [e["event"] for e in tx["events"]] == ["LoanCreated"]
    assert tx["consistent"] and [c["name"] for c in tx["checks"]] == ["receipt_on_chain", "events_match_chain"]
    who = client.get(f"/api/v1/audit/trace/address/{borrower.account.address.lower()}", headers=auditor).json()
    assert who["loans_as_borrower"] == [loan_id] and who["attestation_level"] == 2 and created_tx in who["transactions"]
    assert client.get("/api/v1/audit/trace/loan/999", headers=auditor).status_code == 404
    assert client.get("/api/v1/audit/trace/tx/0x" + "00" * 32, headers=auditor).status_code == 404
    assert client.get("/api/v1/audit/trace/address/0x1234", headers=auditor).status_code == 422
    assert client.get(f"/api/v1/audit/trace/loan/{loan_id}", headers=borrower.headers).status_code == 403

    # Someone swaps the stored agreement for other bytes: the trace says so (and cannot compare its terms).
    store = get_content_store(settings)
    store.path_of(offer["agreement_cid"]).write_bytes(b'{"document":"a different agreement"}')
    tampered = client.get(f"/api/v1/audit/trace/loan/{loan_id}", headers=auditor).json()
    failing = [c["name"] for c in tampered["checks"] if not c["ok"]]
    assert not tampered["consistent"] and failing == ["agreement_anchored", "agreement_matches_terms"]

    try:
        point_get_settings_at(monkeypatch, settings)
        result = CliRunner().invoke(app, ["audit", "trace", "loan", str(loan_id), "--json"])
    finally:
        monkeypatch.undo()
        get_settings.cache_clear()
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["checks"] == tampered["checks"]
