"""Every FastAPI dependency is wired here, once."""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime
from typing import Annotated

from fastapi import Depends, Path, Query, Request
from fastapi.dependencies.models import Dependant
from fastapi.exceptions import RequestValidationError
from fastapi.routing import APIRoute
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session

from backend import audit
from backend.api.idempotency import IdempotencyKey, IdempotentRequest, request_fingerprint
from backend.bounds import DB_ID_MAX
from backend.config import Settings, get_settings
from backend.db.session import session_scope
from backend.errors import RateLimited
from backend.identity.checks.origin import network_of
from backend.identity.errors import RoleRequired, SignInRefused
from backend.identity.rate_limit import over_limit, uncount
from backend.identity.roles import Role, roles_of
from backend.identity.tokens import require_recent_sign_in, signed_in_by_access_token
from backend.input_text import has_control_characters, refused_control_characters
from backend.lending.schemas import OfferCreate
from backend.scoring.schemas import ApplicationCreate


def get_db(settings: Annotated[Settings, Depends(get_settings)]) -> Iterator[Session]:
    """A session per request: committed when the handler returns, rolled back on error. Its audit
    entries are appended when the handler returns (`audit.deferred`): the log's head row, which
    every audited write waits on, is not held across the chain reads and store writes a handler
    makes after recording (signing a mandate, an offer's agreement)."""
    with session_scope(settings) as session, audit.deferred(session):
        yield session


SettingsDep = Annotated[Settings, Depends(get_settings)]
# scope="function": the transaction commits before the response is sent, so a 2xx means it is
# stored and the client's next request reads it (FastAPI's default ends a yield dependency only
# after the response has gone out, which would answer success before the commit, or despite it).
SessionDep = Annotated[Session, Depends(get_db, scope="function")]
# An investor's statement period, for the investor and for auditors alike.
StatementYear = Annotated[int | None, Query(ge=2015, le=9998, description="Calendar year (UTC, block time); all if omitted")]
# Ids in paths and queries: past what the database holds is bad input (422), not a 500 from the driver.
LoanId = Annotated[int, Path(ge=1, le=DB_ID_MAX, description="LoanBook's loan id")]
ListingId = Annotated[int, Path(ge=1, le=DB_ID_MAX, description="NoteMarket's listing id")]
BidId = Annotated[int, Path(ge=1, le=DB_ID_MAX, description="NoteMarket's bid id")]
LoanFilterId = Annotated[int | None, Query(ge=1, le=DB_ID_MAX, description="Only this loan's")]
RoleProposalId = Annotated[int, Path(ge=1, le=DB_ID_MAX, description="A proposed role grant's id")]
PlanId = Annotated[int, Path(ge=1, le=DB_ID_MAX, description="A hardship plan's id")]
# A list's page: one style for every list that can grow (limit and offset, newest or best first as the
# list says); a page shorter than `limit` is the last.
PAGE_MAX = 500
PageLimit = Annotated[int, Query(ge=1, le=PAGE_MAX, description="At most this many items")]
PageOffset = Annotated[int, Query(ge=0, le=DB_ID_MAX, description="Skip this many first: the next page starts at "
                                  "offset + limit")]  # fmt: skip
# Record ids are UUIDs (36 characters, the column's width): a longer one is a 422, never looked up and
# echoed back whole in a 404.
OfferId = Annotated[str, Path(min_length=1, max_length=36, description="An offer's id (a UUID)")]
DecisionId = Annotated[str, Path(min_length=1, max_length=36, description="A credit decision's id (a UUID)")]
KycRecordId = Annotated[str, Path(min_length=1, max_length=36, description="A KYC record's id (a UUID)")]
DecisionHash = Annotated[str, Path(pattern=r"^0x[0-9a-fA-F]{64}$", description="keccak-256: 0x and 64 hex digits")]


def refuse_control_characters(request: Request) -> None:
    """Path and query strings follow the rule of request bodies' text (backend/input_text.py): a
    NUL byte in an id reached PostgreSQL, which answered with a 500. The app runs this before every
    route's own dependencies, so before a token or anything else is looked up; an id or a filter
    never holds a line break either."""
    passed = [("path", name, value) for name, value in request.path_params.items()]
    passed += [("query", name, value) for name, value in request.query_params.multi_items()]
    refused = refused_control_characters()
    errors = [{"loc": (where, name), "msg": refused.message(), "type": refused.type}
              for where, name, value in passed if isinstance(value, str) and has_control_characters(value)]  # fmt: skip
    if errors:
        raise RequestValidationError(errors)


