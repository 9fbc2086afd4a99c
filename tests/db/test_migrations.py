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
