"""/openapi.json is the contract a generated client is built from: every error it can meet is documented
in the shape the app really sends (ErrorPublic, not FastAPI's default 422 schema), each guarded operation
says who may call it, and names stay put when a module or a path moves. Walked over the whole document,
so a new route joins by itself; the real refusals are then held against what it documents."""

from __future__ import annotations

import pytest
from eth_account import Account

from backend.api.deps import ENDPOINT_ROLES, FRESH_SIGN_IN, PUBLIC
from backend.api.errors import ErrorPublic
from backend.api.main import create_app
from tests.api.test_role_matrix import guards
from tests.identity.conftest import ADMIN, client_for, identity_settings, minted_bearer

ERROR_REF = "#/components/schemas/ErrorPublic"


@pytest.fixture(scope="module")
def app():
    return create_app()


@pytest.fixture(scope="module")
def spec(app):
    return app.openapi()


def operations(spec):
    for path, methods in spec["paths"].items():
        for method, operation in methods.items():
            yield path, method, operation


def _ref(operation: dict, status: str) -> str | None:
    return operation["responses"].get(status, {}).get("content", {}).get("application/json", {}).get("schema", {}).get("$ref")


def test_every_operation_documents_its_422_as_the_error_shape_the_app_sends(spec):
    assert len(list(operations(spec))) >= 100
    wrong = [f"{m} {p}" for p, m, op in operations(spec) if _ref(op, "422") != ERROR_REF or _ref(op, "default") != ERROR_REF]
    assert not wrong, wrong
    assert "HTTPValidationError" not in spec["components"]["schemas"]
    assert "HTTPValidationError" not in str(spec)


def test_guarded_operations_document_401_and_403_and_name_their_roles(app, spec):
    table = guards(app)
    checked = 0
    for path, method, operation in operations(spec):
        endpoint = table[(method.upper(), path)]
        access = ENDPOINT_ROLES[endpoint]
        description = operation["description"]
        assert "Access:" in description, (method, path)
        if access == PUBLIC:
            assert "anyone" in description
            continue
        checked += 1
        assert _ref(operation, "401") == ERROR_REF and _ref(operation, "403") == ERROR_REF, (method, path)
        if isinstance(access, frozenset):
            assert all(role in description for role in access), (method, path, description)
        assert ("recent sign-in" in description) == (endpoint in FRESH_SIGN_IN), (method, path)
    assert checked >= 60


def test_rate_limits_path_ids_and_writes_document_their_answers(spec):
    paths = spec["paths"]
    limited = paths["/api/v1/auth/login"]["post"]["responses"]["429"]
    assert limited["content"]["application/json"]["schema"]["$ref"] == ERROR_REF and "Retry-After" in limited["headers"]
    assert "429" in paths["/api/v1/score"]["post"]["responses"]
    assert "429" not in paths["/api/v1/auth/me"]["get"]["responses"]
    assert _ref(paths["/api/v1/auth/login"]["post"], "401") == ERROR_REF  # a refused SIWE message
    assert _ref(paths["/api/v1/offers/{offer_id}"]["get"], "404") == ERROR_REF
    assert "404" not in paths["/api/v1/offers"]["get"]["responses"]
    assert _ref(paths["/api/v1/offers/{offer_id}/accept"]["post"], "409") == ERROR_REF
    assert "409" not in paths["/api/v1/loans"]["get"]["responses"]
    assert "Access: the role admin" in paths["/api/v1/admin/roles"]["get"]["description"]
    assert "recent sign-in" in paths["/api/v1/kyc/me/data"]["get"]["description"]
    assert "one of the roles admin, auditor, underwriter" in paths["/api/v1/score/{decision_id}"]["get"]["description"]


# Creates a retry must not repeat, with no other way to tell one: they take an Idempotency-Key.
IDEMPOTENT = {"/api/v1/score", "/api/v1/offers", "/api/v1/loans/{loan_id}/hardship",
              "/api/v1/servicing/collections/{loan_id}/actions"}


