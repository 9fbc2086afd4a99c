"""The session's template databases (tests/db_template.py) stand in for a from-scratch upgrade:
a clone has the schema, seed rows and revision that running every migration gives, and it is
only taken for an empty database."""

from __future__ import annotations

import re
import sqlite3

import pytest
from sqlalchemy import MetaData, inspect, select, text

from backend.db import migrate
from backend.db.session import get_engine
from tests.conftest import make_settings
from tests.db_template import real_upgrade


def _schema(settings) -> dict:
    insp = inspect(get_engine(settings))
    schema = {}
    for table in sorted(insp.get_table_names()):
        schema[table] = dict(
            columns=[(c["name"], str(c["type"]), c["nullable"], str(c.get("default"))) for c in insp.get_columns(table)],
            pk=insp.get_pk_constraint(table),
            fks=sorted(map(repr, insp.get_foreign_keys(table))),
            indexes=sorted(map(repr, insp.get_indexes(table))),
            uniques=sorted(map(repr, insp.get_unique_constraints(table))),
            checks=sorted(map(repr, insp.get_check_constraints(table))),
        )
    return schema


def _rows(settings) -> dict:
    meta = MetaData()
    meta.reflect(get_engine(settings))
    with get_engine(settings).connect() as conn:
        rows = {name: sorted(map(tuple, conn.execute(select(t)))) for name, t in meta.tables.items()}
    rows["meta"] = [row[:2] for row in rows["meta"]]  # (key, value): `updated_at` is the clock when each was made
    return rows


def _sqlite_dump(settings) -> list[str]:
    path = settings.database_url.split("///", 1)[1]
    with sqlite3.connect(path) as conn:
        # a meta row's updated_at is the clock when it was made (migration 0038 seeds one)
        return [re.sub(r"""^(INSERT INTO "meta" VALUES\('[^']*','[^']*'),'[^']*'\);$""", r"\1);", line) for line in conn.iterdump()]


@pytest.mark.real_migrations  # the reference side must run every migration
def test_a_clone_is_what_running_every_migration_gives(database_url, db_templates, tmp_path, request, monkeypatch):
    migrated = make_settings(tmp_path / "migrated", database_url=database_url)
    real_upgrade(migrated)

    # Other settings than the template was made with: a clone does not depend on them.
    if database_url.startswith("sqlite"):
        clone_url = f"sqlite:///{tmp_path / 'clone.db'}"
    else:
        name = database_url.rsplit("/", 1)[1] + "_clone"
        with db_templates.admin().connect() as conn:
            conn.execute(text(f'CREATE DATABASE "{name}"'))
        request.addfinalizer(lambda: _drop(db_templates, name))
        clone_url = database_url.rsplit("/", 1)[0] + f"/{name}"
    clone = make_settings(tmp_path / "clone", database_url=clone_url)
    (db_templates.sqlite_template if clone_url.startswith("sqlite") else db_templates.pg_template)(migrated)
    ran = []
    monkeypatch.setattr("tests.db_template.real_upgrade", lambda s, r="head": ran.append(r) or real_upgrade(s, r))
    db_templates.enabled = True  # this test is marked real_migrations: clone explicitly
    try:
        db_templates.upgrade(clone)
    finally:
        db_templates.enabled = False
    assert ran == [], "a clone, not a migration"

    assert migrate.current_revision(clone) == migrate.current_revision(migrated) == migrate.head_revision(migrated)
    assert _schema(clone) == _schema(migrated)
    assert _rows(clone) == _rows(migrated)
    assert _rows(clone)["audit_head"], "the seed row is there"
    if database_url.startswith("sqlite"):
        # sorted: even two real runs create some indexes in another order (batch ops recreate tables)
        assert sorted(_sqlite_dump(clone)) == sorted(_sqlite_dump(migrated))
    assert not (tmp_path / "clone" / "var").exists(), "cloning leaves nothing behind outside the database"


def _drop(templates, name: str) -> None:
    from backend.db.session import _engine

    _engine.cache_clear()
    with templates.admin().connect() as conn:
        conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


@pytest.mark.real_migrations  # an empty database to start from
def test_a_database_that_is_not_empty_is_migrated_for_real(database_url, db_templates, tmp_path, monkeypatch):
    settings = make_settings(tmp_path, database_url=database_url)
    real_upgrade(settings, "0006_lending")
    ran = []
    monkeypatch.setattr("tests.db_template.real_upgrade", lambda s, r="head": ran.append(r) or real_upgrade(s, r))
    db_templates.enabled = True
    try:
        db_templates.upgrade(settings)
    finally:
        db_templates.enabled = False
    assert ran == ["head"]
    assert migrate.current_revision(settings) == migrate.head_revision(settings)


def test_a_postgres_database_of_the_fixture_is_a_clone_at_head(database_url, db_templates, tmp_path, monkeypatch):
    settings = make_settings(tmp_path, database_url=database_url)
    ran = []
    monkeypatch.setattr("tests.db_template.real_upgrade", lambda s, r="head": ran.append(r) or real_upgrade(s, r))
    migrate.upgrade(settings)
    assert ran == []
    assert migrate.current_revision(settings) == migrate.head_revision(settings)