def refuse_unknown_query_parameters(request: Request) -> None:
    """A query parameter the endpoint does not take is a 422 naming it, as an unknown body field is:
    ignored, `?offset=20` on a list without one answered the first page again, and a client paging on
    it never saw the end. (The pages outside the API, / and /docs, take whatever a link carries.)"""
    route = request.scope.get("route")
    if not isinstance(route, APIRoute) or not route.include_in_schema:
        return
    declared = _query_parameters(route.dependant)
    unknown = sorted({name for name in request.query_params if name not in declared})
    if unknown:
        raise RequestValidationError([{"loc": ("query", name[:64]), "type": "extra_forbidden",
                                       "msg": "not a parameter of this endpoint (see /docs)"} for name in unknown])  # fmt: skip


def _query_parameters(dependant: Dependant) -> set[str]:
    """What the route and its dependencies take from the query string, by the name sent (the alias)."""
    return {param.alias for param in dependant.query_params}.union(*map(_query_parameters, dependant.dependencies))


# --- identity: who is calling, and may they call this endpoint ------------------------------
#
# Every /api/v1 endpoint names itself in ENDPOINT_ROLES and passes `dependencies=allow(name)`
# to its route decorator. tests/api/test_role_matrix.py walks app.routes and fails on any
# /api/v1 route without a guard, then calls every route as every role.

PUBLIC = "public"  # anyone, signed in or not
SIGNED_IN = "signed_in"  # any signed-in wallet, whatever its roles
ADMIN_ONLY = frozenset({Role.ADMIN})
AUDITORS = frozenset({Role.AUDITOR, Role.ADMIN})
STAFF = frozenset({Role.UNDERWRITER, Role.AUDITOR, Role.ADMIN})
BORROWERS = frozenset({Role.BORROWER})

