"""Every endpoint × every role, plus anonymous: 401 without a token, 403 with the wrong role,
neither for a role the endpoint allows. The endpoints come from the app itself, so a new route
joins the matrix automatically, and a /api/v1 route without declared roles fails the test."""

from __future__ import annotations

import re

import pytest
from eth_account import Account
from fastapi import APIRouter, FastAPI
from fastapi.routing import iter_route_contexts

from backend.api.deps import ENDPOINT_ROLES, PUBLIC, SIGNED_IN, EndpointAccess, allow
from backend.api.main import create_app
from backend.db.session import session_scope
from backend.identity.kyc.submission import submit
from backend.identity.roles import Role, grant_role, roles_of
from backend.identity.schemas import KycCreate
from tests.identity.conftest import (
    ADMIN,
    PNG,
    approve_with_documents,
    client_for,
    identity_settings,
    make_applicant,
    minted_bearer,
)

API_PREFIX = "/api/v1"
DUMMY_PARAMS = {"record_id": "00000000-0000-4000-8000-000000000000", "wallet": "0x" + "ab" * 20}


def guards(app: FastAPI) -> dict[tuple[str, str], str | None]:
    """(method, path) -> the endpoint name its guard declares (None when it has none)."""
    table = {}
    for route in iter_route_contexts(app.routes):
        methods = getattr(route, "methods", None) or set()
        dependant = getattr(route, "dependant", None)
        declared = [d.call.endpoint for d in (dependant.dependencies if dependant else []) if isinstance(d.call, EndpointAccess)]
        for method in methods - {"HEAD", "OPTIONS"}:
            table[(method, route.path)] = declared[0] if declared else None
    return table


def test_every_api_route_declares_its_roles():
    undeclared = [f"{m} {p}" for (m, p), name in guards(create_app()).items() if p.startswith(API_PREFIX) and name is None]
    assert not undeclared, f"routes without `dependencies=allow(...)` (backend/api/deps.py): {undeclared}"


def test_an_undeclared_route_is_caught():
    app = FastAPI()
    router = APIRouter()
    router.add_api_route("/api/v1/sneaky", lambda: {}, methods=["GET"])
    router.add_api_route("/api/v1/declared", lambda: {}, methods=["GET"], dependencies=allow("auth.me"))
    app.include_router(router)
    api = {key: name for key, name in guards(app).items() if key[1].startswith(API_PREFIX)}
    assert api == {("GET", "/api/v1/sneaky"): None, ("GET", "/api/v1/declared"): "auth.me"}
    with pytest.raises(KeyError):
        allow("no.such.endpoint")


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    """One database with a wallet per persona; returns (settings, persona -> (headers, roles))."""
    base = tmp_path_factory.mktemp("matrix")
    settings = identity_settings(base, f"sqlite:///{base / 'matrix.db'}")
    personas: dict[str, tuple[dict[str, str], frozenset[Role]]] = {"anonymous": ({}, frozenset())}
    wallets = {name: Account.create() for name in ("signed_in", "investor", "borrower", "underwriter", "auditor")}
    wallets["admin"] = ADMIN
    for seed, (name, documents) in enumerate((("investor", []), ("borrower", [PNG]))):
        with session_scope(settings) as session:  # one submission per transaction, as in the API
            record = submit(session, settings, wallets[name].address, KycCreate(**make_applicant(seed).form()), documents)
            record_id, status = record.id, record.status
        if documents:  # the borrower level: an admin opens the ID document, then approves
            status = approve_with_documents(settings, record_id, ADMIN.address)
        assert status == "approved"
    with session_scope(settings) as session:
        for role in ("underwriter", "auditor"):
            grant_role(session, ADMIN.address, wallets[role].address, role)
    with session_scope(settings) as session:
        for name, account in wallets.items():
            personas[name] = (minted_bearer(settings, account), roles_of(session, settings, account.address))
    assert personas["investor"][1] == {Role.INVESTOR}
    assert personas["borrower"][1] == {Role.BORROWER, Role.INVESTOR}
    assert personas["underwriter"][1] == {Role.UNDERWRITER} and personas["auditor"][1] == {Role.AUDITOR}
    assert personas["admin"][1] == {Role.ADMIN} and personas["signed_in"][1] == set()
    return settings, personas


def expected(access, persona: str, roles: frozenset[Role]) -> str:
    if access == PUBLIC:
        return "allowed"
    if persona == "anonymous":
        return "401"
    if access == SIGNED_IN or roles & access:
        return "allowed"
    return "403"


def _order(key: tuple[str, str]) -> tuple:
    method, path = key
    # destructive calls last (erasing their own KYC would take a persona's role away), and signing
    # out the very last: it ends the persona's access token
    return (path == f"{API_PREFIX}/auth/logout", method == "DELETE", path == f"{API_PREFIX}/kyc/me", path, method)


def test_role_matrix(world):
    settings, personas = world
    client = client_for(settings)
    table = guards(client.app)
    api_routes = sorted((key for key in table if key[1].startswith(API_PREFIX)), key=_order)
    assert len(api_routes) >= 15
    failures, seen = [], 0
    for method, path in api_routes:
        access = ENDPOINT_ROLES[table[(method, path)]]
        url = re.sub(r"\{(\w+)(?::\w+)?\}", lambda m: DUMMY_PARAMS.get(m.group(1), "1"), path)
        for persona, (headers, roles) in personas.items():
            status = client.request(method, url, headers=headers).status_code
            want = expected(access, persona, roles)
            ok = status not in (401, 403) if want == "allowed" else status == int(want)
            seen += 1
            if not ok:
                failures.append(f"{method} {path} as {persona}: got {status}, expected {want}")
    assert not failures, "\n".join(failures)
    assert seen == len(api_routes) * len(personas)


def test_public_pages_outside_the_api_need_no_token(world):
    settings, _ = world
    client = client_for(settings)
    for path in ("/docs", "/openapi.json"):
        assert client.get(path).status_code == 200
    assert client.get("/health").status_code in (200, 503)


# The declarations themselves, pinned: the matrix above proves enforcement matches them.
PUBLIC_ENDPOINTS = {
    "auth.nonce", "auth.login", "auth.refresh", "verify.cid", "verify.upload", "verify.proof", "disclosure.read",
    "loans.list", "loans.read", "chain.info", "market.read", "health.report",
}


def test_only_sign_in_and_verification_are_public():
    assert {name for name, access in ENDPOINT_ROLES.items() if access == PUBLIC} == PUBLIC_ENDPOINTS


def test_admin_routes_are_admin_only_and_kyc_routes_need_a_signed_in_wallet():
    for (method, path), name in guards(create_app()).items():
        if path.startswith(f"{API_PREFIX}/admin"):
            assert ENDPOINT_ROLES[name] == frozenset({Role.ADMIN}), f"{method} {path}"
        if path.startswith((f"{API_PREFIX}/kyc", f"{API_PREFIX}/audit")):
            assert ENDPOINT_ROLES[name] != PUBLIC, f"{method} {path}"
