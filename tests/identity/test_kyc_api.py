"""KYC through the API: decisions and reason codes, bad input, review, reveal, renewal, erasure."""

from __future__ import annotations

from datetime import date

import pytest
from eth_account import Account
from sqlalchemy import func, select

from backend.audit.hashing import payload_hash
from backend.audit.models import AuditEntry
from backend.chain.models import Intent
from backend.db.session import session_scope
from backend.identity.checks.origin import network_of
from backend.identity.models import KycDocument, KycEvent, KycOrigin, KycRecord
from backend.identity.roles import grant_role
from tests.identity.conftest import (
    ADMIN,
    JPEG,
    PDF,
    PNG,
    approve_over_api,
    bearer,
    client_for,
    identity_settings,
    make_applicant,
    submit,
)


def count(settings, model) -> int:
    with session_scope(settings) as session:
        return session.scalar(select(func.count()).select_from(model))


def intents(settings) -> list[tuple[str, str]]:
    with session_scope(settings) as session:
        return [(i.function, i.key) for i in session.scalars(select(Intent).order_by(Intent.id))]


def audit_actions(settings) -> list[str]:
    with session_scope(settings) as session:
        return list(session.scalars(select(AuditEntry.action).order_by(AuditEntry.seq)))


def codes(body) -> list[str]:
    return [r["code"] for r in body["reasons"]]


def moved(applicant, n: int):
    """`applicant` with another address: a new application (the same data again is a retry, answered
    with the record it made: backend/identity/kyc/repeat.py)."""
    applicant.address_line = f"{n} Quiet Lane, Building {n}"
    return applicant


def staff_view(client, record_id: str) -> dict:
    """The record as the admin's review screen shows it (the reasons the applicant is not told)."""
    return client.get(f"/api/v1/admin/kyc/{record_id}", headers=bearer(client, ADMIN)).json()["record"]


def test_clean_applicant_is_approved_attestation_queued_and_becomes_investor(client, settings):
    applicant = make_applicant(1)
    headers = bearer(client, applicant.account)
    response = submit(client, applicant, headers)
    assert response.status_code == 201, response.json()
    body = response.json()
    assert body["status"] == "approved" and body["reasons"] == [] and body["level"] == 1
    assert body["attestation"]["status"] == "pending" and body["commitment"].startswith("0x")
    assert [e["status"] for e in body["history"]] == ["pending", "approved"]
    me = client.get("/api/v1/kyc/me", headers=headers).json()
    assert me["status"] == "approved" and me["roles"] == ["investor"]
    assert intents(settings) == [("attest", f"kyc:attest:{body['id']}")]
    assert "kyc.submit" in audit_actions(settings)


def test_applicant_with_an_id_document_gets_level_2_and_may_borrow_once_an_admin_opened_it(client, settings):
    applicant = make_applicant(2)
    headers = bearer(client, applicant.account)
    response = submit(client, applicant, headers, files=[("documents", ("id.png", PNG, "image/png"))])
    assert response.status_code == 201, response.json()
    assert response.json()["level"] == 2 and response.json()["document_count"] == 1
    assert response.json()["status"] == "needs_review" and intents(settings) == []  # a person looks at it first
    assert client.get("/api/v1/auth/me", headers=headers).json()["roles"] == []
    assert codes(staff_view(client, response.json()["id"])) == ["DOCUMENT_REVIEW"]
    approved = approve_over_api(client, response.json()["id"])  # opens the document, then approves
    assert approved["status"] == "approved" and approved["level"] == 2
    assert client.get("/api/v1/auth/me", headers=headers).json()["roles"] == ["borrower", "investor"]
    assert intents(settings) == [("attest", f"kyc:attest:{approved['id']}")]


def test_under_age_applicant_is_rejected_and_never_attested(client, settings):
    today = date.today()
    applicant = make_applicant(3, born=date(today.year - 17, 1, 1))
    body = submit(client, applicant).json()
    assert body["status"] == "rejected" and codes(body) == ["UNDER_AGE"] and body["attestation"] is None
    assert intents(settings) == []


def test_bad_checksum_is_refused_with_its_code_and_nothing_is_stored(client, settings):
    applicant = make_applicant(4)
    applicant.id_number = applicant.id_number[:-1] + ("0" if applicant.id_number[-1] != "0" else "1")
    response = submit(client, applicant)
    assert response.status_code == 422
    assert [r["code"] for r in response.json()["context"]["reasons"]] == ["ID_CHECKSUM"]
    assert applicant.id_number not in response.text
    assert (count(settings, KycRecord), count(settings, KycEvent), intents(settings)) == (0, 0, [])


def test_birth_date_in_the_id_must_match(client, settings):
    applicant = make_applicant(5)
    applicant.date_of_birth = date(applicant.date_of_birth.year, applicant.date_of_birth.month, 28 if applicant.date_of_birth.day != 28 else 27)
    response = submit(client, applicant)
    assert response.status_code == 422 and response.json()["context"]["reasons"][0]["code"] == "ID_DOB_MISMATCH"
    assert count(settings, KycRecord) == 0