ENDPOINT_ROLES: dict[str, str | frozenset[Role]] = {
    # health: for load balancers and monitoring (secrets redacted, rate-limited per client)
    "health.report": PUBLIC,
    # sign-in
    "auth.nonce": PUBLIC,
    "auth.login": PUBLIC,
    "auth.refresh": PUBLIC,
    "auth.logout": SIGNED_IN,
    "auth.me": SIGNED_IN,
    # KYC: applicants are signed in but have no role yet
    "kyc.submit": SIGNED_IN,
    "kyc.status": SIGNED_IN,
    "kyc.data": SIGNED_IN,
    "kyc.erase": SIGNED_IN,
    "kyc.export": SIGNED_IN,  # all of the caller's own personal data (GDPR art. 15, 20)
    # administration
    "admin.roles.list": ADMIN_ONLY,
    "admin.roles.change": ADMIN_ONLY,  # revokes at once; proposes a grant, which another admin confirms
    "admin.roles.pending": ADMIN_ONLY,
    "admin.roles.confirm": ADMIN_ONLY,
    "admin.roles.reject": ADMIN_ONLY,
    "admin.kyc.queue": ADMIN_ONLY,
    "admin.kyc.record": ADMIN_ONLY,
    "admin.kyc.approve": ADMIN_ONLY,
    "admin.kyc.reject": ADMIN_ONLY,
    "admin.kyc.reveal": ADMIN_ONLY,
    "admin.kyc.person_link": ADMIN_ONLY,  # proposes a same-person link, or confirms another admin's proposal
    "admin.kyc.document": ADMIN_ONLY,  # one ID document of a record, opened for review
    "admin.kyc.erase": ADMIN_ONLY,
    "admin.kyc.expire": ADMIN_ONLY,
    # document verification: anyone (investors, auditors, the public) may check a document
    "verify.cid": PUBLIC,
    "verify.upload": PUBLIC,
    "verify.proof": PUBLIC,
    "disclosure.read": PUBLIC,
    "disclosure.publish": ADMIN_ONLY,
    # the audit log
    "audit.entries": AUDITORS,
    "audit.verify": AUDITORS,
    "audit.trace": AUDITORS,
    "audit.review": AUDITORS,  # the monitoring case file: a person clears or escalates an alert
    "audit.kyc_reveals": AUDITORS,  # who revealed which KYC record, and why
    # credit scoring: an applicant may ask for a quote before KYC; recorded decisions hold an
    # applicant's financial data, so reading them back is for underwriting and oversight
    "score.create": SIGNED_IN,
    "score.read": STAFF,
    "score.proof": STAFF,
    "score.review": frozenset({Role.UNDERWRITER}),
    "score.referrals": frozenset({Role.UNDERWRITER}),
    "score.mine": SIGNED_IN,
    # fair-lending monitoring: counts by age band only (dates of birth are read to place applicants, audited)
    "score.fairness": STAFF,
    # offers: only a KYC-verified borrower takes up an approval; an offer is read by its borrower
    # (or staff: the service answers 404 to anyone else)
    "offers.create": BORROWERS,
    "offers.accept": BORROWERS,
    "offers.list": SIGNED_IN,
    "offers.read": SIGNED_IN,
    # loans: what LoanBook's events say, public like the chain
    "loans.list": PUBLIC,
    "loans.read": PUBLIC,
    "loans.hardship": SIGNED_IN,  # the loan's own borrower, which the service checks
    # what investors may know of a borrower before funding (banded facts, never identity)
    "loans.borrower": frozenset({Role.INVESTOR}) | STAFF,
    "loans.statement": SIGNED_IN,  # the loan's own borrower or staff, which the service checks
    "loans.plans": SIGNED_IN,  # the loan's own borrower or staff, which the service checks
    "loans.autopay": SIGNED_IN,  # the loan's own borrower, which the service checks
    "loans.transactions": SIGNED_IN,  # built for the caller's own wallet, which the contract checks
    "chain.info": PUBLIC,  # addresses and chain id a wallet needs
    # investing: anyone may hold notes (they transfer); planning new investments is for investors
    "portfolio.read": SIGNED_IN,
    "portfolio.plan": frozenset({Role.INVESTOR}),
    "portfolio.claim": SIGNED_IN,
    "portfolio.statement": SIGNED_IN,  # the caller's own movements only
    "portfolio.rule.set": frozenset({Role.INVESTOR}),  # a standing instruction to invest, like a plan
    "portfolio.rule.read": SIGNED_IN,  # read or drop one's own (a former investor too)
    # the notes' secondary market: public to read; LoanBook decides who may receive notes
    "market.read": PUBLIC,
    "market.list": SIGNED_IN,
    "market.buy": SIGNED_IN,
    "market.delist": SIGNED_IN,
    "market.bid": SIGNED_IN,
    "market.sell": SIGNED_IN,
    "market.cancel": SIGNED_IN,
    # servicing: the portfolio view is for staff; a borrower reads the notices sent to them
    "servicing.aging": STAFF,
    "servicing.collections": STAFF,
    "servicing.collections.act": frozenset({Role.UNDERWRITER, Role.ADMIN}),  # auditors read the case log only
    "servicing.notices": SIGNED_IN,
}

# What exposes or destroys personal data, or hands out power, needs a recent SIWE sign-in as well
# (settings.fresh_sign_in_max_age): an access token copied from a browser, or a session left open on
# a shared computer, cannot read or erase anyone's identity, nor grant a role. The web page signs in
# again when told `fresh_sign_in_required`.
FRESH_SIGN_IN: frozenset[str] = frozenset({
    "kyc.data", "kyc.erase", "kyc.export", "admin.kyc.reveal", "admin.kyc.document", "admin.kyc.erase", "audit.kyc_reveals",
    "admin.roles.change", "admin.roles.confirm",
    # a rejection grants nothing, but a copied token could veto every grant the other admins propose
    "admin.roles.reject",
})
# Staff views read all day from one session also carry sealed personal notes: an underwriter's review
# note (score.read), the collections case log with borrowers' hardship requests (servicing.collections,
# audit.trace of a loan). Refusing the whole view to an older session would have staff sign again
# every few minutes, so these answer in full but open the notes only for a recent sign-in
# (`NotesShown`); otherwise each note is None with `note_withheld: true`, which a fresh sign-in reveals.

_bearer = HTTPBearer(auto_error=False, description="Access token from POST /api/v1/auth/login")


@dataclass(frozen=True)
class Principal:
    wallet: str
    roles: frozenset[Role]
    auth_time: datetime | None = None  # the SIWE sign-in the session began with


def optional_principal(
    settings: SettingsDep,
    session: SessionDep,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
) -> Principal | None:
    if credentials is None:
        return None
    signed_in = signed_in_by_access_token(session, settings, credentials.credentials)
    return Principal(signed_in.wallet, roles_of(session, settings, signed_in.wallet), signed_in.auth_time)


