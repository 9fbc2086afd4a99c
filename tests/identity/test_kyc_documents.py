"""ID documents are looked at by a person before they count (privacy review H3): a submission with
documents waits for review, an admin opens each document (fresh sign-in, one audit entry each) and
only then may approve it, and only that approval grants level 2 and the borrower role."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import pytest
from eth_account import Account
from sqlalchemy import select

from backend.audit.hashing import payload_hash
from backend.audit.models import AuditEntry
from backend.chain.models import Intent
from backend.db.session import session_scope
from backend.errors import Conflict
from backend.identity.kyc import documents, review
from backend.identity.kyc.submission import submit as submit_record
from backend.identity.models import KycDocument, KycDocumentView, User
from backend.identity.roles import roles_of
from backend.identity.schemas import KycCreate
from backend.identity.tokens import issue_pair
from tests.identity.conftest import (
    ADMIN,
    PDF,
    PNG,
    approve_with_documents,
    bearer,
    client_for,
    identity_settings,
    make_applicant,
    submit,
)

SECOND_ADMIN = Account.from_key("0x" + "a2" * 32)


def codes(body: dict) -> list[str]:
    return [r["code"] for r in body["reasons"]]


def views(settings) -> list[tuple[str, str, str, str]]:
    with session_scope(settings) as session:
        return [(e.actor, e.action, e.subject, e.payload_hash) for e in session.scalars(
            select(AuditEntry).where(AuditEntry.action == "kyc.document_view").order_by(AuditEntry.seq))]  # fmt: skip


def intents(settings) -> list[str]:
    with session_scope(settings) as session:
        return list(session.scalars(select(Intent.function).order_by(Intent.id)))


def session_begun(settings, account, minutes_ago: float) -> dict[str, str]:
    with session_scope(settings) as session:
        session.merge(User(wallet=account.address))
        pair = issue_pair(session, settings, account.address, auth_time=datetime.now(UTC) - timedelta(minutes=minutes_ago))
    return {"Authorization": f"Bearer {pair.access_token}"}


@pytest.fixture
def two_admins(tmp_path):
    settings = identity_settings(tmp_path, f"sqlite:///{tmp_path / 'docs.db'}", admin_wallets=[ADMIN.address, SECOND_ADMIN.address])
    return settings, client_for(settings)


def test_five_bytes_of_pdf_no_longer_make_a_borrower(settings):
    """The review's reproduction: a "document" of b"%PDF-" gave level 2 and the borrower role at once."""
    applicant = make_applicant(4242)
    with session_scope(settings) as session:
        record = submit_record(session, settings, applicant.account.address, KycCreate(**applicant.form()), [b"%PDF-"])
        assert (record.status, record.level) == ("needs_review", 2)
        assert [r["code"] for r in record.reasons] == ["DOCUMENT_REVIEW"]
    with session_scope(settings) as session:
        assert roles_of(session, settings, applicant.account.address) == set()
        assert session.scalars(select(KycDocument.size)).all() == [5]
    assert intents(settings) == []  # nothing attested


def test_an_admin_approves_a_document_submission_only_after_opening_each_document(two_admins):
    settings, client = two_admins
    applicant = make_applicant(50)
    mine = bearer(client, applicant.account)
    files = [("documents", ("id.png", PNG, "image/png")), ("documents", ("back.pdf", PDF, "application/pdf"))]
    body = submit(client, applicant, mine, files=files).json()
    assert body["status"] == "needs_review" and body["level"] == 2 and body["document_count"] == 2
    assert codes(body) == ["UNDER_REVIEW"] and body["attestation"] is None  # the applicant reads what any flag reads
    assert client.get("/api/v1/auth/me", headers=mine).json()["roles"] == []
    admin = bearer(client, ADMIN)
    (item,) = client.get("/api/v1/admin/kyc/queue", headers=admin).json()
    assert item["record"]["id"] == body["id"] and codes(item["record"]) == ["DOCUMENT_REVIEW"]

    def approve(headers) -> dict:
        return client.post(f"/api/v1/admin/kyc/{body['id']}/approve", json={"note": "the photo matches"}, headers=headers)

    refused = approve(admin)
    assert refused.status_code == 409 and refused.json()["context"]["unopened"] == [0, 1]
    assert "open each of this record's ID documents" in refused.json()["detail"]
    front = client.get(f"/api/v1/admin/kyc/{body['id']}/documents/0", headers=admin)
    assert front.status_code == 200 and front.content == PNG and front.headers["content-type"] == "image/png"
    assert front.headers["x-content-type-options"] == "nosniff" and front.headers["cache-control"] == "no-store"
    assert front.headers["content-disposition"] == f'inline; filename="kyc-{body["id"][:8]}-0.png"'
    assert approve(admin).json()["context"]["unopened"] == [1]
    # Another admin's opening is theirs: it does not let this one approve unseen.
    back = client.get(f"/api/v1/admin/kyc/{body['id']}/documents/1", headers=bearer(client, SECOND_ADMIN))
    assert back.status_code == 200 and back.content == PDF and back.headers["content-type"] == "application/pdf"
    assert approve(admin).json()["context"]["unopened"] == [1]
    assert client.get("/api/v1/kyc/me", headers=mine).json()["status"] == "needs_review" and intents(settings) == []

    assert client.get(f"/api/v1/admin/kyc/{body['id']}/documents/1", headers=admin).status_code == 200
    approved = approve(admin)
    assert approved.status_code == 200, approved.json()
    assert approved.json()["status"] == "approved" and approved.json()["level"] == 2
    assert codes(approved.json()) == ["DOCUMENT_REVIEW", "MANUAL_APPROVAL"] and intents(settings) == ["attest"]
    assert client.get("/api/v1/auth/me", headers=mine).json()["roles"] == ["borrower", "investor"]


