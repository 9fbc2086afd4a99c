"""Bad input gets a clear error (a 422 naming the field, in the app's JSON shape) and changes
nothing. Every request body's strings refuse control characters and its numbers and flags take
JSON numbers and booleans only: both checked over the models the app's routes take in, so a new
field joins by itself. Path and query strings are held to the same rule before anything is looked
up: a NUL byte reached PostgreSQL, which answered with a 500 (and the hourly offer limit kept the
hit)."""

from __future__ import annotations

import typing
from collections.abc import Iterator

import pytest
from fastapi.routing import iter_route_contexts
from pydantic import BaseModel, ValidationError

from backend.api.main import create_app
from backend.audit.schemas import AlertReviewCreate
from backend.chain.models import ChainEvent
from backend.db.session import session_scope
from backend.errors import ValidationFailed
from backend.identity.schemas import DecisionCreate
from backend.scoring.schemas import ReviewCreate
from backend.servicing.schemas import CollectionActionCreate, HardshipCreate
from tests.identity.conftest import (
    ADMIN,
    PNG,
    approve_over_api,
    client_for,
    identity_settings,
    make_applicant,
    minted_bearer,
    submit,
)

# --- every model a route takes in ---------------------------------------------------------------


def _models_in(annotation) -> Iterator[type[BaseModel]]:
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        yield annotation
    for argument in typing.get_args(annotation):
        yield from _models_in(argument)


def _dependants(dependant) -> Iterator:
    yield dependant
    for sub in dependant.dependencies:
        yield from _dependants(sub)


def request_models() -> set[type[BaseModel]]:
    """The models of every route's body (JSON or form), and the models inside them."""
    found: set[type[BaseModel]] = set()
    pending = [model for route in iter_route_contexts(create_app().routes) if getattr(route.route, "dependant", None)
               for dependant in _dependants(route.route.dependant) for param in dependant.body_params
               for model in _models_in(param.field_info.annotation)]  # fmt: skip
    while pending:
        model = pending.pop()
        if model not in found:
            found.add(model)
            pending += [m for field in model.model_fields.values() for m in _models_in(field.annotation)]
    return found


def _fields_of(kind: type) -> list[tuple[type[BaseModel], str]]:
    return sorted(((model, name) for model in request_models() for name, field in model.model_fields.items()
                   if field.annotation is kind or kind in typing.get_args(field.annotation)),
                  key=lambda pair: (pair[0].__name__, pair[1]))  # fmt: skip


def _error_types(model: type[BaseModel], name: str, value) -> set[str]:
    """The errors `model` reports for `name` when sent `value` (the other fields' are not looked at)."""
    try:
        model.model_validate({name: value})
    except ValidationError as exc:
        return {e["type"] for e in exc.errors() if e["loc"][:1] == (name,)}
    return set()


def test_the_walk_finds_the_request_models():
    names = {model.__name__ for model in request_models()}
    assert {"KycForm", "OfferCreate", "MandateTerms", "NoticePreferencesUpdate", "CollectionActionCreate"} <= names


CHECKED_BY_THE_SERVICE: set[tuple[str, str]] = set()  # (model, field) a service checks before any lookup


def test_every_request_body_refuses_fields_it_does_not_know():
    """A misspelt or made-up field is a 422 naming it, never silently dropped."""
    lax = sorted(m.__name__ for m in request_models() if m.model_config.get("extra") != "forbid")
    assert lax == []


@pytest.mark.parametrize(("model", "name"), _fields_of(str), ids=lambda v: getattr(v, "__name__", v))
def test_every_string_a_request_body_takes_refuses_control_characters(model, name):
    if (model.__name__, name) in CHECKED_BY_THE_SERVICE:
        from backend.disclosure.reports import check_period

        for value in ("a\x00b", "2026-1\x1b"):
            with pytest.raises(ValidationFailed, match="^period: "):
                check_period(value)
        return
    for value in ("a\x00b", "a\x1bb"):
        assert _error_types(model, name, value), f"{model.__name__}.{name} takes {value!r}"


@pytest.mark.parametrize(("model", "name"), _fields_of(int), ids=lambda v: getattr(v, "__name__", v))
def test_every_integer_a_request_body_takes_is_a_json_integer(model, name):
    """Lax parsing read `true` as 1 (a promise to pay of one base unit, a price of 1 bp) and
    `false` as 0; "5" and 2.0 are no integers in JSON either."""
    for value in (True, False, "5", 2.0):
        assert "int_type" in _error_types(model, name, value), f"{model.__name__}.{name} takes {value!r}"


@pytest.mark.parametrize(("model", "name"), _fields_of(bool), ids=lambda v: getattr(v, "__name__", v))
def test_every_flag_a_request_body_takes_is_a_json_boolean(model, name):
    for value in (0, 1, "off", "true"):
        assert "bool_type" in _error_types(model, name, value), f"{model.__name__}.{name} takes {value!r}"


# --- notes ------------------------------------------------------------------------------------

