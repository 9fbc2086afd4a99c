"""Two backup rounds at once (a worker whose lock connection dropped mid-round beside the standby
that took over, or `loanchain backup create` beside the worker): one backup is taken, and after an
erasure the KYC master key is rotated once, not once a round."""

from __future__ import annotations

import threading
from datetime import timedelta

import pytest

from backend.backup import schedule
from backend.backup.schedule import backup_dir, backup_step, scheduled_backups, take_backup
from backend.backup.service import verify_backup
from backend.backup.taking import taking
from backend.db.session import session_scope
from backend.errors import Conflict
from backend.identity.crypto.keyring import load_keyring
from backend.identity.kyc.lifecycle import erase_wallet
from backend.identity.kyc.submission import submit
from backend.identity.schemas import KycCreate
from tests.backup.test_schedule import T0
from tests.backup.test_schedule import settings as settings  # noqa: F401  (the fixture)
from tests.identity.conftest import make_applicant
from tests.workers.overlap import Meeting, at_once


def test_two_rounds_at_once_take_one_backup_and_rotate_the_master_key_once(settings, monkeypatch):  # noqa: F811
    erased, kept = make_applicant(811), make_applicant(812)
    for person in (erased, kept):
        with session_scope(settings) as session:
            submit(session, settings, person.account.address, KycCreate(**person.form()), [])
    assert backup_step(settings, T0) == 1
    with session_scope(settings) as session:
        erase_wallet(session, settings, erased.account.address, erased.account.address)
    keys_before = set(load_keyring(settings).keys)

    meeting, met = Meeting(), set()
    real_is_due = schedule.is_due

    def is_due(settings, now):  # both rounds find a backup due before either takes it
        if threading.get_ident() not in met:
            met.add(threading.get_ident())
            meeting()
        return real_is_due(settings, now)

    monkeypatch.setattr(schedule, "is_due", is_due)
    day = T0 + timedelta(days=1)
    results = at_once(lambda: backup_step(settings, day), lambda: backup_step(settings, day))
    assert meeting.met and sorted(results) == [0, 1], results

    newest, oldest = scheduled_backups(settings)
    assert (newest.taken_at, oldest.taken_at) == (day, T0) and verify_backup(settings, newest.path).tables
    assert not list(backup_dir(settings).glob("*.partial")) and not list(backup_dir(settings).glob("*.bad"))
    ring = load_keyring(settings)
    assert len(set(ring.keys) - keys_before) == 1 and keys_before <= set(ring.keys)  # one rotation; the old key waits


def test_a_backup_by_hand_while_one_is_being_taken_is_refused_and_the_round_skips(settings):  # noqa: F811
    with taking(backup_dir(settings)) as mine:  # as a round of the worker (or another command) holds it
        assert mine
        with pytest.raises(Conflict, match="a backup is being taken"):
            take_backup(settings, T0)
        assert backup_step(settings, T0) == 0
    assert scheduled_backups(settings) == []
    assert backup_step(settings, T0) == 1  # free again


def test_a_rotation_by_hand_while_the_worker_takes_a_backup_is_refused_and_changes_nothing(settings, monkeypatch):  # noqa: F811
    """`loanchain kyc rotate-key` beside the worker's own rotation after erasures: refused at once
    (no key added, nothing re-wrapped), and runs once the backup is done."""
    from typer.testing import CliRunner

    from backend.cli.main import app
    from backend.config import get_settings
    from backend.identity.crypto.rotation import keys_in_use
    from tests.anchoring.helpers import point_get_settings_at

    person = make_applicant(813)
    with session_scope(settings) as session:
        submit(session, settings, person.account.address, KycCreate(**person.form()), [])
    before = load_keyring(settings)
    runner = CliRunner()
    try:
        point_get_settings_at(monkeypatch, settings)
        with taking(backup_dir(settings)) as mine:  # as the backup worker's round holds it
            assert mine
            refused = runner.invoke(app, ["kyc", "rotate-key"])
            assert set(load_keyring(settings).keys) == set(before.keys)  # no key added meanwhile
            with session_scope(settings) as session:
                assert keys_in_use(session) == {before.active_id: 1}  # nothing re-wrapped
        rotated = runner.invoke(app, ["kyc", "rotate-key"])
    finally:
        monkeypatch.undo()
        get_settings.cache_clear()
    assert refused.exit_code == 2 and "a backup is being taken" in refused.output and "try the rotation again" in refused.output
    assert rotated.exit_code == 0, rotated.output
    after = load_keyring(settings).active_id
    with session_scope(settings) as session:
        assert after != before.active_id and keys_in_use(session) == {after: 1}