def test_opening_a_document_needs_a_fresh_sign_in_and_writes_one_audit_entry_naming_reader_record_and_index(two_admins):
    settings, client = two_admins
    applicant = make_applicant(51)
    body = submit(client, applicant, files=[("documents", ("id.png", PNG, "image/png"))]).json()
    url = f"/api/v1/admin/kyc/{body['id']}/documents/0"

    stale = client.get(url, headers=session_begun(settings, ADMIN, minutes_ago=30))
    assert stale.status_code == 401 and stale.json()["error"] == "fresh_sign_in_required"
    assert client.get(url, headers=bearer(client, applicant.account)).status_code == 403  # admins only
    assert views(settings) == []

    assert client.get(url, headers=session_begun(settings, ADMIN, minutes_ago=1)).content == PNG
    with session_scope(settings) as session:
        (view,) = session.scalars(select(KycDocumentView)).all()
        assert (view.record_id, view.reader) == (body["id"], ADMIN.address)
    payload = {"view_id": view.id, "record_id": body["id"], "wallet": applicant.account.address, "document": 0}
    assert views(settings) == [(ADMIN.address, "kyc.document_view", f"{body['id']}/document/0", payload_hash(payload))]

    missing = client.get(f"/api/v1/admin/kyc/{body['id']}/documents/1", headers=bearer(client, ADMIN))
    assert missing.status_code == 404 and missing.json()["context"]["field"] == "index"
    assert client.get(f"/api/v1/admin/kyc/{body['id']}/documents/-1", headers=bearer(client, ADMIN)).status_code == 422
    assert client.get("/api/v1/admin/kyc/no-such-record/documents/0", headers=bearer(client, ADMIN)).status_code == 404
    assert len(views(settings)) == 1  # nothing opened, nothing recorded

    client.delete(f"/api/v1/admin/kyc/wallets/{applicant.account.address}", headers=bearer(client, ADMIN))
    assert client.get(url, headers=bearer(client, ADMIN)).status_code == 410  # its key is shredded
    assert len(views(settings)) == 1


def test_both_admins_of_a_two_admin_flag_open_the_documents(two_admins):
    """A watch-list hit with an ID document: each of the two approvals is by someone who looked."""
    settings, _ = two_admins
    applicant = make_applicant(52, born=date(1968, 3, 14))
    applicant.full_name = "Viktor Petrovich Blacklistov"
    with session_scope(settings) as session:
        record = submit_record(session, settings, applicant.account.address, KycCreate(**applicant.form()), [PNG])
        record_id = record.id
        assert sorted(r["code"] for r in record.reasons) == ["DOCUMENT_REVIEW", "SANCTIONS_MATCH"]
    assert approve_with_documents(settings, record_id, ADMIN.address) == "needs_review"  # the first of two
    with session_scope(settings) as session, pytest.raises(Conflict, match="not opened by you yet: 0"):
        review.approve(session, settings, record_id, SECOND_ADMIN.address, "agreed")
    assert approve_with_documents(settings, record_id, SECOND_ADMIN.address) == "approved"


def test_an_under_age_applicant_with_a_document_is_rejected_not_queued(settings):
    today = date.today()
    applicant = make_applicant(53, born=date(today.year - 17, 1, 1))
    with session_scope(settings) as session:
        record = submit_record(session, settings, applicant.account.address, KycCreate(**applicant.form()), [PNG])
        assert record.status == "rejected" and [r["code"] for r in record.reasons] == ["UNDER_AGE"]


def test_an_admin_does_not_open_the_documents_of_their_own_record(settings):
    me = make_applicant(54)
    me.account = ADMIN
    with session_scope(settings) as session:
        record_id = submit_record(session, settings, ADMIN.address, KycCreate(**me.form()), [PNG]).id
    with session_scope(settings) as session, pytest.raises(Exception, match="their own KYC record") as refused:
        documents.open_document(session, settings, record_id, 0, ADMIN.address)
    assert refused.value.status_code == 403
    assert views(settings) == []