NOTES = [(AlertReviewCreate, {"decision": "cleared"}), (HardshipCreate, {}), (ReviewCreate, {"outcome": "approve"}),
         (CollectionActionCreate, {"kind": "note"}), (DecisionCreate, {})]  # fmt: skip


@pytest.mark.parametrize(("model", "rest"), NOTES, ids=[m.__name__ for m, _ in NOTES])
def test_a_note_says_something_in_printable_text(model, rest):
    """A blank note, or one of control characters only, closed an alert for good; line breaks and
    tabs are what a note is written with."""
    for blank in ("", "    ", "\n\t \n", "\x01\x02\x03", "ok\x00ok", "\x1b[2Jwiped"):
        with pytest.raises(ValidationError) as refused:
            model.model_validate({**rest, "note": blank})
        assert [e["loc"] for e in refused.value.errors()] == [("note",)], blank
    kept = model.model_validate({**rest, "note": "  Called twice.\r\n\tNo answer.  "})
    assert kept.note == "Called twice.\n\tNo answer."


# --- over HTTP, on both databases -----------------------------------------------------------------


@pytest.fixture
def settings(tmp_path, database_url):
    return identity_settings(tmp_path, database_url, offer_rate_limit=2)


@pytest.fixture
def client(settings):
    with client_for(settings) as c:
        yield c


NUL_IN_PATH_OR_QUERY = [
    ("GET", "/api/v1/offers/a%00b", None, ["path", "offer_id"]),
    ("GET", "/api/v1/offers/a%00b/agreement", None, ["path", "offer_id"]),
    ("GET", "/api/v1/offers?decision_id=a%00b", None, ["query", "decision_id"]),
    ("POST", "/api/v1/offers/a%00b/accept", {"signature": "0x" + "00" * 65}, ["path", "offer_id"]),
    ("GET", "/api/v1/score/a%00b", None, ["path", "decision_id"]),
    ("POST", "/api/v1/score/a%00b/review", {"outcome": "approve", "note": "abc"}, ["path", "decision_id"]),
    ("GET", "/api/v1/admin/kyc/a%00b", None, ["path", "record_id"]),
    ("POST", "/api/v1/admin/kyc/a%00b/approve", {"note": "abc"}, ["path", "record_id"]),
    ("POST", "/api/v1/admin/kyc/a%00b/reject", {"note": "abc"}, ["path", "record_id"]),
    ("POST", "/api/v1/admin/kyc/a%00b/reveal", {"reason": "review"}, ["path", "record_id"]),
    ("POST", "/api/v1/audit/alerts/a%00b/review", {"decision": "cleared", "note": "abc"}, ["path", "alert_key"]),
    ("GET", "/api/v1/verify/proof?cid=b%00", None, ["query", "cid"]),
    ("GET", "/api/v1/loans?borrower=0x%1b", None, ["query", "borrower"]),
]


@pytest.mark.parametrize(("method", "url", "body", "loc"), NUL_IN_PATH_OR_QUERY, ids=[f"{m} {u}" for m, u, _, _ in NUL_IN_PATH_OR_QUERY])
def test_a_control_character_in_a_path_or_query_string_is_a_422_naming_it(settings, client, method, url, body, loc):
    answer = client.request(method, url, json=body, headers=minted_bearer(settings, ADMIN))
    assert answer.status_code == 422, answer.text
    assert answer.json()["error"] == "validation_failed"
    assert [f["loc"] for f in answer.json()["fields"]] == [loc]
    assert answer.json()["detail"] == f"{loc[1]}: must not contain control characters"


def _borrower(settings, client) -> dict[str, str]:
    """A KYC-verified wallet at the borrower level (a document attached, opened and approved by an
    admin), which may take up offers."""
    applicant = make_applicant(71)
    headers = minted_bearer(settings, applicant.account)
    submitted = submit(client, applicant, headers, files=[("documents", ("id.png", PNG, "image/png"))])
    assert submitted.status_code == 201
    assert approve_over_api(client, submitted.json()["id"])["level"] == 2
    return headers


def test_a_nul_in_a_body_id_is_a_422_and_spends_none_of_the_hourly_offers(settings, client):
    borrower = _borrower(settings, client)
    refused = [client.post("/api/v1/offers", json={"decision_id": "a\x00b"}, headers=borrower) for _ in range(3)]
    assert [r.status_code for r in refused] == [422] * 3, refused[0].text
    assert refused[0].json()["fields"] == [{"loc": ["body", "decision_id"], "msg": "must not contain control characters",
                                            "type": "string_control_characters"}]  # once, though the limit reads the body too
    assert client.post("/api/v1/offers", json={"decision_id": "no-such"}, headers=borrower).status_code == 404