def require_principal(principal: Annotated[Principal | None, Depends(optional_principal)]) -> Principal:
    if principal is None:
        raise SignInRefused("not_signed_in", "sign in first: send 'Authorization: Bearer <access token>'")
    return principal


CurrentUser = Annotated[Principal, Depends(require_principal)]


@dataclass(frozen=True)
class EndpointAccess:
    """Base of the guards `allow(endpoint)` installs; the role-matrix test looks for it."""

    endpoint: str

    @property
    def access(self) -> str | frozenset[Role]:
        return ENDPOINT_ROLES[self.endpoint]


class PublicGuard(EndpointAccess):
    """Open to anyone; a stale token sent along is ignored rather than refused."""

    def __call__(self) -> None:
        return None


class RoleGuard(EndpointAccess):
    """401 without a valid token, 403 without one of the endpoint's roles."""

    def __call__(self, principal: Annotated[Principal | None, Depends(optional_principal)], settings: SettingsDep) -> None:
        access = self.access
        if principal is None:
            raise SignInRefused("not_signed_in", "sign in first: send 'Authorization: Bearer <access token>'")
        if access != SIGNED_IN and not principal.roles & access:
            raise RoleRequired(f"this endpoint needs one of the roles: {', '.join(sorted(access))}")
        if self.endpoint in FRESH_SIGN_IN:
            require_recent_sign_in(settings, principal.auth_time)


def notes_shown(principal: CurrentUser, settings: SettingsDep) -> bool:
    """Whether the caller's sign-in is recent enough to read sealed notes (see FRESH_SIGN_IN)."""
    try:
        require_recent_sign_in(settings, principal.auth_time)
    except SignInRefused:
        return False
    return True


NotesShown = Annotated[bool, Depends(notes_shown)]


def allow(endpoint: str) -> list:
    """`dependencies=allow("kyc.submit")`: the route's access, as declared in ENDPOINT_ROLES."""
    if endpoint not in ENDPOINT_ROLES:
        raise KeyError(f"{endpoint!r} has no entry in ENDPOINT_ROLES (backend/api/deps.py)")
    guard = PublicGuard(endpoint) if ENDPOINT_ROLES[endpoint] == PUBLIC else RoleGuard(endpoint)
    return [Depends(guard)]


def idempotent_request(request: Request, principal: CurrentUser, session: SessionDep, settings: SettingsDep,
                       request_hash: Annotated[str, Depends(request_fingerprint)],
                       idempotency_key: IdempotencyKey = None) -> IdempotentRequest:  # fmt: skip
    """A create request's `Idempotency-Key` (backend/idempotency_keys.py), for its handler's `answer`
    and its rate limit: one per request (FastAPI's cache), so a retry is looked up once."""
    return IdempotentRequest(session, settings, principal.wallet, idempotency_key,
                             f"{request.method} {request.scope['route'].path_format}", request_hash)  # fmt: skip


# A create request that takes an `Idempotency-Key` (documented on its operation, header and 200 alike).
Idempotent = Annotated[IdempotentRequest, Depends(idempotent_request)]


def _client(request: Request) -> str:
    """The caller's network address, the key of the per-client limits below."""
    return request.client.host if request.client else "unknown"


def _limit(settings: Settings, scope: str, key: str, limit: int, window: int, message: str) -> None:
    if wait := over_limit(settings, scope, key, limit, window):
        raise RateLimited(f"{message}; try again in {_duration(wait)}", retry_after=wait)


def _duration(seconds: int) -> str:
    return f"{seconds} s" if seconds < 120 else f"{-(-seconds // 60)} min"


def auth_rate_limit(request: Request, settings: SettingsDep) -> None:
    """Sign-in attempts per client address per minute (shared by all workers; see rate_limit.py)."""
    _limit(settings, "auth", _client(request), settings.auth_rate_limit, 60,
           f"too many sign-in requests: at most {settings.auth_rate_limit} per minute")  # fmt: skip


def health_rate_limit(request: Request, settings: SettingsDep) -> None:
    """Each health report makes several RPC calls: a client may not spend a hosted node's quota."""
    try:
        wait = over_limit(settings, "health", _client(request), settings.health_rate_limit, 60)
    except SQLAlchemyError:  # a database that cannot count is what the report is about to say
        return
    if wait:
        raise RateLimited(f"too many health requests: at most {settings.health_rate_limit} per minute", retry_after=wait)