def test_same_national_id_verified_for_another_wallet_is_flagged_not_attested(client, settings):
    first = make_applicant(6)
    assert submit(client, first).json()["status"] == "approved"
    impostor = make_applicant(7, born=first.date_of_birth)
    impostor.id_number = first.id_number
    body = submit(client, impostor).json()
    assert body["status"] == "needs_review" and codes(body) == ["UNDER_REVIEW"] and body["attestation"] is None
    assert codes(staff_view(client, body["id"])) == ["DUPLICATE_IDENTITY"]
    assert [f for f, _ in intents(settings)] == ["attest"]  # only the first applicant's
    # The reviewer is told whose verified record it matched: the wallet, never the number.
    (item,) = client.get("/api/v1/admin/kyc/queue", headers=bearer(client, ADMIN)).json()
    assert item["same_id_wallets"] == [first.account.address] and first.id_number not in str(item)
    one = client.get(f"/api/v1/admin/kyc/{body['id']}", headers=bearer(client, ADMIN)).json()
    assert one["same_id_wallets"] == [first.account.address] and one["record"]["id"] == body["id"]


def test_every_staff_read_of_kyc_records_is_audited_naming_the_reader(client, settings):
    """Privacy review M6: the masked view (initials, birth year, city, phone ending) identifies
    someone in a small town, and any record can be opened, reviewed or not. Each read writes one
    entry: who read, and which record(s)."""
    first = make_applicant(8)
    approved = submit(client, first).json()
    impostor = make_applicant(9, born=first.date_of_birth)
    impostor.id_number = first.id_number
    flagged = submit(client, impostor).json()
    assert flagged["status"] == "needs_review"

    def reads() -> list[tuple[str, str, str, str]]:
        with session_scope(settings) as session:
            return [(e.actor, e.action, e.subject, e.payload_hash) for e in session.scalars(
                select(AuditEntry).where(AuditEntry.action.in_(("kyc.view", "kyc.queue_read"))).order_by(AuditEntry.seq))]  # fmt: skip

    admin = bearer(client, ADMIN)
    assert [item["record"]["id"] for item in client.get("/api/v1/admin/kyc/queue", headers=admin).json()] == [flagged["id"]]
    assert client.get(f"/api/v1/admin/kyc/{approved['id']}", headers=admin).status_code == 200  # outside any review
    assert client.get(f"/api/v1/admin/kyc/{flagged['id']}", headers=admin).status_code == 200
    assert reads() == [
        (ADMIN.address, "kyc.queue_read", "kyc:queue", payload_hash({"record_ids": [flagged["id"]]})),
        (ADMIN.address, "kyc.view", approved["id"], payload_hash({"record_id": approved["id"], "wallet": first.account.address})),
        (ADMIN.address, "kyc.view", flagged["id"], payload_hash({"record_id": flagged["id"], "wallet": impostor.account.address})),
    ]  # fmt: skip
    # Nothing read, nothing recorded: an empty queue and an unknown record.
    assert client.get("/api/v1/admin/kyc/no-such-record", headers=admin).status_code == 404
    client.post(f"/api/v1/admin/kyc/{flagged['id']}/reject", json={"note": "same ID, other person"}, headers=admin)
    assert client.get("/api/v1/admin/kyc/queue", headers=admin).json() == []
    assert len(reads()) == 3


def test_several_wallets_applying_from_one_network_address_go_to_review(settings):
    farm = client_for(settings, address="81.2.69.142")
    household = [make_applicant(seed) for seed in (19, 20, 21, 22)]
    for applicant in household:  # four wallets on one connection: a household, say (3 others each, at most)
        assert submit(farm, applicant).json()["status"] == "approved"
    fifth = submit(farm, make_applicant(23)).json()  # more than 3 others
    assert fifth["status"] == "needs_review" and codes(fifth) == ["UNDER_REVIEW"] and fifth["attestation"] is None
    flag = staff_view(farm, fifth["id"])["reasons"][0]
    assert flag["code"] == "SHARED_ORIGIN"
    assert flag["message"] == "4 other wallets applied from this network address in the last 30 days (more than 3 go to review)"
    assert [f for f, _ in intents(settings)] == ["attest"] * 4
    same_56 = client_for(settings, address="2a00:1450:4001:81c::1"), client_for(settings, address="2a00:1450:4001:81d::1")
    for seed, client in zip((24, 25, 26, 29), (*same_56, *same_56), strict=True):  # two /64s of one /56: one address
        submit(client, make_applicant(seed))
    assert codes(staff_view(farm, submit(same_56[1], make_applicant(27)).json()["id"])) == ["SHARED_ORIGIN"]
    assert submit(client_for(settings, address="81.2.69.160"), make_applicant(28)).json()["status"] == "approved"
    with session_scope(settings) as session:  # the address itself is never stored, only its HMAC
        stored = list(session.execute(select(KycOrigin.wallet, KycOrigin.origin_index)))
    assert len(stored) == 11 and len({index for _, index in stored}) == 3
    assert not any(address in index for _, index in stored for address in ("81.2.69.142", "2a00:1450", "81.2.69.160"))

    erased = farm.delete("/api/v1/kyc/me", headers=bearer(farm, household[0].account))  # erasure forgets it too
    assert erased.status_code == 200, erased.text
    with session_scope(settings) as session:
        assert household[0].account.address not in set(session.scalars(select(KycOrigin.wallet)))


def test_network_origin_is_an_ipv4_address_or_an_ipv6_56():
    assert network_of("81.2.69.142") == "81.2.69.142" and network_of("::ffff:81.2.69.142") == "81.2.69.142"
    assert network_of("2a00:1450:4001:81c:aaaa::1") == network_of("2a00:1450:4001:81c::9") == "2a00:1450:4001:800::/56"
    assert network_of("2a00:1450:4001:81c::1") == network_of("2a00:1450:4001:81d::1")  # a home's /56 delegation
    assert network_of("2a00:1450:4001:91c::1") != network_of("2a00:1450:4001:81c::1")
    for not_an_applicant in ("127.0.0.1", "::1", "10.0.0.5", "192.168.1.20", "fe80::1", "testclient", None):
        assert network_of(not_an_applicant) is None  # the machine itself, or a proxy


