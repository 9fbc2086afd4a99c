"""Every refusal reads the same: JSON with `error` (a code) and `detail` (words), including the ones
Starlette makes itself: no such path, a method the path lacks, a body over the bound."""

from __future__ import annotations

from tests.identity.conftest import client_for, identity_settings


def _shape(response, status: int, code: str) -> str:
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == "application/json", response.headers
    body = response.json()
    assert body["error"] == code and isinstance(body["detail"], str), body
    return body["detail"]


def test_starlettes_own_refusals_come_in_the_apps_error_shape(tmp_path):
    client = client_for(identity_settings(tmp_path, f"sqlite:///{tmp_path / 'e.db'}", max_body_bytes=64 * 1024))
    assert "/docs" in _shape(client.get("/api/v1/no-such-thing"), 404, "not_found")
    _shape(client.get("/no-such-page"), 404, "not_found")
    _shape(client.delete("/api/v1/chain"), 405, "method_not_allowed")
    big = b'{"message": "' + b"a" * (100 * 1024) + b'", "signature": "0x00"}'
    json_type = {"Content-Type": "application/json"}
    announced = client.post("/api/v1/auth/login", content=big, headers=json_type)  # by Content-Length
    assert "LOANCHAIN_MAX_BODY_BYTES" in _shape(announced, 413, "content_too_large")

    def streamed():  # no Content-Length: counted as it arrives
        for start in range(0, len(big), 16 * 1024):
            yield big[start:start + 16 * 1024]

    _shape(client.post("/api/v1/auth/login", content=streamed(), headers=json_type), 413, "content_too_large")
    unknown_loan = _shape(client.get("/api/v1/loans/999"), 404, "not_found")  # the app's own 404, for comparison
    assert "loanchain" not in unknown_loan  # an anonymous client has no CLI to run


def test_a_malformed_request_is_refused_in_words_with_each_field_listed(tmp_path):
    client = client_for(identity_settings(tmp_path, f"sqlite:///{tmp_path / 'v.db'}"))
    missing = client.post("/api/v1/auth/login", json={"message": "hello"})
    assert _shape(missing, 422, "validation_failed") == "signature: Field required"
    assert missing.json()["fields"] == [{"loc": ["body", "signature"], "msg": "Field required", "type": "missing"}]
    bad_json = client.post("/api/v1/auth/login", content=b'{"message": ', headers={"Content-Type": "application/json"})
    assert _shape(bad_json, 422, "validation_failed") == "JSON decode error"  # no character position as a "field"
    secret = "4111111111111111"  # a refused value is never echoed back, in words or fields
    assert secret not in client.post("/api/v1/auth/login", json={"message": 5, "signature": int(secret)}).text


def test_a_services_refusal_of_a_field_lists_it_in_fields_as_fastapis_own_checks_do(tmp_path):
    """A form client maps `fields[].loc` onto its inputs: the checks the services make (an address, a
    status) come with `fields` too, `loc` naming where the request carried the field."""
    from tests.identity.conftest import ADMIN, minted_bearer

    settings = identity_settings(tmp_path, f"sqlite:///{tmp_path / 'f.db'}")
    client = client_for(settings)
    borrower = client.get("/api/v1/loans?borrower=nothex")
    assert "not an Ethereum address" in _shape(borrower, 422, "validation_failed")
    assert borrower.json()["fields"] == [{"loc": ["query", "borrower"], "msg": "'nothex' is not an Ethereum address",
                                          "type": "validation_failed"}]  # fmt: skip
    assert borrower.json()["context"] == {"field": "borrower"}  # as before
    assert client.get("/api/v1/loans?status=bogus").json()["fields"][0]["loc"] == ["query", "status"]
    erase = client.delete("/api/v1/admin/kyc/wallets/nothex", headers=minted_bearer(settings, ADMIN))
    _shape(erase, 422, "validation_failed")
    assert [f["loc"] for f in erase.json()["fields"]] == [["path", "wallet"]]
    unknown = client.get("/api/v1/loans/999")  # a 404 names its loan in context, and lists no refused field
    assert unknown.status_code == 404 and "fields" not in unknown.json()
