"""Why a KYC record was revealed stays readable for oversight (privacy review L3): each reveal is a
row with its reason sealed under the record's data key, read back by auditors with a recent
sign-in (audited), committed to by the `kyc.reveal` audit entry, and shredded with the record."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from eth_account import Account
from sqlalchemy import select

from backend.audit.hashing import payload_hash
from backend.audit.models import AuditEntry
from backend.db.session import session_scope
from backend.identity.kyc.reveals import PADDED, audit_payload
from backend.identity.models import KycReveal, User
from backend.identity.roles import grant_role
from backend.identity.tokens import issue_pair
from tests.identity.conftest import ADMIN, bearer, client_for, identity_settings, make_applicant, submit

AUDITOR = Account.from_key("0x" + "a5" * 32)
URL = "/api/v1/audit/kyc/reveals"


def session_begun(settings, account, minutes_ago: float) -> dict[str, str]:
    with session_scope(settings) as session:
        session.merge(User(wallet=account.address))
        pair = issue_pair(session, settings, account.address, auth_time=datetime.now(UTC) - timedelta(minutes=minutes_ago))
    return {"Authorization": f"Bearer {pair.access_token}"}


def entries(settings, action: str) -> list[AuditEntry]:
    with session_scope(settings) as session:
        return list(session.scalars(select(AuditEntry).where(AuditEntry.action == action).order_by(AuditEntry.seq)))


def test_an_auditor_reads_why_each_record_was_revealed_with_a_recent_sign_in(tmp_path):
    settings = identity_settings(tmp_path, f"sqlite:///{tmp_path / 'reveals.db'}")
    client = client_for(settings)
    with session_scope(settings) as session:
        grant_role(session, ADMIN.address, AUDITOR.address, "auditor")
    first, second = make_applicant(60), make_applicant(61)
    ids = [submit(client, a).json()["id"] for a in (first, second)]
    admin = bearer(client, ADMIN)
    for record_id, reason in ((ids[0], "fraud_investigation"), (ids[1], "review"), (ids[0], "customer_request")):
        assert client.post(f"/api/v1/admin/kyc/{record_id}/reveal", json={"reason": reason}, headers=admin).status_code == 200

    with session_scope(settings) as session:  # sealed: no reason in clear, and all one length whichever it is
        rows = session.scalars(select(KycReveal).order_by(KycReveal.id)).all()
        assert [(r.record_id, r.actor) for r in rows] == [(ids[0], ADMIN.address), (ids[1], ADMIN.address), (ids[0], ADMIN.address)]
        assert {len(r.reason_ciphertext) for r in rows} == {len(rows[0].reason_ciphertext)} and len(rows[0].reason_ciphertext) > PADDED
        assert not any(word in r.reason_ciphertext for r in rows for word in (b"fraud", b"review", b"customer"))
        # The audit entry of each reveal commits to its sealed reason.
        expected = [payload_hash(audit_payload(r, first.account.address if r.record_id == ids[0] else second.account.address))
                    for r in rows]  # fmt: skip
    assert [(e.actor, e.subject, e.payload_hash) for e in entries(settings, "kyc.reveal")] == [
        (ADMIN.address, r.record_id, h) for r, h in zip(rows, expected, strict=True)]  # fmt: skip

    stale = client.get(URL, headers=session_begun(settings, AUDITOR, minutes_ago=30))
    assert stale.status_code == 401 and stale.json()["error"] == "fresh_sign_in_required"
    assert client.get(URL, headers=bearer(client, first.account)).status_code == 403  # oversight only
    assert entries(settings, "kyc.reveal_reasons_read") == []

    auditor = bearer(client, AUDITOR)
    shown = client.get(URL, headers=auditor)
    assert shown.status_code == 200, shown.json()
    assert [(r["record_id"], r["wallet"], r["revealed_by"], r["reason"]) for r in shown.json()] == [
        (ids[0], first.account.address, ADMIN.address, "customer_request"),
        (ids[1], second.account.address, ADMIN.address, "review"),
        (ids[0], first.account.address, ADMIN.address, "fraud_investigation"),
    ]  # newest first
    one = client.get(URL, params={"record_id": ids[1]}, headers=auditor).json()
    assert [(r["record_id"], r["reason"]) for r in one] == [(ids[1], "review")]
    reads = entries(settings, "kyc.reveal_reasons_read")
    assert [(e.actor, e.payload_hash) for e in reads] == [
        (AUDITOR.address, payload_hash({"record_ids": sorted(ids)})), (AUDITOR.address, payload_hash({"record_ids": [ids[1]]}))]

    # Erased with the record: who and when stay, the reason goes with its key.
    assert client.delete(f"/api/v1/admin/kyc/wallets/{first.account.address}", headers=admin).status_code == 200
    after = client.get(URL, headers=auditor).json()
    assert [(r["record_id"], r["reason"]) for r in after] == [(ids[0], None), (ids[1], "review"), (ids[0], None)]