def test_the_blind_index_is_an_hmac_not_a_hash_of_the_id(client, settings):
    import hashlib

    applicant = make_applicant(8)
    submit(client, applicant)
    with session_scope(settings) as session:
        index = session.scalar(select(KycRecord.blind_index))
    normalised = f"PRC:{applicant.id_number}"
    assert index and index not in {hashlib.sha256(v.encode()).hexdigest() for v in (applicant.id_number, normalised)}


def test_watch_list_hit_goes_to_review_with_score_and_threshold(client, settings):
    applicant = make_applicant(9, born=date(1968, 3, 14))
    applicant.full_name = "Victor Blacklistow"
    body = submit(client, applicant).json()
    assert body["status"] == "needs_review" and codes(body) == ["UNDER_REVIEW"] and body["attestation"] is None
    flag = staff_view(client, body["id"])["reasons"][0]  # the reviewer sees which entry, how close, and the bar
    assert flag["code"] == "SANCTIONS_MATCH" and "threshold 88" in flag["message"]
    assert intents(settings) == []


def test_velocity_limits_per_wallet_and_per_id_from_one_wallet(tmp_path):
    settings = identity_settings(tmp_path, f"sqlite:///{tmp_path / 'v.db'}", kyc_velocity_per_wallet=2, kyc_velocity_per_id=2)
    with client_for(settings) as client:
        applicant = make_applicant(10)
        headers = bearer(client, applicant.account)
        assert [submit(client, moved(applicant, n), headers).status_code for n in range(2)] == [201, 201]  # a renewal is fine
        refused = submit(client, moved(applicant, 2), headers)
        assert refused.status_code == 429 and refused.json()["context"]["reasons"][0]["code"] == "VELOCITY_WALLET"
        assert 0 < int(refused.headers["Retry-After"]) <= settings.kyc_velocity_window
    assert count(settings, KycRecord) == 2

    settings = identity_settings(tmp_path, f"sqlite:///{tmp_path / 'v2.db'}", kyc_velocity_per_wallet=5, kyc_velocity_per_id=2)
    with client_for(settings) as client:
        applicant = make_applicant(11)
        headers = bearer(client, applicant.account)
        assert [submit(client, moved(applicant, n), headers).status_code for n in range(2)] == [201, 201]
        refused = submit(client, moved(applicant, 2), headers)  # the same ID a third time from this wallet
        assert refused.status_code == 429 and refused.json()["context"]["reasons"][0]["code"] == "VELOCITY_ID"
        other = make_applicant(12)  # this wallet may still apply with another ID (its own, after a typo)
        other.account = applicant.account
        assert submit(client, other, headers).status_code == 201


def test_strangers_naming_an_id_never_lock_its_owner_out(tmp_path):
    """Whoever knows a national ID number (a PRC ID even carries its owner's date of birth) could
    use up a per-ID quota and keep the owner from ever applying; the quota is per wallet instead,
    and many wallets naming one ID send the next submission to a human."""
    settings = identity_settings(tmp_path, f"sqlite:///{tmp_path / 'v.db'}", kyc_velocity_per_wallet=3, kyc_velocity_per_id=3)
    with client_for(settings) as client:
        victim = make_applicant(50)
        attackers = [make_applicant(seed, born=victim.date_of_birth) for seed in (51, 52, 53)]
        for attacker in attackers:
            attacker.id_number = victim.id_number
        headers = bearer(client, attackers[0].account)
        assert [submit(client, moved(attackers[0], n), headers).status_code for n in range(3)] == [201, 201, 201]
        assert [submit(client, a).status_code for a in attackers[1:]] == [201, 201]
        owner = submit(client, victim)
        assert owner.status_code == 201, owner.json()  # not 429 VELOCITY_ID
        assert owner.json()["status"] == "needs_review" and codes(owner.json()) == ["UNDER_REVIEW"]
        flags = codes(staff_view(client, owner.json()["id"]))
        assert flags == ["DUPLICATE_IDENTITY", "SHARED_ID"], flags  # for a person to tell owner from impostors


def test_many_wallets_naming_one_id_go_to_review_not_refused(tmp_path):
    settings = identity_settings(tmp_path, f"sqlite:///{tmp_path / 'v.db'}", kyc_id_max_wallets=1)
    with client_for(settings) as client:
        first = make_applicant(60, born=date(1968, 3, 14))
        first.full_name = "Viktor Petrovich Blacklistov"  # held for review: no wallet holds the ID verified
        assert submit(client, first).json()["status"] == "needs_review"
        second = make_applicant(61, born=first.date_of_birth)
        second.id_number = first.id_number
        # The first waits for review with this ID: a duplicate (review M2), but one other wallet is no SHARED_ID yet
        held = submit(client, second).json()
        assert held["status"] == "needs_review" and codes(staff_view(client, held["id"])) == ["DUPLICATE_IDENTITY"]
        third = make_applicant(62, born=first.date_of_birth)
        third.id_number = first.id_number
        body = submit(client, third).json()
        assert body["status"] == "needs_review" and body["attestation"] is None
        flag = staff_view(client, body["id"])["reasons"]
        assert [r["code"] for r in flag] == ["DUPLICATE_IDENTITY", "SHARED_ID"]
        assert flag[1]["message"] == "2 other wallets named this national ID in the last 24 h (more than 1 go to review)"