def test_creates_that_take_an_idempotency_key_document_the_header_and_a_retrys_answer(spec):
    keyed = set()
    for path, method, operation in operations(spec):
        headers = [p for p in operation.get("parameters", []) if p["in"] == "header" and p["name"] == "Idempotency-Key"]
        if not headers:
            continue
        keyed.add(path)
        assert method == "post" and not headers[0].get("required") and "409" in headers[0]["description"]
        responses = operation["responses"]
        assert responses["200"]["content"] == responses["201"]["content"], path  # a retry: the record, as made
        assert "Idempotency-Key" in responses["200"]["description"]
        assert _ref(operation, "409") == ERROR_REF and "idempotency_key_reused" in responses["409"]["description"]
    assert keyed == IDEMPOTENT
    assert "idempotency_key_reused" not in spec["paths"]["/api/v1/offers/{offer_id}/accept"]["post"]["responses"]["409"]["description"]


def test_names_do_not_leak_module_paths_and_operation_ids_are_the_route_names(app, spec):
    assert not [name for name in spec["components"]["schemas"] if "__" in name]
    assert {"MarketQuotePublic", "QuotePublic", "KycReasonPublic", "ReasonPublic"} <= set(spec["components"]["schemas"])
    ids = [op["operationId"] for _, _, op in operations(spec)]
    assert len(ids) == len(set(ids))
    assert not [i for i in ids if "_api_v1_" in i or i.endswith(("_get", "_post"))]
    assert spec["paths"]["/api/v1/offers/{offer_id}"]["get"]["operationId"] == "read_offer"


# --- the real refusals, held against what the document says of them ------------------------------


def _documented(spec: dict, path: str, method: str, status: int) -> dict:
    ref = _ref(spec["paths"][path][method], str(status))
    assert ref is not None, f"{method} {path} does not document {status}"
    return spec["components"]["schemas"][ref.rsplit("/", 1)[-1]]


def _conforms(body: dict, schema: dict) -> None:
    """The documented schema's own rules (required, no other keys), then ErrorPublic's types."""
    assert set(schema["required"]) <= set(body), body
    assert schema.get("additionalProperties") is False and set(body) <= set(schema["properties"]), body
    ErrorPublic.model_validate(body)


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    base = tmp_path_factory.mktemp("contract")
    settings = identity_settings(base, f"sqlite:///{base / 'contract.db'}", auth_rate_limit=2)
    return client_for(settings), settings


@pytest.mark.parametrize(("method", "url", "path", "persona", "body", "status", "code"), [
    ("get", "/api/v1/auth/me", "/api/v1/auth/me", None, None, 401, "not_signed_in"),
    ("get", "/api/v1/admin/roles", "/api/v1/admin/roles", "signed_in", None, 403, "role_required"),
    ("get", "/api/v1/kyc/me/data", "/api/v1/kyc/me/data", "bad_token", None, 401, "token_invalid"),
    ("post", "/api/v1/auth/login", "/api/v1/auth/login", None, {"message": 5, "signature": "0x00"}, 422,
     "validation_failed"),
    ("get", "/api/v1/loans?borrower=nothex", "/api/v1/loans", None, None, 422, "validation_failed"),
    ("get", "/api/v1/offers/00000000-0000-4000-8000-000000000000", "/api/v1/offers/{offer_id}", "admin", None, 404,
     "not_found"),
])  # fmt: skip
def test_real_refusals_validate_against_the_documented_schema(spec, world, method, url, path, persona, body, status, code):
    client, settings = world
    headers = {"signed_in": lambda: minted_bearer(settings, Account.create()), "admin": lambda: minted_bearer(settings, ADMIN),
               "bad_token": lambda: {"Authorization": "Bearer nonsense"}}.get(persona, dict)()  # fmt: skip
    answer = client.request(method.upper(), url, headers=headers, json=body)
    assert answer.status_code == status, answer.text
    assert answer.json()["error"] == code
    _conforms(answer.json(), _documented(spec, path, method, status))


def test_a_rate_limited_answer_is_the_documented_shape_with_retry_after(spec, world):
    client, _ = world
    answers = [client.get("/api/v1/auth/nonce") for _ in range(3)]  # 2 a minute (the login above counted too)
    refused = answers[-1]
    assert refused.status_code == 429 and refused.json()["error"] == "rate_limited"
    assert int(refused.headers["Retry-After"]) >= 1
    _conforms(refused.json(), _documented(spec, "/api/v1/auth/nonce", "get", 429))


