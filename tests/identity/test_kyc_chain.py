"""KYC against the chain: attestations and revocations travel through the outbox to KYCRegistry."""

from __future__ import annotations

from datetime import date, datetime, timedelta

import pytest
from typer.testing import CliRunner

from backend.chain.kyc_reader import attestation_of, is_verified
from backend.chain.outbox import process_until_idle
from backend.config import get_settings
from backend.db.session import session_scope
from backend.identity.crypto.keyring import load_keyring
from backend.identity.kyc.proof import prove_record
from backend.identity.kyc.vault import RecordErased, open_sealed
from backend.identity.models import KycRecord
from tests.identity.conftest import PNG, approve_over_api, bearer, client_for, make_applicant, submit


@pytest.fixture
def client(chain_identity_settings):
    with client_for(chain_identity_settings) as c:
        yield c


def test_clean_applicant_is_attested_on_chain_with_the_record_commitment(client, chain_identity_settings):
    settings = chain_identity_settings
    applicant = make_applicant(200)
    headers = bearer(client, applicant.account)
    record = submit(client, applicant, headers, files=[("documents", ("id.png", PNG, "image/png"))]).json()
    assert record["status"] == "needs_review"  # an admin opens the ID document first
    record = approve_over_api(client, record["id"])
    assert record["status"] == "approved"
    process_until_idle(settings)

    wallet = applicant.account.address
    assert is_verified(settings, wallet, 1) and is_verified(settings, wallet, 2)
    assert not is_verified(settings, wallet, 3)
    onchain = attestation_of(settings, wallet)
    assert onchain.level == 2 and onchain.commitment == record["commitment"]
    assert onchain.expires_at == int(datetime.fromisoformat(record["expires_at"]).timestamp())
    attestation = client.get("/api/v1/kyc/me", headers=headers).json()["current"]["attestation"]
    assert attestation["status"] == "confirmed" and attestation["tx_hash"].startswith("0x")

    with session_scope(settings) as session:
        proof = prove_record(session, settings, wallet)
    assert proof.matches and proof.record_id == record["id"]


def test_flagged_under_age_and_invalid_applicants_are_never_attested(client, chain_identity_settings):
    settings = chain_identity_settings
    clean = make_applicant(201)
    assert submit(client, clean).json()["status"] == "approved"

    duplicate = make_applicant(202, born=clean.date_of_birth)
    duplicate.id_number = clean.id_number
    sanctioned = make_applicant(203, born=date(1968, 3, 14))
    sanctioned.full_name = "Viktor Blacklistov"
    minor = make_applicant(204, born=date(date.today().year - 16, 5, 5))
    bad_checksum = make_applicant(205)
    bad_checksum.id_number = bad_checksum.id_number[:-1] + ("1" if bad_checksum.id_number[-1] != "1" else "2")

    outcomes = {}
    for name, applicant in [("duplicate", duplicate), ("sanctioned", sanctioned), ("minor", minor), ("checksum", bad_checksum)]:
        response = submit(client, applicant)
        body = response.json()
        reasons = body["reasons"] if response.status_code == 201 else body["context"]["reasons"]
        outcomes[name] = (body.get("status", response.status_code), [r["code"] for r in reasons])
    assert outcomes == {
        "duplicate": ("needs_review", ["UNDER_REVIEW"]),  # the applicant is not told which check (staff are)
        "sanctioned": ("needs_review", ["UNDER_REVIEW"]),
        "minor": ("rejected", ["UNDER_AGE"]),
        "checksum": (422, ["ID_CHECKSUM"]),
    }
    process_until_idle(settings)
    assert is_verified(settings, clean.account.address, 1)
    for applicant in (duplicate, sanctioned, minor, bad_checksum):
        assert not is_verified(settings, applicant.account.address, 1)
        assert attestation_of(settings, applicant.account.address).level == 0


