"""A transaction is all or nothing on both databases, savepoints included: a row written in a
nested transaction (as the outbox writes an intent) is gone when the transaction around it rolls
back. On SQLite this needs the BEGIN that Python's sqlite3 leaves out before a SAVEPOINT."""

from __future__ import annotations

import pytest

from backend.chain.models import Intent, IntentStatus
from backend.db import migrate
from backend.db.session import session_scope
from tests.conftest import make_settings


class Boom(Exception):
    pass


def _intent(key: str) -> Intent:
    return Intent(key=key, contract="MockStablecoin", function="faucet", args=[], value=0, status=IntentStatus.PENDING,
                  replaced_tx_hashes=[], attempts=0)  # fmt: skip


def _keys(settings) -> list[str]:
    with session_scope(settings) as session:
        return sorted(session.scalars(Intent.__table__.select().with_only_columns(Intent.key)))


def test_a_savepoint_write_rolls_back_with_its_transaction(database_url, tmp_path):
    settings = make_settings(tmp_path, database_url=database_url)
    migrate.upgrade(settings)
    with pytest.raises(Boom), session_scope(settings) as session:
        session.execute(Intent.__table__.select())  # a read first, as services do
        with session.begin_nested():
            session.add(_intent("first-write-in-a-savepoint"))
        raise Boom
    assert _keys(settings) == []

    with session_scope(settings) as session:  # and a savepoint that fails alone leaves the rest
        session.add(_intent("kept"))
        session.flush()
        with pytest.raises(Boom), session.begin_nested():
            session.add(_intent("undone"))
            session.flush()
            raise Boom
    assert _keys(settings) == ["kept"]
