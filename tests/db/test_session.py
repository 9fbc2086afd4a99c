"""A transaction is all or nothing on both databases, savepoints included: a row written in a
nested transaction (as the outbox writes an intent) is gone when the transaction around it rolls
back. On SQLite this needs the BEGIN that Python's sqlite3 leaves out before a SAVEPOINT."""

from __future__ import annotations

import pytest
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import make_transient

from backend.chain.models import Intent, IntentStatus
from backend.db import migrate
from backend.db.session import session_scope
from backend.scoring.models import CreditDecision
from backend.scoring.schemas import ApplicationCreate
from backend.scoring.service import score_application
from tests.conftest import make_settings
from tests.scoring.conftest import SAMPLE


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


def test_a_database_error_names_the_statement_never_its_values(database_url, tmp_path):
    """Privacy review L1: an error's text reaches the logs (a 500's traceback, a worker's str(exc)),
    and with the values it carried an application's declared finances and its wallet."""
    settings = make_settings(tmp_path, database_url=database_url)
    migrate.upgrade(settings)
    wallet = "0x" + "11" * 20
    with session_scope(settings) as session:
        decided = score_application(session, ApplicationCreate(**SAMPLE), settings=settings, wallet=wallet)
    with pytest.raises(IntegrityError) as failed, session_scope(settings) as session:
        row = session.get(CreditDecision, decided.id)
        session.expunge(row)
        make_transient(row)
        session.add(row)  # the same id again
    text = str(failed.value)
    assert "INSERT INTO credit_decisions" in text and "parameters hidden" in text
    assert [value for value in ("monthly_debt_payments", "used_car", wallet, decided.input_hash) if value in text] == []
