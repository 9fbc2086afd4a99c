"""/api/v1/verify (by CID, by upload, proof file) and /api/v1/audit over HTTP."""

import pytest
from fastapi.testclient import TestClient

from backend.anchoring.verification import load_proof_file, verify_with_proof_file
from backend.api.deps import Principal, optional_principal
from backend.api.main import create_app
from backend.config import get_settings
from backend.content.cid import cid_of
from backend.identity.roles import Role
from tests.anchoring.helpers import anchor_files, flush_and_confirm

DOC = b"promissory note: borrower 0xabc owes 1000 USDC"


@pytest.fixture
def api(settings):
    settings = settings.model_copy(update={"run_workers": False, "anchor_max_document_bytes": 4096})
    app = create_app()
    app.dependency_overrides[get_settings] = lambda: settings
    return TestClient(app), app, settings


def test_verify_by_cid_and_by_upload(api):
    client, _, settings = api
    anchor_files(settings, [DOC])
    cid = cid_of(DOC)
    assert client.get("/api/v1/verify", params={"cid": cid}).json()["status"] == "pending"
    assert client.get("/api/v1/verify/proof", params={"cid": cid}).status_code == 409
    flush_and_confirm(settings)

    by_cid = client.get("/api/v1/verify", params={"cid": cid})
    assert by_cid.status_code == 200 and by_cid.json()["status"] == "verified"
    body = by_cid.json()
    assert body["block_number"] > 0 and body["tx_hash"] and body["root"] and isinstance(body["proof"], list)

    upload = client.post("/api/v1/verify", files={"file": ("note.pdf", DOC)})
    assert upload.status_code == 200 and upload.json()["status"] == "verified"
    forged = DOC.replace(b"1000", b"1001")
    claimed = client.post("/api/v1/verify", files={"file": ("note.pdf", forged)}, data={"cid": cid})
    assert claimed.json()["status"] == "tampered"
    assert client.post("/api/v1/verify", files={"file": ("x", forged)}).json()["status"] == "unknown"
    assert client.get("/api/v1/verify", params={"cid": cid_of(b"nothing")}).json()["status"] == "unknown"

    proof = client.get("/api/v1/verify/proof", params={"cid": cid})
    assert proof.status_code == 200
    assert verify_with_proof_file(settings, DOC, load_proof_file(proof.content)).status == "verified"


def test_bad_input_is_a_4xx_with_a_message(api):
    client, _, _ = api
    no_file = client.post("/api/v1/verify", data={"cid": cid_of(b"x")})
    assert no_file.status_code == 422 and no_file.json()["fields"][0]["loc"][-1] == "file"
    malformed = client.get("/api/v1/verify", params={"cid": "bafy-not-a-cid"})
    assert malformed.status_code == 422 and malformed.json()["error"] == "invalid_cid"
    claim = client.post("/api/v1/verify", files={"file": ("a", b"abc")}, data={"cid": "Qm!!"})
    assert claim.status_code == 422 and claim.json()["error"] == "invalid_cid"
    assert client.get("/api/v1/verify").status_code == 422
    assert client.get("/api/v1/verify/proof", params={"cid": "nope"}).status_code == 422
    assert client.get("/api/v1/verify/proof", params={"cid": cid_of(b"never")}).status_code == 404
    too_big = client.post("/api/v1/verify", files={"file": ("big", b"x" * 5000)})
    assert too_big.status_code == 413 and "4096" in too_big.json()["detail"]


def test_audit_entries_are_for_auditors(api):
    client, app, settings = api
    anchor_files(settings, [b"one", b"two"], actor="user:1")
    assert client.get("/api/v1/audit/entries").status_code == 401
    app.dependency_overrides[optional_principal] = lambda: Principal("0x" + "11" * 20, frozenset({Role.INVESTOR}))
    assert client.get("/api/v1/audit/entries").status_code == 403
    app.dependency_overrides[optional_principal] = lambda: Principal("0x" + "11" * 20, frozenset({Role.AUDITOR}))
    entries = client.get("/api/v1/audit/entries", params={"after_seq": 1}).json()
    assert [(e["seq"], e["actor"], e["action"]) for e in entries] == [(2, "user:1", "document.anchor")]
    assert client.get("/api/v1/audit/entries", params={"limit": 0}).status_code == 422
    report = client.get("/api/v1/audit/verify").json()
    assert report["ok"] and report["entries"] == 2
