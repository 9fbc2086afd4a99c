"""The right of access (privacy review M3): GET /api/v1/kyc/me/export gives a wallet, with a recent
sign-in, every KYC record of its not erased (opened, with its ID documents), its credit applications
with their decisions, its hardship requests and the case log of its loans, and its notices; never
another wallet's. Reviewers' notes and check findings are withheld, and the answer says so."""

from __future__ import annotations

import base64
from datetime import UTC, datetime, timedelta

from eth_account import Account
from sqlalchemy import select

from backend.audit.hashing import payload_hash
from backend.audit.models import AuditEntry
from backend.db.session import session_scope
from backend.identity.models import User
from backend.identity.tokens import issue_pair
from backend.servicing.models import ServicingNotice
from tests.identity.conftest import (
    ADMIN,
    PDF,
    PNG,
    approve_over_api,
    bearer,
    client_for,
    identity_settings,
    make_applicant,
    submit,
)
from tests.scoring.conftest import SAMPLE
from tests.servicing.loan_rows import index_active_loan, stub_chain_clock

URL = "/api/v1/kyc/me/export"


def session_begun(settings, account, minutes_ago: float) -> dict[str, str]:
    with session_scope(settings) as session:
        session.merge(User(wallet=account.address))
        pair = issue_pair(session, settings, account.address, auth_time=datetime.now(UTC) - timedelta(minutes=minutes_ago))
    return {"Authorization": f"Bearer {pair.access_token}"}


def notify(settings, wallet: str, loan_id: int, message: str) -> None:
    with session_scope(settings) as session:
        session.add(ServicingNotice(loan_id=loan_id, borrower=wallet, recipient=wallet, installment=1, kind="due_soon",
                                    due_date=1_790_000_000, amount=10**8, message=message))  # fmt: skip


def a_borrower_with_everything(client, settings, seed: int, loan_id: int, document: bytes, hardship: str):
    """A wallet verified twice (the second time with an ID document, approved by an admin who opened it),
    with one credit application, one loan, one hardship request answered by staff, and one notice."""
    applicant = make_applicant(seed)
    headers = bearer(client, applicant.account)
    first = submit(client, applicant, headers).json()
    second = submit(client, applicant, headers, files=[("documents", ("id", document, "application/octet-stream"))]).json()
    approve_over_api(client, second["id"])
    decision = client.post("/api/v1/score", json=SAMPLE, headers=headers).json()
    index_active_loan(settings, applicant.account.address, loan_id)
    assert client.post(f"/api/v1/loans/{loan_id}/hardship", json={"note": hardship}, headers=headers).status_code == 201
    staff = client.post(f"/api/v1/servicing/collections/{loan_id}/actions", headers=bearer(client, ADMIN),
                        json={"kind": "contacted", "note": f"called about loan {loan_id}; plan offered"})  # fmt: skip
    assert staff.status_code == 201, staff.text
    notify(settings, applicant.account.address, loan_id, f"Loan {loan_id}: an installment is due soon")
    return applicant, headers, (first["id"], second["id"]), decision


def test_a_wallet_exports_all_of_its_own_data_and_nothing_of_anyone_else(tmp_path, monkeypatch):
    stub_chain_clock(monkeypatch)
    settings = identity_settings(tmp_path, f"sqlite:///{tmp_path / 'export.db'}")
    client = client_for(settings)
    me, headers, (first, second), decision = a_borrower_with_everything(client, settings, 70, 7, PNG, "lost my job in May")
    other, *_, other_decision = a_borrower_with_everything(client, settings, 71, 8, PDF, "my shop burned down")

    stale = client.get(URL, headers=session_begun(settings, me.account, minutes_ago=30))
    assert stale.status_code == 401 and stale.json()["error"] == "fresh_sign_in_required"

    answer = client.get(URL, headers=headers)
    assert answer.status_code == 200, answer.json()
    body = answer.json()
    assert body["wallet"] == me.account.address
    records = body["records"]
    assert [r["record"]["id"] for r in records] == [second, first]  # newest first
    assert [r["record"]["status"] for r in records] == ["approved", "superseded"]
    assert all(r["data"]["data"]["full_name"] == me.full_name and r["data"]["data"]["email"] == me.email for r in records)
    assert all(bytes.fromhex(r["data"]["salt"]) and r["data"]["canonical"] for r in records)  # the commitment's proof
    (document,) = records[0]["documents"]
    assert (document["index"], document["media_type"], document["size"]) == (0, "image/png", len(PNG))
    assert base64.b64decode(document["content_base64"]) == PNG
    assert records[1]["documents"] == []
    # The owner's view of the record: the flag and the reviewer's wallet stay staff's.
    assert [c["code"] for c in records[0]["record"]["reasons"]] == ["MANUAL_APPROVAL"]
    assert ADMIN.address not in answer.text and "DOCUMENT_REVIEW" not in answer.text

    (application,) = body["credit_applications"]
    assert application["inputs"] == {**SAMPLE, **application["inputs"]} and application["decision"]["id"] == decision["id"]
    (asked,) = body["hardship_requests"]
    assert (asked["loan_id"], asked["kind"], asked["by"], asked["note"]) == (7, "hardship", "you", "lost my job in May")
    (entry,) = body["case_log"]
    assert (entry["kind"], entry["by"], entry["note"]) == ("contacted", "staff", "called about loan 7; plan offered")
    assert [n["message"] for n in body["notices"]] == ["Loan 7: an installment is due soon"]
    assert len(body["withheld"]) == 3 and "Reviewers' notes" in body["withheld"][0]

    for theirs in (other.full_name, other.email, other.account.address, other_decision["id"], "my shop burned down",
                   "loan 8", base64.b64encode(PDF).decode()):  # fmt: skip
        assert theirs not in answer.text, theirs

    with session_scope(settings) as session:
        (entry,) = session.scalars(select(AuditEntry).where(AuditEntry.action == "kyc.export")).all()
    assert (entry.actor, entry.subject) == (me.account.address, me.account.address)
    assert entry.payload_hash == payload_hash({"records": [second, first], "documents": 1, "decisions": [decision["id"]],
                                               "case_log": [asked["id"], body["case_log"][0]["id"]], "notices": 1})  # fmt: skip


def test_a_wallet_with_nothing_gets_an_empty_export(tmp_path):
    settings = identity_settings(tmp_path, f"sqlite:///{tmp_path / 'empty.db'}")
    client, stranger = client_for(settings), Account.create()
    body = client.get(URL, headers=bearer(client, stranger)).json()
    assert body["wallet"] == stranger.address
    assert [body[k] for k in ("records", "credit_applications", "hardship_requests", "case_log", "notices")] == [[]] * 5


def test_erased_records_are_not_exported(tmp_path):
    settings = identity_settings(tmp_path, f"sqlite:///{tmp_path / 'erased.db'}")
    client = client_for(settings)
    applicant = make_applicant(72)
    headers = bearer(client, applicant.account)
    submit(client, applicant, headers)
    assert client.delete("/api/v1/kyc/me", headers=headers).status_code == 200
    body = client.get(URL, headers=headers).json()
    assert body["records"] == [] and applicant.full_name not in str(body)