def test_erasure_revokes_the_attestation_and_the_record_cannot_be_decrypted(client, chain_identity_settings):
    settings = chain_identity_settings
    applicant = make_applicant(206)
    headers = bearer(client, applicant.account)
    record = submit(client, applicant, headers).json()
    process_until_idle(settings)
    assert is_verified(settings, applicant.account.address, 1)

    assert client.delete("/api/v1/kyc/me", headers=headers).status_code == 200
    process_until_idle(settings)
    assert not is_verified(settings, applicant.account.address, 1)
    assert attestation_of(settings, applicant.account.address).level == 0
    revocation = client.get("/api/v1/kyc/me", headers=headers).json()["current"]["revocation"]
    assert revocation["status"] == "confirmed"

    keyring = load_keyring(settings)
    with session_scope(settings) as session:
        row = session.get(KycRecord, record["id"])
        with pytest.raises(RecordErased):
            open_sealed(keyring, row)
        # and no key in the ring opens the ciphertext on its own: the data key is gone
        from backend.identity.crypto.envelope import DecryptionFailed, record_aad, unseal

        for key in keyring.keys.values():
            with pytest.raises(DecryptionFailed):
                unseal(key, row.ciphertext, record_aad(row.id, "record"))


def test_erasure_before_the_attestation_is_sent_still_ends_revoked(client, chain_identity_settings):
    settings = chain_identity_settings
    applicant = make_applicant(207)
    headers = bearer(client, applicant.account)
    submit(client, applicant, headers)
    client.delete("/api/v1/kyc/me", headers=headers)
    process_until_idle(settings)  # attest, then revoke, in order
    assert attestation_of(settings, applicant.account.address).level == 0


def test_expiry_sweep_revokes_on_chain(client, chain_identity_settings):
    from backend.identity.kyc.lifecycle import expire_due
    from backend.identity.models import utcnow

    settings = chain_identity_settings
    applicant = make_applicant(208)
    submit(client, applicant)
    process_until_idle(settings)
    with session_scope(settings) as session:
        assert len(expire_due(session, settings, now=utcnow() + timedelta(days=400))) == 1
    process_until_idle(settings)
    assert attestation_of(settings, applicant.account.address).level == 0


def test_cli_prove_matches_for_the_stored_record_and_for_an_export(client, chain_identity_settings, monkeypatch, tmp_path):
    from backend.cli.main import app

    settings = chain_identity_settings
    applicant = make_applicant(209)
    headers = bearer(client, applicant.account)
    submit(client, applicant, headers)
    process_until_idle(settings)
    export = client.get("/api/v1/kyc/me/data", headers=headers).json()
    canonical = tmp_path / "record.json"
    canonical.write_text(export["canonical"])

    for name in ("var_dir", "database_url", "rpc_url", "chain_id", "deployments_dir"):
        monkeypatch.setenv(f"LOANCHAIN_{name.upper()}", str(getattr(settings, name)))
    get_settings.cache_clear()
    try:
        runner = CliRunner()
        wallet = applicant.account.address
        stored = runner.invoke(app, ["kyc", "prove", wallet, "--json"])
        assert stored.exit_code == 0, stored.output
        assert '"matches": true' in stored.output and applicant.full_name not in stored.output
        exported = runner.invoke(app, ["kyc", "prove", wallet, "--canonical-file", str(canonical), "--salt", export["salt"]])
        assert exported.exit_code == 0, exported.output
        canonical.write_text(export["canonical"].replace(applicant.email, "someone@example.org"))
        altered = runner.invoke(app, ["kyc", "prove", wallet, "--canonical-file", str(canonical), "--salt", export["salt"]])
        assert altered.exit_code == 1 and "no match" in altered.output
    finally:
        get_settings.cache_clear()


def test_renewal_before_expiry_replaces_the_attestation(client, chain_identity_settings):
    settings = chain_identity_settings
    applicant = make_applicant(210)
    headers = bearer(client, applicant.account)
    first = submit(client, applicant, headers).json()
    process_until_idle(settings)
    second = submit(client, applicant, headers, files=[("documents", ("id.png", PNG, "image/png"))]).json()
    process_until_idle(settings)
    waiting = attestation_of(settings, applicant.account.address)  # the first stands while an admin checks the document
    assert (second["status"], waiting.level, waiting.commitment) == ("needs_review", 1, first["commitment"])
    second = approve_over_api(client, second["id"])
    process_until_idle(settings)
    onchain = attestation_of(settings, applicant.account.address)
    assert first["commitment"] != second["commitment"]
    assert (onchain.level, onchain.commitment) == (2, second["commitment"])
    assert onchain.expires_at == int(datetime.fromisoformat(second["expires_at"]).timestamp())
