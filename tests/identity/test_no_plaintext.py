"""After 100 applicants, neither the SQLite file nor a PostgreSQL dump holds their personal data
in clear: no name, ID number, email or phone, as text or as the hex a bytea dump would show."""

from __future__ import annotations

import logging
import shutil
import subprocess
from datetime import date
from urllib.parse import urlparse

import pytest

from tests.identity.conftest import ADMIN, PNG, bearer, client_for, make_applicant, minted_bearer, submit

APPLICANTS = 100


def secrets_of(applicant) -> list[str]:
    return [applicant.full_name, applicant.id_number, applicant.email, applicant.phone]


def run_applicants(settings) -> list:
    applicants = [make_applicant(1000 + i) for i in range(APPLICANTS)]
    for i in range(0, APPLICANTS, 10):  # every tenth is a watch-list hit, to exercise review too
        applicants[i].full_name, applicants[i].date_of_birth = "Viktor Blacklistov", date(1968, 3, 14)
        applicants[i].id_number = make_applicant(5000 + i, born=date(1968, 3, 14)).id_number
    with client_for(settings) as client:
        admin = bearer(client, ADMIN)
        for i, applicant in enumerate(applicants):
            files = [("documents", ("id.png", PNG + applicant.full_name.encode(), "image/png"))] if i % 3 == 0 else None
            response = submit(client, applicant, minted_bearer(settings, applicant.account), files=files)
            assert response.status_code == 201, response.json()
        queue = client.get("/api/v1/admin/kyc/queue", headers=admin).json()
        assert len(queue) == len([i for i in range(APPLICANTS) if i % 10 == 0 or i % 3 == 0])  # hits, and ID documents
        for n, item in enumerate(queue):
            decision = "approve" if n % 2 else "reject"
            for index in range(item["record"]["document_count"] if decision == "approve" else 0):  # looked at first
                assert client.get(f"/api/v1/admin/kyc/{item['record']['id']}/documents/{index}", headers=admin).status_code == 200
            note = f"checked against {applicants[0].full_name}'s file"  # a careless note naming someone
            assert client.post(f"/api/v1/admin/kyc/{item['record']['id']}/{decision}", json={"note": note}, headers=admin).status_code == 200
        client.post(f"/api/v1/admin/kyc/{queue[0]['record']['id']}/reveal", json={"reason": "review"}, headers=admin)
    return applicants


def assert_absent(haystack: bytes, applicants, where: str) -> None:
    lowered = haystack.lower()
    for applicant in applicants:
        for secret in secrets_of(applicant):
            for needle in {secret.encode(), secret.encode().hex().encode()}:
                assert needle.lower() not in lowered, f"{where} contains an applicant's data in clear"


def sqlite_bytes(settings) -> bytes:
    from backend.db.session import get_engine

    path = settings.database_url.split("///", 1)[1]
    get_engine(settings).dispose()  # checkpoint the WAL into the main file
    return b"".join(open(p, "rb").read() for p in (path, path + "-wal") if __import__("os").path.exists(p))


def pg_dump_bytes(url: str) -> bytes:
    parsed = urlparse(url.replace("+psycopg", ""))
    result = subprocess.run(
        ["pg_dump", "-h", parsed.hostname, "-p", str(parsed.port or 5432), "-U", parsed.username or "postgres", "-d", parsed.path.lstrip("/")],
        capture_output=True,
        check=True,
        timeout=120,
    )
    return result.stdout


@pytest.mark.skipif(shutil.which("pg_dump") is None, reason="pg_dump is not installed")
def test_no_personal_data_in_clear_in_the_database_or_logs(any_db_settings, caplog):
    settings = any_db_settings
    caplog.set_level(logging.DEBUG)
    applicants = run_applicants(settings)

    if settings.database_url.startswith("sqlite"):
        dump = sqlite_bytes(settings)
        assert b"kyc_records" in dump  # it is the right file
    else:
        dump = pg_dump_bytes(settings.database_url)
        assert b"COPY public.kyc_records" in dump
    assert_absent(dump, applicants, "the database")
    assert_absent("\n".join(r.getMessage() for r in caplog.records).encode(), applicants, "the logs")

    # positive control: the same scan does find data that is there in clear (wallets)
    assert applicants[1].account.address.encode() in dump
