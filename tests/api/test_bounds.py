"""Numbers past what the platform can hold are bad input: a 422 naming the field, never a 500 from
the database driver (SQLite binds at most 64-bit integers) or the ABI encoder. Every integer the
API takes in declares its bounds (checked over the whole OpenAPI document, so a new field joins by
itself), and a few public endpoints show the answer."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from backend.api.main import create_app
from backend.bounds import AMOUNT_LIMIT, DB_ID_MAX
from tests.identity.conftest import client_for, identity_settings

HUGE = 10**30  # past 2**63: SQLite raised OverflowError binding it (a 500) before the bounds


def _unbounded(schema: dict[str, Any], where: str, components: dict[str, Any]) -> Iterator[str]:
    if "$ref" in schema:
        return
    if schema.get("type") == "integer" and "maximum" not in schema and "exclusiveMaximum" not in schema:
        yield where
    for alternative in schema.get("anyOf", []):
        yield from _unbounded(alternative, where, components)
    if "items" in schema:
        yield from _unbounded(schema["items"], f"{where}[]", components)


def test_every_integer_the_api_takes_in_has_an_upper_bound():
    spec = create_app().openapi()
    components, bodies, unbounded = spec["components"]["schemas"], set(), []
    for path, operations in spec["paths"].items():
        for method, op in operations.items():
            for param in op.get("parameters", []):
                unbounded += _unbounded(param["schema"], f"{method.upper()} {path} {param['name']}", components)
            for content in op.get("requestBody", {}).get("content", {}).values():
                bodies.add(content["schema"]["$ref"].rsplit("/", 1)[-1])
    for body in bodies:
        for name, field in components[body].get("properties", {}).items():
            unbounded += _unbounded(field, f"{body}.{name}", components)
    assert not unbounded, f"integers without an upper bound (backend/bounds.py): {unbounded}"


@pytest.fixture(scope="module")
def client(tmp_path_factory):
    base = tmp_path_factory.mktemp("bounds")
    with client_for(identity_settings(base, f"sqlite:///{base / 'bounds.db'}")) as c:
        yield c


@pytest.mark.parametrize(("url", "field"), [
    (f"/api/v1/loans/{HUGE}", "loan_id"),
    (f"/api/v1/loans/{HUGE}/position", "loan_id"),
    (f"/api/v1/loans?offset={HUGE}", "offset"),
    (f"/api/v1/market?loan_id={HUGE}", "loan_id"),
    (f"/api/v1/market/trades?loan_id={HUGE}", "loan_id"),
    (f"/api/v1/market/quote?loan_id=1&notes={AMOUNT_LIMIT}&price_bps=9000", "notes"),
])  # fmt: skip
def test_an_out_of_range_number_is_a_422_naming_the_field(client, url, field):
    answer = client.get(url)
    assert answer.status_code == 422, answer.text
    assert [e["loc"][-1] for e in answer.json()["fields"]] == [field]


def test_the_largest_id_a_database_holds_is_still_an_id(client):
    assert client.get(f"/api/v1/loans/{DB_ID_MAX}").status_code == 404  # looked up, not refused


def test_every_hex_signature_the_api_takes_in_is_whole_bytes():
    """A signature with an odd number of hex digits is a 422 naming the field, not a 500 from
    bytes.fromhex in the service behind it."""
    import re

    spec = create_app().openapi()
    components, checked = spec["components"]["schemas"], []
    for body, schema in components.items():
        for name, field in schema.get("properties", {}).items():
            if "signature" in name and "pattern" in field:
                assert re.search(field["pattern"], "0x12") and not re.search(field["pattern"], "0x123"), (body, name)
                checked.append(f"{body}.{name}")
    assert {"AutopaySign.signature", "MandateSign.signature"} <= set(checked)


def test_request_bodies_past_the_app_wide_limit_are_refused_before_they_are_read(tmp_path):
    """The public sign-in took a body of any size (read and parsed before its rate limit could
    answer): every endpoint now refuses past LOANCHAIN_MAX_BODY_BYTES with a 413, announced by
    Content-Length or counted as it streams in; the uploads keep their own, larger bounds."""
    from tests.identity.conftest import PNG, bearer, make_applicant, submit

    settings = identity_settings(tmp_path, f"sqlite:///{tmp_path / 'body.db'}", max_body_bytes=64 * 1024)
    client = client_for(settings)
    big = b'{"message": "' + b"a" * (1024 * 1024) + b'", "signature": "0x00"}'
    json_type = {"Content-Type": "application/json"}
    assert client.post("/api/v1/auth/login", content=big, headers=json_type).status_code == 413

    def streamed():  # no Content-Length: chunked, counted as it arrives
        for start in range(0, len(big), 16 * 1024):
            yield big[start:start + 16 * 1024]

    assert client.post("/api/v1/auth/login", content=streamed(), headers=json_type).status_code == 413
    small = client.post("/api/v1/auth/login", json={"message": "x", "signature": "0x00"})
    assert small.status_code not in (413, 500)  # a sign-in of normal size is judged as before

    applicant = make_applicant(70)  # a KYC submission may carry a 1 MiB ID document (its own 25 MiB bound)
    document = PNG + b"\x00" * (1024 * 1024)
    accepted = submit(client, applicant, headers=bearer(client, applicant.account),
                      files=[("documents", ("id.png", document, "image/png"))])  # fmt: skip
    assert accepted.status_code == 201, accepted.text
    uploaded = client.post("/api/v1/verify", files={"file": ("doc.pdf", b"%PDF-1.7\n" + b"\x00" * (512 * 1024))})
    assert uploaded.status_code == 200, uploaded.text


def test_a_malformed_transaction_hash_is_a_422_not_a_lookup(tmp_path):
    """The trace took any text as a hash, looked it up and answered 404 "neither indexed nor sent by
    this platform", echoing it back (3,000 characters of it too)."""
    from tests.identity.conftest import ADMIN, minted_bearer

    settings = identity_settings(tmp_path, f"sqlite:///{tmp_path / 'tx.db'}")
    client, auditor = client_for(settings), minted_bearer(settings, ADMIN)
    for bad in ("nothex", "0x" + "g" * 64, "0x" + "ab" * 31, "0x" + "ab" * 33, "a" * 3000):
        answer = client.get(f"/api/v1/audit/trace/tx/{bad}", headers=auditor)
        assert answer.status_code == 422, (bad[:80], answer.text)
        assert "not a transaction hash" in answer.text and bad not in answer.text
    assert client.get(f"/api/v1/audit/trace/loan/{HUGE}", headers=auditor).status_code == 422