def test_one_open_submission_at_a_time(client):
    applicant = make_applicant(15, born=date(1968, 3, 14))
    applicant.full_name = "Viktor Blacklistov"
    headers = bearer(client, applicant.account)
    held = submit(client, applicant, headers).json()
    assert held["status"] == "needs_review"
    again = submit(client, applicant, headers)  # the same application again: a retry, answered with the held record
    assert again.status_code == 200 and again.json() == held
    assert submit(client, moved(applicant, 7), headers).status_code == 409  # another one waits for the first


# --- bad input: 4xx with a message, nothing stored, nothing echoed ---------------------------


def _without(field):
    def change(form, files):
        form.pop(field)
        return form, files

    return change


def _set(field, value):
    def change(form, files):
        form[field] = value
        return form, files

    return change


def _files(*files):
    return lambda form, _files: (form, [("documents", f) for f in files])


BAD_INPUT = {  # what is sent: (the change, the status, the field the refusal names)
    "missing name": (_without("full_name"), 422, "full_name"),
    "missing id": (_without("id_number"), 422, "id_number"),
    "missing email": (_without("email"), 422, "email"),
    "bad date": (_set("date_of_birth", "31/12/1990"), 422, "date_of_birth"),
    "future birth date": (_set("date_of_birth", "2999-01-01"), 422, "date_of_birth"),
    "birth date too long ago": (_set("date_of_birth", "1850-01-01"), 422, "date_of_birth"),
    "bad email": (_set("email", "zorquilam.example.org"), 422, "email"),
    "NUL in the email": (_set("email", "zor\x00quilam@example.org"), 422, "email"),  # review M2: it broke the To header
    "control character in the email": (_set("email", "zor\x01quilam@example.org"), 422, "email"),
    "invisible character in the email": (_set("email", "zor\u200bquilam@example.org"), 422, "email"),
    "two dots in the email": (_set("email", "zor..quilam@example.org"), 422, "email"),
    "bad phone": (_set("phone", "13800138000"), 422, "phone"),
    "NUL in the phone": (_set("phone", "+86138\x0000138000"), 422, "phone"),
    "bad nationality": (_set("nationality", "China"), 422, "nationality"),
    "unknown nationality code": (_set("nationality", "QQQ"), 422, "nationality"),  # any [A-Z]{3} passed before (review M1)
    "unknown country code": (_set("country", "ZZZ"), 422, "country"),
    "unknown id type": (_set("id_type", "library_card"), 422, "id_type"),
    "malformed id": (_set("id_number", "11010519491231ABCD"), 422, "id_number"),
    "id check character": (_set("id_number", "110105199001010000"), 422, "id_number"),
    "NUL in the id": (_set("id_number", "1101051990\x000101"), 422, "id_number"),
    "control characters": (_set("full_name", "Zor\x00quilam Lamvex"), 422, "full_name"),
    "an unknown field": (_set("wallet", "0x" + "00" * 20), 422, "wallet"),  # dropped silently before (review L3)
    "gif document": (_files(("id.gif", b"GIF89a" + b"\x00" * 32, "image/png")), 422, "documents"),
    "html as pdf": (_files(("id.pdf", b"<html>hello</html>", "application/pdf")), 422, "documents"),
    "oversized document": (_files(("id.png", PNG + b"\x00" * 2048, "image/png")), 422, "documents"),
    "too many documents": (_files(*[("id.jpg", JPEG, "image/jpeg")] * 3), 422, "documents"),
}


def _named(body: dict) -> list[str]:
    """The fields a refusal names: each of a malformed form's, or the one a check refused."""
    if "fields" in body:
        return [f["loc"][-1] for f in body["fields"]]
    return [body["context"]["field"]]


@pytest.mark.parametrize("case", BAD_INPUT, ids=list(BAD_INPUT))
def test_bad_input_gets_a_4xx_naming_the_field_and_nothing_is_stored(tmp_path, case):
    change, status, field = BAD_INPUT[case]
    settings = identity_settings(tmp_path, f"sqlite:///{tmp_path / 'b.db'}", kyc_max_document_bytes=1024, kyc_max_documents=2)
    applicant = make_applicant(16)
    form, files = change(applicant.form(), None)
    with client_for(settings) as client:
        response = client.post("/api/v1/kyc", data=form, files=files, headers=bearer(client, applicant.account))
    assert response.status_code == status, response.json()
    body = response.json()
    assert body["detail"].startswith(f"{field}: "), body
    assert _named(body) == [field], body
    for value in (applicant.full_name, applicant.id_number, applicant.email, applicant.phone, form.get("date_of_birth", "")):
        assert value not in response.text
    assert not any("input" in f for f in body.get("fields", []))  # FastAPI's echo of the value sent
    assert (count(settings, KycRecord), count(settings, KycDocument), count(settings, KycEvent)) == (0, 0, 0)


def test_every_input_refusal_a_check_makes_names_its_field():
    """A check that refuses input (Disposition.INVALID) says which field; a new code must say it too."""
    import re
    from pathlib import Path

    from backend.identity.checks import reasons

    checks = Path(reasons.__file__).parent
    refused = {code for f in checks.glob("*.py") for code in re.findall(r"invalid\(Code\.(\w+)", f.read_text())}
    assert refused and refused <= {code.name for code in reasons.FIELD_OF}, refused


def test_a_body_beyond_the_outer_bound_is_refused_before_it_is_read(client):
    from backend.api.routes.kyc import MAX_SUBMISSION_BYTES

    applicant = make_applicant(17)
    big = PDF + b"\x00" * MAX_SUBMISSION_BYTES
    response = submit(client, applicant, files=[("documents", ("id.pdf", big, "application/pdf"))])
    assert response.status_code == 413


