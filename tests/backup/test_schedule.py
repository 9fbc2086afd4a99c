"""Scheduled backups: the worker's step takes one when the newest is older than the interval, and
only then; each is verified, the newest `backup_keep` are kept (other files untouched), a backup
that fails verification is set aside as `.bad`, health says when the schedule fell behind, and the
CLI takes one the same way and lists them."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import pytest
from typer.testing import CliRunner

from backend.backup import schedule
from backend.backup.schedule import backup_dir, backup_health, backup_step, scheduled_backups
from backend.backup.service import verify_backup
from backend.backup.stream import BackupUnreadable
from backend.cli.main import app
from backend.config import get_settings
from backend.db import migrate
from backend.services.health import health_report
from backend.workers.registry import WORKERS
from tests.anchoring.helpers import point_get_settings_at
from tests.conftest import make_settings

T0 = datetime(2026, 11, 29, 3, 0, tzinfo=UTC)


@pytest.fixture
def settings(tmp_path, database_url):
    settings = make_settings(tmp_path, database_url=database_url).model_copy(update={"backup_keep": 2})
    migrate.upgrade(settings)
    return settings


def test_a_backup_is_taken_when_due_verified_and_the_newest_kept(settings):
    assert "backup" in WORKERS
    stray = backup_dir(settings) / "by-hand.lcbk"
    stray.parent.mkdir(parents=True)
    stray.write_bytes(b"an operator's own file")
    assert backup_health(settings, T0)["status"] == "none yet"

    assert backup_step(settings, T0) == 1
    assert backup_step(settings, T0 + timedelta(hours=23, minutes=59)) == 0  # not due yet
    (first,) = scheduled_backups(settings)
    assert first.path.name == "loanchain-20261129T030000Z.lcbk" and verify_backup(settings, first.path).tables
    assert backup_health(settings, T0 + timedelta(hours=1))["status"] == "ok"
    assert backup_health(settings, T0 + timedelta(hours=49))["status"] == "stale"

    for day in (1, 2):
        assert backup_step(settings, T0 + timedelta(days=day)) == 1
    kept = scheduled_backups(settings)
    assert [b.taken_at for b in kept] == [T0 + timedelta(days=2), T0 + timedelta(days=1)]  # keep 2, newest first
    assert not first.path.exists() and stray.exists()
    health = backup_health(settings, T0 + timedelta(days=2, hours=1))
    assert (health["status"], health["latest"], health["kept"]) == ("ok", kept[0].path.name, 2)


def test_a_backup_failing_verification_is_set_aside_and_the_good_ones_stay(settings, monkeypatch):
    assert backup_step(settings, T0) == 1

    def broken(*_):
        raise BackupUnreadable("authentication failed")

    monkeypatch.setattr(schedule, "verify_backup", broken)
    with pytest.raises(BackupUnreadable):
        backup_step(settings, T0 + timedelta(days=1))
    assert [b.taken_at for b in scheduled_backups(settings)] == [T0]
    assert (backup_dir(settings) / "loanchain-20261130T030000Z.lcbk.bad").exists()


def test_off_means_no_backups_and_health_says_so(settings):
    off = settings.model_copy(update={"backup_interval_hours": 0})
    assert backup_step(off, T0) == 0 and scheduled_backups(off) == []
    assert backup_health(off, T0) == {"ok": True, "status": "off"}
    assert health_report(off)["backups"] == {"ok": True, "status": "off"}


def test_the_cli_takes_one_into_the_schedule_and_lists_them(settings, monkeypatch):
    runner = CliRunner()
    try:
        point_get_settings_at(monkeypatch, settings)
        taken = runner.invoke(app, ["backup", "create", "--json"])
        listed = runner.invoke(app, ["backup", "list", "--json"])
    finally:
        monkeypatch.undo()
        get_settings.cache_clear()
    assert taken.exit_code == 0, taken.output
    made = json.loads(taken.stdout)
    report = json.loads(listed.stdout)
    assert made["verified"] and [b["file"] for b in report["backups"]] == [made["path"].rsplit("/", 1)[-1]]
    assert report["health"]["status"] == "ok"
