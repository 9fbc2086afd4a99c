"""Identity fixtures: settings with a migrated database, an API client, signed-in wallets, applicants."""

from __future__ import annotations

import random
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import pytest
from eth_account import Account
from eth_account.messages import encode_defunct
from eth_account.signers.local import LocalAccount
from fastapi.testclient import TestClient

from backend.config import Settings, get_settings
from backend.db import migrate
from backend.identity.checks.national_id import prc_check_char
from backend.identity.eip4361 import SiweMessage
from tests.conftest import make_settings

ADMIN = Account.from_key("0x" + "a1" * 32)  # a throwaway key: admin by configuration in these tests
# High limits (the limit tests set their own) and no in-process workers: tests drive the outbox.
GENEROUS = dict(
    auth_rate_limit=100_000, kyc_rate_limit=100_000, kyc_velocity_per_wallet=1000, kyc_velocity_per_id=1000,
    score_rate_limit=100_000, score_address_rate_limit=100_000, verify_rate_limit=100_000,
    chain_read_rate_limit=100_000, offer_rate_limit=100_000,
    run_workers=False,
)


def identity_settings(base: Path, database_url: str, **overrides) -> Settings:
    values = dict(database_url=database_url, admin_wallets=[ADMIN.address], **GENEROUS)
    values.update(overrides)
    settings = make_settings(base, **values)
    migrate.upgrade(settings)
    return settings


@pytest.fixture
def settings(tmp_path) -> Settings:
    """SQLite, no chain: for rules that do not depend on the database or the chain."""
    return identity_settings(tmp_path, f"sqlite:///{tmp_path / 'identity.db'}")


@pytest.fixture
def any_db_settings(tmp_path, database_url) -> Settings:
    """The same on SQLite and on PostgreSQL."""
    return identity_settings(tmp_path, database_url)


@pytest.fixture
def chain_identity_settings(chain_settings, deployment, tmp_path, snapshot) -> Settings:
    """The session chain (reverted after the test) with this test's own database and keys."""
    settings = chain_settings.model_copy(
        update=dict(var_dir=tmp_path / "var", database_url=f"sqlite:///{tmp_path / 'identity.db'}", admin_wallets=[ADMIN.address], **GENEROUS)
    )
    migrate.upgrade(settings)
    return settings


def client_for(settings: Settings, address: str = "testclient") -> TestClient:
    """A client of the app on `settings`, calling from network `address` (as uvicorn reports it)."""
    from backend.api.main import create_app

    app = create_app(settings)
    app.dependency_overrides[get_settings] = lambda: settings
    return TestClient(app, raise_server_exceptions=False, client=(address, 50000))


@pytest.fixture
def client(settings) -> Iterator[TestClient]:
    with client_for(settings) as c:
        yield c


# --- sign-in --------------------------------------------------------------------------------


def siwe_text(account: LocalAccount, nonce: str, *, domain="localhost:8000", chain_id=31337, issued_at=None, expires_in=300) -> str:
    issued = issued_at or datetime.now(UTC)
    return SiweMessage(
        domain=domain,
        address=account.address,
        uri=f"http://{domain}",
        chain_id=chain_id,
        nonce=nonce,
        issued_at=issued,
        expiration_time=issued + timedelta(seconds=expires_in),
        statement="Sign in to loanchain.",
    ).to_text()


def sign(account: LocalAccount, text: str) -> str:
    return "0x" + account.sign_message(encode_defunct(text=text)).signature.hex().removeprefix("0x")


def login(client: TestClient, account: LocalAccount, **message_args):
    nonce = client.get("/api/v1/auth/nonce").json()["nonce"]
    text = siwe_text(account, nonce, **message_args)
    return client.post("/api/v1/auth/login", json={"message": text, "signature": sign(account, text)})


def bearer(client: TestClient, account: LocalAccount) -> dict[str, str]:
    response = login(client, account)
    assert response.status_code == 200, response.json()
    return {"Authorization": f"Bearer {response.json()['access_token']}"}


def minted_bearer(settings: Settings, account: LocalAccount) -> dict[str, str]:
    """A token without the SIWE round trip, for tests that sign in many wallets (SIWE is tested apart)."""
    from backend.db.session import session_scope
    from backend.identity.models import User
    from backend.identity.tokens import issue_pair

    with session_scope(settings) as session:
        session.merge(User(wallet=account.address))
        pair = issue_pair(session, settings, account.address)
    return {"Authorization": f"Bearer {pair.access_token}"}


# --- applicants -------------------------------------------------------------------------------