# --- review queue, reveal --------------------------------------------------------------------


def flagged(client, seed: int):
    applicant = make_applicant(seed, born=date(1968, 3, 14))
    applicant.full_name = "Viktor Petrovich Blacklistov"
    return applicant, submit(client, applicant).json()


SECOND_ADMIN = Account.from_key("0x" + "a2" * 32)


@pytest.fixture
def two_admins(tmp_path) -> tuple:
    settings = identity_settings(tmp_path, f"sqlite:///{tmp_path / 'two.db'}", admin_wallets=[ADMIN.address, SECOND_ADMIN.address])
    return settings, client_for(settings)


def test_admin_queue_shows_masked_data_and_two_approvals_attest_and_are_audited(two_admins):
    settings, client = two_admins
    applicant, body = flagged(client, 20)
    admin = bearer(client, ADMIN)
    queue = client.get("/api/v1/admin/kyc/queue", headers=admin).json()
    assert [item["record"]["id"] for item in queue] == [body["id"]]
    data = queue[0]["data"]
    assert data["full_name"] == "V***** P******** B**********" and data["date_of_birth"] == "1968-**-**"
    assert data["id_number"].endswith(applicant.id_number[-4:]) and applicant.id_number not in str(queue)
    assert applicant.email not in str(queue) and applicant.phone not in str(queue)

    # A sanctions match is cleared by two admins: the first approval marks the record, which waits on.
    first = client.post(f"/api/v1/admin/kyc/{body['id']}/approve", json={"note": "false positive: other person"}, headers=admin)
    assert first.status_code == 200, first.json()
    assert first.json()["status"] == "needs_review" and codes(first.json()) == ["SANCTIONS_MATCH", "FIRST_APPROVAL"]
    assert f"approved by {ADMIN.address}" in first.json()["reasons"][-1]["message"] and intents(settings) == []
    assert audit_actions(settings)[-1] == "kyc.approve.first"
    again = client.post(f"/api/v1/admin/kyc/{body['id']}/approve", json={"note": "still fine"}, headers=admin)
    assert again.status_code == 403 and "second admin" in again.json()["detail"]
    assert [item["record"]["id"] for item in client.get("/api/v1/admin/kyc/queue", headers=admin).json()] == [body["id"]]

    second = bearer(client, SECOND_ADMIN)
    approved = client.post(f"/api/v1/admin/kyc/{body['id']}/approve", json={"note": "agreed: other person"}, headers=second)
    assert approved.status_code == 200, approved.json()
    result = approved.json()
    assert result["status"] == "approved" and codes(result) == ["SANCTIONS_MATCH", "MANUAL_APPROVAL"]
    assert result["attestation"]["status"] == "pending" and result["history"][-1]["actor"] == SECOND_ADMIN.address
    assert [e["actor"] for e in result["history"][-2:]] == [ADMIN.address, SECOND_ADMIN.address]
    assert client.get("/api/v1/admin/kyc/queue", headers=admin).json() == []
    assert audit_actions(settings)[-1] == "kyc.approve"
    with session_scope(settings) as session:  # the notes are sealed, not stored in clear
        notes = session.scalars(select(KycEvent.note_ciphertext).where(KycEvent.note_ciphertext.is_not(None))).all()
    assert len(notes) == 2 and not any(b"false positive" in n or b"agreed" in n for n in notes)


def test_the_applicant_is_told_under_review_never_the_watch_list_entry_nor_the_admins(two_admins):
    """Tipping-off: an applicant who hits the watch list must not learn the list, the entry, the
    score or the threshold (to retry with a spelling just below it), nor the wallets of the admins
    who review them. Staff see all of it."""
    settings, client = two_admins
    applicant = make_applicant(30, born=date(1968, 3, 14))
    applicant.full_name = "Viktor Petrovich Blacklistov"
    mine = bearer(client, applicant.account)
    submitted = submit(client, applicant, headers=mine).json()
    client.post(f"/api/v1/admin/kyc/{submitted['id']}/approve", json={"note": "n"}, headers=bearer(client, ADMIN))

    def owner_sees() -> dict:
        return client.get("/api/v1/kyc/me", headers=mine).json()

    for shown in (submitted, owner_sees()["current"]):
        assert shown["status"] == "needs_review" and codes(shown) == ["UNDER_REVIEW"]
    waiting = owner_sees()
    text = str(waiting)
    for secret in ("SAMPLE-001", "OFAC", "threshold", "similarity", "SANCTIONS_MATCH", "FIRST_APPROVAL", ADMIN.address):
        assert secret not in text, secret
    history = waiting["current"]["history"]
    assert [e["actor"] for e in history] == [applicant.account.address, "platform", "reviewer"]
    assert [codes(e) for e in history] == [[], ["UNDER_REVIEW"], ["UNDER_REVIEW"]]

    staff = staff_view(client, submitted["id"])  # the admins see what the applicant does not
    assert codes(staff) == ["SANCTIONS_MATCH", "FIRST_APPROVAL"] and "SAMPLE-001" in str(staff)
    assert f"approved by {ADMIN.address}" in staff["reasons"][-1]["message"] and staff["history"][-1]["actor"] == ADMIN.address

    client.post(f"/api/v1/admin/kyc/{submitted['id']}/approve", json={"note": "m"}, headers=bearer(client, SECOND_ADMIN))
    approved = owner_sees()["current"]
    assert approved["status"] == "approved" and codes(approved) == ["MANUAL_APPROVAL"]
    assert approved["reasons"][0]["message"] == "approved by a reviewer" and approved["history"][-1]["actor"] == "reviewer"
    assert SECOND_ADMIN.address not in str(owner_sees()) and "SANCTIONS_MATCH" not in str(owner_sees())

    rejected_one = make_applicant(31, born=date(1968, 3, 14))
    rejected_one.full_name = "Viktor Blacklistov"
    record = submit(client, rejected_one).json()
    client.post(f"/api/v1/admin/kyc/{record['id']}/reject", json={"note": "it is them"}, headers=bearer(client, ADMIN))
    told = client.get("/api/v1/kyc/me", headers=bearer(client, rejected_one.account)).json()["current"]
    assert told["status"] == "rejected" and codes(told) == ["MANUAL_REJECTION", "DENIED_IDENTITY"] and "SANCTIONS" not in str(told)


