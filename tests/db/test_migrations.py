from sqlalchemy import inspect

from backend.db import migrate
from backend.db.session import get_engine
from tests.conftest import make_settings


def test_upgrade_downgrade_upgrade(database_url, tmp_path):
    settings = make_settings(tmp_path, database_url=database_url)
    migrate.upgrade(settings)
    assert migrate.current_revision(settings) == migrate.head_revision(settings)
    assert "meta" in inspect(get_engine(settings)).get_table_names()
    migrate.downgrade(settings, "base")
    assert migrate.current_revision(settings) is None
    assert "meta" not in inspect(get_engine(settings)).get_table_names()
    migrate.upgrade(settings)
    assert migrate.current_revision(settings) == migrate.head_revision(settings)


def test_models_match_migrations(database_url, tmp_path):
    """Every table the models declare is created by the migrations, on both databases."""
    from backend.db.models import Base

    settings = make_settings(tmp_path, database_url=database_url)
    migrate.upgrade(settings)
    tables = set(inspect(get_engine(settings)).get_table_names())
    assert set(Base.metadata.tables) <= tables


def test_notices_given_before_investor_notices_keep_their_borrower_as_recipient(database_url, tmp_path):
    from sqlalchemy import text

    settings = make_settings(tmp_path, database_url=database_url)
    migrate.upgrade(settings, "0008_notice_delivery")
    borrower = "0x" + "ab" * 20
    with get_engine(settings).begin() as conn:
        conn.execute(text(
            "INSERT INTO servicing_notices (loan_id, borrower, installment, kind, due_date, amount, message,"
            " created_at, email_attempts) VALUES (7, :b, 1, 'overdue', 0, 5, 'late', CURRENT_TIMESTAMP, 0)"
        ), {"b": borrower})  # fmt: skip
    migrate.upgrade(settings)
    with get_engine(settings).begin() as conn:
        assert conn.execute(text("SELECT recipient FROM servicing_notices")).scalar_one() == borrower
    migrate.downgrade(settings, "0008_notice_delivery")  # and back: the borrower's notice survives
    with get_engine(settings).begin() as conn:
        assert conn.execute(text("SELECT count(*) FROM servicing_notices")).scalar_one() == 1