SYLLABLES = ["zor", "qui", "lam", "vex", "tor", "mir", "dak", "sel", "nuv", "rho", "kai", "bex", "ula", "fen", "yor"]


def prc_id(born: date, rng: random.Random) -> str:
    first17 = f"110105{born:%Y%m%d}{rng.randrange(1000):03d}"
    return first17 + prc_check_char(first17)


@dataclass
class Applicant:
    full_name: str
    date_of_birth: date
    id_number: str
    phone: str
    email: str
    nationality: str = "CHN"
    id_type: str = "prc_resident_id"
    address_line: str = "12 Quiet Lane, Building 3"
    city: str = "Beijing"
    postal_code: str = "100020"
    country: str = "CHN"
    account: LocalAccount = field(default_factory=Account.create)

    def form(self) -> dict[str, str]:
        return {
            "full_name": self.full_name,
            "date_of_birth": self.date_of_birth.isoformat(),
            "nationality": self.nationality,
            "id_type": self.id_type,
            "id_number": self.id_number,
            "address_line": self.address_line,
            "city": self.city,
            "postal_code": self.postal_code,
            "country": self.country,
            "phone": self.phone,
            "email": self.email,
        }


def make_applicant(seed: int, *, born: date | None = None) -> Applicant:
    rng = random.Random(seed)
    first = "".join(rng.choice(SYLLABLES) for _ in range(3)).capitalize()
    last = "".join(rng.choice(SYLLABLES) for _ in range(4)).capitalize()
    born = born or date(rng.randint(1950, 2000), rng.randint(1, 12), rng.randint(1, 28))
    return Applicant(
        full_name=f"{first} {last}",
        date_of_birth=born,
        id_number=prc_id(born, rng),
        phone=f"+86138{rng.randrange(10**8):08d}",
        email=f"{first.lower()}.{last.lower()}{seed}@example.org",
        # A home of its own: many applicants at one address go to review (SHARED_CONTACT).
        address_line=f"{seed} Quiet Lane, Building 3",
    )


def submit(client: TestClient, applicant: Applicant, headers: dict | None = None, files=None):
    headers = headers or bearer(client, applicant.account)
    return client.post("/api/v1/kyc", data=applicant.form(), files=files, headers=headers)


PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 64
JPEG = b"\xff\xd8\xff\xe0" + b"\x00" * 64
PDF = b"%PDF-1.7\n" + b"\x00" * 64


def verify(settings: Settings, wallet: str, applicant: Applicant, *approvers: str, documents: tuple[bytes, ...] = ()) -> None:
    """`wallet` verified with `applicant`'s identity, through the service; a record held for review
    (ID documents to look at; the same national ID as another wallet's: the same person's second
    wallet) is approved by `approvers` (admins of other persons; two for a duplicate ID), each
    opening its documents first as a reviewer must."""
    from backend.db.session import session_scope
    from backend.identity.kyc.submission import submit as submit_record
    from backend.identity.schemas import KycCreate

    with session_scope(settings) as session:
        record = submit_record(session, settings, wallet, KycCreate(**applicant.form()), list(documents))
        record_id, status = record.id, record.status
    if status == "needs_review" and approvers:
        status = approve_with_documents(settings, record_id, *approvers)
    assert status == "approved", status


def approve_with_documents(settings: Settings, record_id: str, *admins: str, note: str = "the ID document shows this person") -> str:
    """Each of `admins` in turn opens every ID document of the record, then approves it, as a
    reviewer does (through the services; `approve_over_api` through the API); the record's status."""
    from backend.db.session import session_scope
    from backend.identity.kyc import documents, review
    from backend.identity.models import KycRecord

    status = None
    for admin in admins:
        with session_scope(settings) as session:
            for index in range(session.get(KycRecord, record_id).document_count):
                documents.open_document(session, settings, record_id, index, admin)
            status = review.approve(session, settings, record_id, admin, note).status
    return status


def approve_over_api(client: TestClient, record_id: str, admin: LocalAccount = ADMIN) -> dict:
    """`admin` signs in, opens each ID document of the record and approves it, as on the staff page;
    the record as the approval answers it."""
    headers = bearer(client, admin)
    record = client.get(f"/api/v1/admin/kyc/{record_id}", headers=headers).json()["record"]
    for index in range(record["document_count"]):
        opened = client.get(f"/api/v1/admin/kyc/{record_id}/documents/{index}", headers=headers)
        assert opened.status_code == 200, opened.text
    approved = client.post(f"/api/v1/admin/kyc/{record_id}/approve", json={"note": "the ID document shows this person"},
                           headers=headers)  # fmt: skip
    assert approved.status_code == 200, approved.json()
    return approved.json()