def test_a_duplicate_identity_is_no_membership_oracle_in_what_the_submitter_reads(client):
    """Whether a national ID is registered here is not the submitter's to learn from the reasons:
    they read the same "under review" as any other flag; the admin reads DUPLICATE_IDENTITY."""
    victim = make_applicant(40)
    assert submit(client, victim).json()["status"] == "approved"
    probe = make_applicant(41, born=victim.date_of_birth)
    probe.id_number = victim.id_number
    headers = bearer(client, probe.account)
    answered = submit(client, probe, headers=headers)
    for body in (answered.json(), client.get("/api/v1/kyc/me", headers=headers).json()["current"]):
        assert codes(body) == ["UNDER_REVIEW"] and "DUPLICATE" not in str(body) and "already" not in str(body)
        assert victim.account.address not in str(body)
    assert codes(staff_view(client, answered.json()["id"])) == ["DUPLICATE_IDENTITY"]


def test_a_first_approval_is_undone_by_one_rejection(two_admins):
    settings, client = two_admins
    _, body = flagged(client, 23)
    client.post(f"/api/v1/admin/kyc/{body['id']}/approve", json={"note": "looks fine"}, headers=bearer(client, ADMIN))
    rejected = client.post(f"/api/v1/admin/kyc/{body['id']}/reject", json={"note": "it is them"},
                           headers=bearer(client, SECOND_ADMIN)).json()  # fmt: skip
    assert rejected["status"] == "rejected" and codes(rejected) == ["SANCTIONS_MATCH", "MANUAL_REJECTION", "DENIED_IDENTITY"]
    assert intents(settings) == []


def test_rejection_is_audited_and_never_attests(client, settings):
    _, body = flagged(client, 21)
    admin = bearer(client, ADMIN)
    rejected = client.post(f"/api/v1/admin/kyc/{body['id']}/reject", json={"note": "confirmed match"}, headers=admin).json()
    assert rejected["status"] == "rejected" and codes(rejected) == ["SANCTIONS_MATCH", "MANUAL_REJECTION", "DENIED_IDENTITY"]
    assert rejected["attestation"] is None and intents(settings) == []
    assert audit_actions(settings)[-1] == "kyc.reject"
    again = client.post(f"/api/v1/admin/kyc/{body['id']}/approve", json={"note": "changed mind"}, headers=admin)
    assert again.status_code == 409


def test_rejecting_an_approved_record_revokes_its_attestation(client, settings):
    applicant = make_applicant(22)
    record = submit(client, applicant).json()
    client.post(f"/api/v1/admin/kyc/{record['id']}/reject", json={"note": "fraud found later"}, headers=bearer(client, ADMIN))
    assert [f for f, _ in intents(settings)] == ["attest", "revoke"]


def test_reveal_shows_everything_to_an_admin_and_is_audited(client, settings):
    applicant, body = flagged(client, 23)
    admin = bearer(client, ADMIN)
    revealed = client.post(f"/api/v1/admin/kyc/{body['id']}/reveal", json={"reason": "review"}, headers=admin)
    assert revealed.status_code == 200
    data = revealed.json()["data"]
    assert data["full_name"] == applicant.full_name and data["id_number"] == f"PRC:{applicant.id_number}"
    assert data["email"] == applicant.email and data["phone"] == applicant.phone
    assert audit_actions(settings)[-1] == "kyc.reveal"
    assert client.post(f"/api/v1/admin/kyc/{body['id']}/reveal", json={"reason": "curiosity"}, headers=admin).status_code == 422


def test_owner_sees_own_data_other_users_see_nothing(client):
    applicant = make_applicant(24)
    headers = bearer(client, applicant.account)
    submit(client, applicant, headers)
    mine = client.get("/api/v1/kyc/me/data", headers=headers).json()
    assert mine["data"]["full_name"] == applicant.full_name and len(bytes.fromhex(mine["salt"])) == 32
    stranger = bearer(client, make_applicant(25).account)
    assert client.get("/api/v1/kyc/me/data", headers=stranger).status_code == 404
    assert applicant.full_name not in client.get("/api/v1/kyc/me", headers=headers).text  # status view holds no PII


def test_renewal_supersedes_the_previous_approval(client, settings):
    """The same data sent again past the velocity window (a day) renews the verification; within
    it, it is a retry (next test)."""
    from datetime import timedelta

    applicant = make_applicant(26)
    headers = bearer(client, applicant.account)
    first = submit(client, applicant, headers).json()
    with session_scope(settings) as session:
        session.get(KycRecord, first["id"]).submitted_at -= timedelta(seconds=settings.kyc_velocity_window + 1)
    renewal = submit(client, applicant, headers)
    second = renewal.json()
    assert renewal.status_code == 201 and second["id"] != first["id"]
    assert second["status"] == "approved" and second["expires_at"] >= first["expires_at"]
    statuses = {r["id"]: r["status"] for r in client.get("/api/v1/kyc/me", headers=headers).json()["records"]}
    assert statuses == {first["id"]: "superseded", second["id"]: "approved"}
    assert [f for f, _ in intents(settings)] == ["attest", "attest"]  # the second replaces the first on-chain


