"""The blind-index key (duplicate national IDs, four-eyes persons, the origin index, decision salts)
is never made up where no one can carry it, and a key other than the one the database's indexes
were made under is refused instead of silently matching nothing."""

from __future__ import annotations

import base64
import secrets

import pytest

from backend.db import migrate
from backend.db.session import session_scope
from backend.errors import ConfigurationError
from backend.identity.crypto.blind_index import blind_index_key
from backend.identity.kyc.submission import submit
from backend.identity.persons import same_person
from backend.identity.schemas import KycCreate
from tests.conftest import make_settings
from tests.identity.conftest import make_applicant


def _b64() -> str:
    return base64.b64encode(secrets.token_bytes(32)).decode()


def test_off_a_local_chain_a_missing_blind_index_key_is_refused_not_generated(tmp_path):
    settings = make_settings(tmp_path, chain_id=1, kyc_master_keys="k1:" + _b64(), backup_key=_b64())
    migrate.upgrade(settings)
    with pytest.raises(ConfigurationError, match="LOANCHAIN_KYC_BLIND_INDEX_KEY"):
        blind_index_key(settings)
    assert not (settings.keys_dir / "blind-index.key").exists()


def test_a_blind_index_key_other_than_the_databases_is_refused(tmp_path):
    """The first use records the key's fingerprint in the database; a host configured with another
    key (a restore without the key file, a second API host with its own var/) is refused, so the
    same national ID on a second wallet still counts as a duplicate of the first."""
    common = dict(database_url=f"sqlite:///{tmp_path / 'db.db'}", chain_id=1, kyc_master_keys="k1:" + _b64(),
                  jwt_secret=_b64())  # fmt: skip
    first = make_settings(tmp_path / "host1", kyc_blind_index_key=_b64(), **common)
    migrate.upgrade(first)
    owner, impostor = make_applicant(911), make_applicant(912)
    with session_scope(first) as session:
        assert submit(session, first, owner.account.address, KycCreate(**owner.form()), []).status == "approved"

    other = make_settings(tmp_path / "host2", kyc_blind_index_key=_b64(), **common)
    impostor.id_number, impostor.date_of_birth = owner.id_number, owner.date_of_birth
    with pytest.raises(ConfigurationError, match="fingerprint"), session_scope(other) as session:
        submit(session, other, impostor.account.address, KycCreate(**impostor.form()), [])

    with session_scope(first) as session:  # the right key still finds the duplicate
        second = submit(session, first, impostor.account.address, KycCreate(**impostor.form()), [])
        assert second.status == "needs_review" and "DUPLICATE_IDENTITY" in [r["code"] for r in second.reasons]
        assert same_person(session, owner.account.address, impostor.account.address)