def test_a_server_error_gives_the_hourly_offer_back_and_answers_in_the_apps_shape(settings, client, monkeypatch):
    from backend.lending import offers

    borrower = _borrower(settings, client)

    def fails(*_args, **_kwargs):
        raise RuntimeError("a bug")

    monkeypatch.setattr(offers, "create_offer", fails)
    failed = [client.post("/api/v1/offers", json={"decision_id": "no-such"}, headers=borrower) for _ in range(3)]
    assert [r.status_code for r in failed] == [500] * 3
    assert failed[0].headers["content-type"] == "application/json"
    assert failed[0].json()["error"] == "internal_error" and "a bug" not in failed[0].text
    monkeypatch.undo()
    assert client.post("/api/v1/offers", json={"decision_id": "no-such"}, headers=borrower).status_code == 404  # not 429


def test_a_server_error_is_still_raised_for_the_server_to_log(settings, monkeypatch):
    """The JSON answer does not swallow the exception: Starlette raises it again, and the server
    logs its traceback."""
    from fastapi.testclient import TestClient

    def fails(*_args, **_kwargs):
        raise RuntimeError("a bug")

    monkeypatch.setattr("backend.api.deps.signed_in_by_access_token", fails)
    client = client_for(settings)
    raising = TestClient(client.app, raise_server_exceptions=True)
    with pytest.raises(RuntimeError, match="a bug"):
        raising.get("/api/v1/auth/me", headers={"Authorization": "Bearer x"})


def _open_alert(settings, client) -> str:
    with session_scope(settings) as db:
        db.add(ChainEvent(block_number=5, block_hash="0x" + "11" * 32, tx_hash="0x" + "22" * 32, tx_index=0, log_index=0,
                          contract="LoanBook", address="0x" + "33" * 20, event="Paused", args={"account": "0x" + "44" * 20},
                          block_timestamp=1_700_000_000))  # fmt: skip
    alerts = client.get("/api/v1/audit/alerts", headers=minted_bearer(settings, ADMIN)).json()
    return alerts[0]["key"]


def test_an_alert_review_with_a_nul_blank_or_control_note_leaves_the_alert_open(settings, client):
    key, admin = _open_alert(settings, client), minted_bearer(settings, ADMIN)
    for note in ("ok\x00ok", "    ", "\x01\x02\x03"):
        answer = client.post(f"/api/v1/audit/alerts/{key}/review", json={"decision": "cleared", "note": note}, headers=admin)
        assert answer.status_code == 422, answer.text
        assert [f["loc"] for f in answer.json()["fields"]] == [["body", "note"]]
    still_open = client.get("/api/v1/audit/alerts", params={"open": "true"}, headers=admin).json()
    assert [a["key"] for a in still_open] == [key]
    reviewed = client.post(f"/api/v1/audit/alerts/{key}/review", json={"decision": "cleared", "note": "Looked: a drill."},
                           headers=admin)  # fmt: skip
    assert reviewed.status_code == 201, reviewed.text


def test_lax_flags_are_refused_and_the_preferences_stay(settings, client):
    wallet = make_applicant(72).account
    headers = minted_bearer(settings, wallet)
    before = client.get("/api/v1/servicing/notices/preferences", headers=headers).json()
    answer = client.put("/api/v1/servicing/notices/preferences", json={"email": "off", "sms": 0}, headers=headers)
    assert answer.status_code == 422, answer.text
    assert [f["loc"] for f in answer.json()["fields"]] == [["body", "email"], ["body", "sms"]]
    assert client.get("/api/v1/servicing/notices/preferences", headers=headers).json() == before


def test_each_refusal_of_a_body_the_hourly_limit_also_reads_is_listed_once(settings, client):
    headers = minted_bearer(settings, make_applicant(73).account)
    answer = client.post("/api/v1/score", json={"amount": True}, headers=headers)
    assert answer.status_code == 422
    fields = [tuple(f["loc"]) for f in answer.json()["fields"]]
    assert ("body", "amount") in fields and len(fields) == len(set(fields))
    assert answer.json()["detail"].count("amount:") == 1


@pytest.mark.parametrize(("url", "field"), [
    ("/api/v1/audit/trace/address/0x123", "address"),
    ("/api/v1/audit/statement/zzz", "address"),
    ("/api/v1/audit/portfolio/zzz", "address"),
    ("/api/v1/audit/mandates/zzz", "address"),
    ("/api/v1/audit/trace/tx/0x123", "tx_hash"),
])  # fmt: skip
def test_a_malformed_address_or_hash_is_refused_naming_the_field(settings, client, url, field):
    answer = client.get(url, headers=minted_bearer(settings, ADMIN))
    assert answer.status_code == 422, answer.text
    assert answer.json()["detail"].startswith(f"{field}: ") and answer.json()["context"] == {"field": field}


def test_erasing_a_malformed_wallet_is_refused_naming_the_field(settings, client):
    answer = client.delete("/api/v1/admin/kyc/wallets/0x123", headers=minted_bearer(settings, ADMIN))
    assert answer.status_code == 422, answer.text
    assert answer.json()["detail"] == "wallet: not an Ethereum address" and answer.json()["context"] == {"field": "wallet"}