def test_the_same_application_sent_again_is_answered_with_its_record_and_spends_nothing(tmp_path):
    """Review-api M1: four identical submissions (a client retrying after a lost answer) made four
    records, four attestations the platform paid gas for, and used up the day's allowance. The same
    form and documents again now answer 200 with the wallet's current record: no record, no
    attestation, no audit entry, no velocity count. Another document, or another wallet, is new."""
    settings = identity_settings(tmp_path, f"sqlite:///{tmp_path / 'r.db'}", kyc_velocity_per_wallet=2, kyc_velocity_per_id=2)
    with client_for(settings) as client:
        applicant = make_applicant(28)
        headers, png = bearer(client, applicant.account), [("documents", ("id.png", PNG, "image/png"))]
        first = submit(client, applicant, headers, files=png)
        again = [submit(client, applicant, headers, files=png) for _ in range(3)]
        # With an ID document it waits for an admin: the retries are answered with the waiting record.
        assert first.status_code == 201 and first.json()["status"] == "needs_review" and first.json()["level"] == 2
        assert [a.status_code for a in again] == [200] * 3 and all(a.json() == first.json() for a in again)
        assert count(settings, KycRecord) == 1 and intents(settings) == []
        assert audit_actions(settings).count("kyc.submit") == 1
        approve_over_api(client, first.json()["id"])  # the document opened, then approved: one attestation
        assert count(settings, KycRecord) == 1 and [f for f, _ in intents(settings) if f == "attest"] == ["attest"]

        # Another document is another application (a renewal): counted, and so is the next; the retries were not.
        jpeg = [("documents", ("id.jpg", JPEG, "image/jpeg"))]
        renewal = submit(client, applicant, headers, files=jpeg)
        assert renewal.status_code == 201 and renewal.json()["id"] != first.json()["id"]
        assert submit(client, applicant, headers, files=jpeg).json()["id"] == renewal.json()["id"]  # its retry
        approve_over_api(client, renewal.json()["id"])  # no longer waiting: the next application is judged afresh
        refused = submit(client, moved(applicant, 3), headers, files=jpeg)
        assert refused.status_code == 429 and refused.json()["context"]["reasons"][0]["code"] == "VELOCITY_WALLET"

        # Only the wallet's own record is compared: the same person's data from another wallet is its own
        # application (held for review: the ID is verified for the first wallet).
        other = make_applicant(28)
        elsewhere = submit(client, other, files=png)
        assert elsewhere.status_code == 201 and elsewhere.json()["status"] == "needs_review"
        assert [f for f, _ in intents(settings) if f == "attest"] == ["attest", "attest"]


def test_erasure_shreds_the_key_keeps_history_and_queues_revocation(client, settings):
    from backend.identity.crypto.keyring import load_keyring
    from backend.identity.kyc.vault import RecordErased, open_sealed

    applicant = make_applicant(27)
    headers = bearer(client, applicant.account)
    record = submit(client, applicant, headers).json()
    erased = client.delete("/api/v1/kyc/me", headers=headers)
    assert erased.status_code == 200 and erased.json()["erased_records"] == [record["id"]]
    assert erased.json()["revocations"] == [f"kyc:revoke:{record['id']}"]
    with session_scope(settings) as session:
        row = session.get(KycRecord, record["id"])
        assert row.wrapped_key is None and row.blind_index is None and row.ciphertext
        with pytest.raises(RecordErased):
            open_sealed(load_keyring(settings), row)
    me = client.get("/api/v1/kyc/me", headers=headers).json()
    assert me["status"] == "erased" and [e["status"] for e in me["current"]["history"]] == ["pending", "approved", "erased"]
    assert me["roles"] == []
    assert client.get("/api/v1/kyc/me/data", headers=headers).status_code == 404
    assert client.delete("/api/v1/kyc/me", headers=headers).status_code == 404
    assert audit_actions(settings)[-1] == "kyc.erase"


def test_admin_erasure_and_role_grants(client, settings):
    applicant = make_applicant(28)
    submit(client, applicant)
    admin = bearer(client, ADMIN)
    response = client.delete(f"/api/v1/admin/kyc/wallets/{applicant.account.address.lower()}", headers=admin)
    assert response.status_code == 200 and response.json()["wallet"] == applicant.account.address

    # A staff role goes to a verified wallet only, proposed by one admin and confirmed by another
    # (tests/identity/test_role_grants.py); revoked by one, at once.
    person = make_applicant(29)
    auditor = person.account
    unverified = client.post("/api/v1/admin/roles", json={"wallet": auditor.address, "role": "auditor"}, headers=admin)
    assert unverified.status_code == 409
    submit(client, person)
    proposed = client.post("/api/v1/admin/roles", json={"wallet": auditor.address, "role": "auditor"}, headers=admin).json()
    assert proposed["changed"] is False and proposed["proposal"]["status"] == "pending"
    with session_scope(settings) as session:
        grant_role(session, "ops:alice", SECOND_ADMIN.address, "admin")  # a second admin, by the operator
    grant = client.post(f"/api/v1/admin/roles/pending/{proposed['proposal']['id']}/confirm",
                        headers=bearer(client, SECOND_ADMIN)).json()  # fmt: skip
    assert grant["changed"] is True and grant["roles"] == ["auditor", "investor"]
    assert client.post("/api/v1/admin/roles", json={"wallet": auditor.address, "role": "borrower"}, headers=admin).status_code == 422
    listed = client.get("/api/v1/admin/roles", headers=admin).json()
    assert {"wallet": auditor.address, "role": "auditor", "confirmed_by": SECOND_ADMIN.address}.items() <= next(
        g for g in listed if g["wallet"] == auditor.address).items()
    revoke = client.post("/api/v1/admin/roles", json={"wallet": auditor.address, "role": "auditor", "action": "revoke"}, headers=admin)
    assert revoke.json()["roles"] == ["investor"]
    demote = client.post("/api/v1/admin/roles", json={"wallet": ADMIN.address, "role": "admin", "action": "revoke"}, headers=admin)
    assert demote.status_code == 409
    assert audit_actions(settings)[-2:] == ["role.grant", "role.revoke"]