def chain_read_rate_limit(request: Request, settings: SettingsDep) -> None:
    """Public reads that call the node share one count per client, for the reason of the health
    report's: an anonymous client may not spend a hosted node's quota. (`/chain/index`, which the
    page polls, reads the database alone and is not counted.)"""
    _limit(settings, "chain-read", _client(request), settings.chain_read_rate_limit, 60,
           f"too many requests that read the chain: at most {settings.chain_read_rate_limit} per minute")  # fmt: skip


def verify_rate_limit(request: Request, settings: SettingsDep) -> None:
    """Anyone may upload a document to verify: a client may not keep the server hashing (and its
    disk spooling) uploads back to back."""
    _limit(settings, "verify", _client(request), settings.verify_rate_limit, 60,
           f"too many document uploads: at most {settings.verify_rate_limit} per minute")  # fmt: skip


def kyc_rate_limit(principal: CurrentUser, settings: SettingsDep) -> None:
    _limit(settings, "kyc", principal.wallet, settings.kyc_rate_limit, 60,
           f"too many KYC requests: at most {settings.kyc_rate_limit} per minute")  # fmt: skip


@dataclass(frozen=True)
class _Count:
    scope: str
    key: str
    limit: int
    message: str


@contextmanager
def _counted_if_decided(settings: Settings, *counts: _Count) -> Iterator[None]:
    """Hourly counts of what was decided: a request that fails, whether the service refuses it as the
    caller's error (4xx) or the server fails on it (5xx), decided and stored nothing (its transaction
    is rolled back), so its hits are taken back; one refused by any count (429) gives the others
    theirs back, so it spends no one's allowance. Malformed bodies never get here: the dependencies
    below take the route's body, so FastAPI calls them only once it validates."""
    now = time.time()
    counted: list[_Count] = []
    for count in counts:
        if wait := over_limit(settings, count.scope, count.key, count.limit, 3600, now=now):
            for done in counted:
                uncount(settings, done.scope, done.key, 3600, now)
            raise RateLimited(f"{count.message}; try again in {_duration(wait)}", retry_after=wait)
        counted.append(count)
    try:
        yield
    except Exception:
        for done in counted:
            uncount(settings, done.scope, done.key, 3600, now)
        raise


def offer_rate_limit(request: OfferCreate, principal: CurrentUser, settings: SettingsDep,
                     once: Idempotent) -> Iterator[None]:  # fmt: skip
    """Each offer stores and anchors an agreement document: a borrower may not grow both without end.
    A retry answered from its `Idempotency-Key` makes nothing, and spends nothing."""
    if once.is_retry():
        yield
        return
    with _counted_if_decided(settings, _Count("offer", principal.wallet, settings.offer_rate_limit,
                                              f"too many offers: at most {settings.offer_rate_limit} per hour")):  # fmt: skip
        yield


def score_rate_limit(application: ApplicationCreate, principal: CurrentUser, settings: SettingsDep,
                     http: Request, once: Idempotent) -> Iterator[None]:  # fmt: skip
    """Ten decisions an hour keep an applicant from probing the model; a 422 decides nothing. A
    wallet costs one key and a sign-in, and scoring needs no KYC, so the client's network is counted
    too: fresh wallets from one place share its allowance. A network as KYC's origin check takes it
    (an IPv6 host's whole /56, among whose /64s it moves at will); a loopback or private address is
    this machine or a proxy not listed in FORWARDED_ALLOW_IPS, whose count would be everyone's, so
    none is kept for it (the wallet's still is). A retry answered from its `Idempotency-Key` decides
    nothing again, and spends nothing."""
    if once.is_retry():
        yield
        return
    counts = [_Count("score", principal.wallet, settings.score_rate_limit,
                     f"too many credit applications: at most {settings.score_rate_limit} per hour")]  # fmt: skip
    if network := network_of(_client(http)):
        counts.append(_Count("score-address", network, settings.score_address_rate_limit,
                             f"too many credit applications from this network address: at most "
                             f"{settings.score_address_rate_limit} per hour, whichever wallet sends them"))  # fmt: skip
    with _counted_if_decided(settings, *counts):
        yield


# The limits above, each a 429 with Retry-After: the OpenAPI document lists that answer on the routes
# that carry one (backend/api/contract.py).
RATE_LIMITS = frozenset({auth_rate_limit, health_rate_limit, chain_read_rate_limit, verify_rate_limit, kyc_rate_limit,
                         offer_rate_limit, score_rate_limit})  # fmt: skip