@pytest.mark.parametrize(("url", "field"), [
    ("/api/v1/offers/{long}", "offer_id"),
    ("/api/v1/offers/{long}/agreement", "offer_id"),
    ("/api/v1/score/{long}", "decision_id"),
    ("/api/v1/admin/kyc/{long}", "record_id"),
    ("/api/v1/score/decisions/0x{long}/proof", "decision_hash"),
])  # fmt: skip
def test_an_id_longer_than_any_record_is_a_422_naming_it_not_echoed(tmp_path, url, field):
    """A 3,000-character id was looked up and answered 404 with the whole string twice (detail and
    context); ids are UUIDs of 36 characters, and a decision hash is 0x and 64 hex digits."""
    from tests.identity.conftest import ADMIN, minted_bearer

    settings = identity_settings(tmp_path, f"sqlite:///{tmp_path / 'ids.db'}")
    client, long = client_for(settings), "a" * 3000
    answer = client.get(url.format(long=long), headers=minted_bearer(settings, ADMIN))
    assert answer.status_code == 422, answer.text
    assert [f["loc"] for f in answer.json()["fields"]] == [["path", field]] and long not in answer.text
    fits = "cd" * 32 if field == "decision_hash" else "00000000-0000-4000-8000-000000000000"  # looked up
    assert client.get(url.format(long=fits), headers=minted_bearer(settings, ADMIN)).status_code == 404