def test_expiry_sweep_expires_and_revokes(client, settings):
    from datetime import timedelta

    from backend.identity.kyc.lifecycle import expire_due
    from backend.identity.models import utcnow

    applicant = make_applicant(30)
    headers = bearer(client, applicant.account)
    record = submit(client, applicant, headers).json()
    with session_scope(settings) as session:
        assert expire_due(session, settings) == []
        assert expire_due(session, settings, now=utcnow() + timedelta(days=366)) == [record["id"]]
    assert client.get("/api/v1/kyc/me", headers=headers).json()["status"] == "expired"
    assert [f for f, _ in intents(settings)] == ["attest", "revoke"]


def test_erasure_waits_while_the_wallet_owes_an_open_loan(tmp_path):
    """Refused while a loan owes, erased once none does (no AML period here: the period that then
    schedules it instead is tests/identity/test_erasure_requests.py's)."""
    from backend.chain.projection_models import LoanRow
    from tests.identity.conftest import identity_settings

    settings = identity_settings(tmp_path, f"sqlite:///{tmp_path / 'identity.db'}", aml_retention_days=0)
    with client_for(settings) as client:
        applicant = make_applicant(31)
        headers = bearer(client, applicant.account)
        submit(client, applicant, headers)
        zero = "0x" + "00" * 32
        with session_scope(settings) as session:  # what the chain index holds for this borrower
            for loan_id, status, recoverable in ((7, "active", 0), (8, "repaid", 0), (9, "defaulted", 5), (10, "defaulted", 0)):
                session.add(LoanRow(
                    loan_id=loan_id, status=status, borrower=applicant.account.address, underwriter=ADMIN.address,
                    terms_hash=zero, agreement_hash=zero, decision_hash=zero, principal=1, apr_bps=1, installments=1,
                    installment_period=1, installment_amount=1, funding_deadline=1, origination_fee_bps=0,
                    recoverable=recoverable, recovered=5 - recoverable, created_block=1, block_number=1, tx_hash=zero,
                    log_index=0,
                ))  # fmt: skip
        refused = client.delete("/api/v1/kyc/me", headers=headers)
        assert refused.status_code == 409 and refused.json()["context"]["loan_ids"] == [7, 9]
        assert "open loans (7, 9)" in refused.json()["detail"]
        admin = client.delete(f"/api/v1/admin/kyc/wallets/{applicant.account.address}", headers=bearer(client, ADMIN))
        assert admin.status_code == 409  # the same rule for an erasure an admin carries out
        assert client.get("/api/v1/kyc/me", headers=headers).json()["status"] == "approved"  # nothing changed
        with session_scope(settings) as session:  # 7 repaid; 9 recovered in full after its default (as 10 was)
            session.get(LoanRow, 7).status = "repaid"
            session.get(LoanRow, 9).recoverable, session.get(LoanRow, 9).recovered = 0, 5
        assert client.delete("/api/v1/kyc/me", headers=headers).status_code == 200


def test_an_admin_cannot_clear_or_read_their_own_flagged_record(tmp_path):
    """Four eyes: an admin who submits another person's verified ID for their own wallet is
    flagged, and neither approves, rejects nor reveals that record; another admin decides."""
    second = SECOND_ADMIN
    settings = identity_settings(tmp_path, f"sqlite:///{tmp_path / 'four-eyes.db'}", admin_wallets=[ADMIN.address, second.address])
    client = client_for(settings)
    victim = make_applicant(26)
    assert submit(client, victim).json()["status"] == "approved"
    victim.account = ADMIN  # the victim's identity, for the admin's own wallet
    own = bearer(client, ADMIN)
    record = submit(client, victim, headers=own).json()
    assert record["status"] == "needs_review" and "DUPLICATE_IDENTITY" in codes(staff_view(client, record["id"]))
    for action, body in (("approve", {"note": "ok by me"}), ("reject", {"note": "never mind"}), ("reveal", {"reason": "review"})):
        refused = client.post(f"/api/v1/admin/kyc/{record['id']}/{action}", json=body, headers=own)
        assert refused.status_code == 403 and "their own KYC record" in refused.json()["detail"], action
    assert audit_actions(settings)[-1] not in ("kyc.approve", "kyc.reject", "kyc.reveal")
    decided = client.post(f"/api/v1/admin/kyc/{record['id']}/reject", json={"note": "identity of another person"},
                          headers=bearer(client, second))  # fmt: skip
    assert decided.status_code == 200 and decided.json()["status"] == "rejected"