# --- every body has a schema (review L2), the JSON as it was -------------------------------------


def _body_ref(spec: dict, path: str, method: str, status: str = "200") -> str | None:
    return _ref(spec["paths"][path][method], status)


def test_bodies_that_were_untyped_have_a_schema(spec):
    assert _body_ref(spec, "/api/v1/auth/logout", "post").endswith("/LogoutPublic")
    assert _body_ref(spec, "/api/v1/admin/kyc/expire", "post").endswith("/ExpiredPublic")
    assert _body_ref(spec, "/api/v1/disclosure/reports", "post").endswith("/DisclosureReportPublic")
    for path in ("/health", "/api/v1/health"):
        assert _body_ref(spec, path, "get").endswith("/HealthPublic")
        assert _body_ref(spec, path, "get", "503").endswith("/HealthPublic")
    terms = spec["components"]["schemas"]["OfferPublic"]["properties"]["terms"]
    assert terms["$ref"].endswith("/LoanTermsPublic") or terms["allOf"][0]["$ref"].endswith("/LoanTermsPublic")


def test_the_typed_bodies_answer_as_before(world):
    from backend.services.health import HealthPublic

    client, settings = world
    admin = minted_bearer(settings, ADMIN)
    assert client.post("/api/v1/admin/kyc/expire", headers=admin).json() == {"expired": []}
    wallet = Account.create()
    minted_bearer(settings, wallet)
    assert client.post("/api/v1/auth/logout", headers=minted_bearer(settings, wallet)).json() == {"revoked": 2}
    report = client.get("/api/v1/health")  # no chain here: 503, the report in its own shape
    assert report.status_code == 503 and report.json()["status"] == "down" and "chain" in report.json()["failing"]
    HealthPublic.model_validate(report.json())
    assert set(report.json()) == set(HealthPublic.model_fields)


# --- request examples for the main flows (review L3) --------------------------------------------

EXAMPLED = {"ApplicationCreate": "/api/v1/score", "OfferCreate": "/api/v1/offers", "OfferAccept": None,
            "KycForm": "/api/v1/kyc", "LoginCreate": "/api/v1/auth/login", "WalletTxCreate": None,
            "MandateSign": "/api/v1/portfolio/rule/mandate"}  # fmt: skip


def test_the_main_request_bodies_carry_examples_that_their_own_models_accept(spec):
    from backend.identity.schemas import KycForm, LoginCreate
    from backend.lending.mandate_schemas import MandateSign
    from backend.lending.schemas import OfferAccept, OfferCreate, WalletTxCreate
    from backend.scoring.schemas import ApplicationCreate

    models = {m.__name__: m for m in (ApplicationCreate, OfferCreate, OfferAccept, KycForm, LoginCreate, WalletTxCreate,
                                      MandateSign)}  # fmt: skip
    for name, model in models.items():
        examples = spec["components"]["schemas"][name]["examples"]
        assert examples, name
        for example in examples:
            model.model_validate(example)
    for name, path in EXAMPLED.items():
        if path:
            body = next(iter(spec["paths"][path].get("post", spec["paths"][path].get("put", {}))["requestBody"]["content"]
                             .values()))["schema"]  # fmt: skip
            ref = body["$ref"].rsplit("/", 1)[-1]  # the model itself, or the form's Body_ wrapping it
            assert name == ref or name in str(spec["components"]["schemas"][ref]), (path, body)


def test_posting_the_examples_gives_no_422(spec, world):
    client, settings = world
    components = spec["components"]["schemas"]
    applicant = minted_bearer(settings, Account.create())
    scored = client.post("/api/v1/score", json=components["ApplicationCreate"]["examples"][0], headers=applicant)
    assert scored.status_code == 201, scored.text
    kyc = client.post("/api/v1/kyc", data=components["KycForm"]["examples"][0], headers=applicant)
    assert kyc.status_code == 201, kyc.text
    login = client.post("/api/v1/auth/login", json=components["LoginCreate"]["examples"][0])
    assert login.status_code in (401, 429) and login.json()["error"] != "validation_failed"  # a stale nonce, not bad input
