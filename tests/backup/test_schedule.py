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


def _wrapped_keys_in(settings, path) -> dict[str, tuple[str, str, bytes]]:
    """kyc_records in a backup: wallet -> (record id, master key id, wrapped data key)."""
    import base64

    from backend.backup.service import _records, backup_keys

    found, columns, table = {}, [], None
    with open(path, "rb") as source:
        for record in _records(source, backup_keys(settings)):
            if "table" in record:
                table, columns = record["table"], record["columns"]
            elif "r" in record and table == "kyc_records":
                row = dict(zip(columns, record["r"], strict=True))
                if row["wrapped_key"]:
                    found[row["wallet"]] = (row["id"], row["key_id"], base64.b64decode(row["wrapped_key"]))
    return found


def test_after_an_erasure_the_master_key_is_rotated_and_retired_once_older_backups_aged_out(settings):
    """The review's reproduction: a backup taken before an erasure, read with the backup key, gave
    back the erased record's data key through the live keyring. Once the kept backups all postdate
    the rotation that followed the erasure, the old master key is gone and a copy kept aside is noise."""
    import shutil

    from backend.db.session import session_scope
    from backend.identity.crypto.envelope import unwrap_data_key
    from backend.identity.crypto.keyring import MasterKeyMissing, load_keyring
    from backend.identity.kyc.lifecycle import erase_wallet
    from backend.identity.kyc.submission import submit
    from backend.identity.schemas import KycCreate
    from tests.identity.conftest import make_applicant

    erased, kept = make_applicant(801), make_applicant(802)
    for person in (erased, kept):
        with session_scope(settings) as session:  # one submission per transaction, as in the API
            submit(session, settings, person.account.address, KycCreate(**person.form()), [])
    assert backup_step(settings, T0) == 1
    before = scheduled_backups(settings)[0].path
    off_site = before.with_name("off-site-copy.lcbk")
    shutil.copy(before, off_site)
    old_key = load_keyring(settings).active_id
    with session_scope(settings) as session:
        erase_wallet(session, settings, erased.account.address, erased.account.address)
    record_id, key_id, wrapped = _wrapped_keys_in(settings, off_site)[erased.account.address]
    assert unwrap_data_key(load_keyring(settings).key(key_id), key_id, record_id, wrapped)  # not shredded in backups yet

    assert backup_step(settings, T0 + timedelta(days=1)) == 1  # rotated first: this backup holds only new wraps
    ring = load_keyring(settings)
    assert ring.active_id != old_key and old_key in ring.keys  # kept: the day-0 backup still needs it
    newer = _wrapped_keys_in(settings, scheduled_backups(settings)[0].path)
    assert set(newer) == {kept.account.address} and newer[kept.account.address][1] == ring.active_id

    assert backup_step(settings, T0 + timedelta(days=2)) == 1  # keep 2: the day-0 backup is pruned
    assert all(b.taken_at > T0 for b in scheduled_backups(settings))
    ring = load_keyring(settings)
    assert old_key not in ring.keys  # retired: no kept backup predates the rotation
    with pytest.raises(MasterKeyMissing):
        ring.key(key_id)  # the off-site copy of the day-0 backup cannot give the erased person's key back
    assert backup_step(settings, T0 + timedelta(days=3)) == 1 and load_keyring(settings).active_id == ring.active_id  # no erasure since: no rotation
    from backend.identity.kyc.service import my_data

    with session_scope(settings) as session:
        assert my_data(session, settings, kept.account.address).data.full_name == kept.full_name


def test_a_worker_clock_with_microseconds_retires_the_replaced_key_on_time(settings):
    """The worker passes `datetime.now()`, which has microseconds, where a backup's name keeps whole
    seconds: the backup taken right after the rotation must count as after it, or the erased person's
    old master key outlives the promised window by a whole interval."""
    from backend.db.session import session_scope
    from backend.identity.crypto.keyring import load_keyring
    from backend.identity.kyc.lifecycle import erase_wallet
    from backend.identity.kyc.submission import submit
    from backend.identity.schemas import KycCreate
    from tests.identity.conftest import make_applicant

    start = T0 + timedelta(seconds=7, microseconds=654_321)
    erased = make_applicant(803)
    with session_scope(settings) as session:
        submit(session, settings, erased.account.address, KycCreate(**erased.form()), [])
    assert backup_step(settings, start) == 1
    old_key = load_keyring(settings).active_id
    with session_scope(settings) as session:
        erase_wallet(session, settings, erased.account.address, erased.account.address)
    assert backup_step(settings, start + timedelta(days=1)) == 1  # rotated, then this backup
    assert backup_step(settings, start + timedelta(days=2)) == 1  # keep 2: the day-0 backup is pruned
    assert all(b.taken_at > start for b in scheduled_backups(settings))
    assert old_key not in load_keyring(settings).keys  # no kept backup predates the rotation


def test_a_data_key_wrapped_under_the_old_master_key_during_the_rotation_does_not_keep_it_alive(settings, monkeypatch):
    """A KYC request loads the keyring, the worker rotates after an erasure, the request commits its
    record under the old key: that key must still be retired once the backups before the rotation
    aged out, and the late record stay readable."""
    import shutil

    from backend.db.session import session_scope
    from backend.identity.crypto.keyring import load_keyring
    from backend.identity.kyc import submission
    from backend.identity.kyc.lifecycle import erase_wallet
    from backend.identity.kyc.service import my_data
    from backend.identity.schemas import KycCreate
    from tests.identity.conftest import make_applicant

    erased, late = make_applicant(921), make_applicant(922)
    with session_scope(settings) as session:
        submission.submit(session, settings, erased.account.address, KycCreate(**erased.form()), [])
    assert backup_step(settings, T0) == 1
    off_site = scheduled_backups(settings)[0].path.with_name("off-site-copy.lcbk")
    shutil.copy(scheduled_backups(settings)[0].path, off_site)
    with session_scope(settings) as session:
        erase_wallet(session, settings, erased.account.address, erased.account.address)
    _record_id, old_key, _wrapped = _wrapped_keys_in(settings, off_site)[erased.account.address]

    in_flight = load_keyring(settings)
    assert backup_step(settings, T0 + timedelta(days=1)) == 1  # rotates after the erasure
    monkeypatch.setattr(submission, "load_keyring", lambda _s: in_flight)
    with session_scope(settings) as session:
        submission.submit(session, settings, late.account.address, KycCreate(**late.form()), [])
    monkeypatch.undo()

    for day in (2, 3):
        assert backup_step(settings, T0 + timedelta(days=day)) == 1
    assert old_key not in load_keyring(settings).keys  # the off-site copy's erased record is noise
    with pytest.raises(BackupUnreadable, match=old_key):  # and so is the rest of the copy
        _wrapped_keys_in(settings, off_site)
    assert all(key_id != old_key for _, key_id, _ in _wrapped_keys_in(settings, scheduled_backups(settings)[0].path).values())
    with session_scope(settings) as session:
        assert my_data(session, settings, late.account.address).data.full_name == late.full_name
    health = backup_health(settings, T0 + timedelta(days=3, hours=1))
    assert health["status"] == "ok" and "shredding_overdue_keys" not in health


def test_a_master_key_kept_past_its_retirement_deadline_is_logged_and_shown_in_health(settings, monkeypatch, caplog):
    """If data keys cannot be re-wrapped away from a key waiting to be retired (rows a long
    transaction keeps locked, which SKIP LOCKED passes over), the operator is told, not left to guess."""
    from backend.backup import shredding
    from backend.db.session import session_scope
    from backend.identity.crypto.keyring import load_keyring
    from backend.identity.crypto.rotation import RotationReport
    from backend.identity.kyc.lifecycle import erase_wallet
    from backend.identity.kyc.submission import submit
    from backend.identity.schemas import KycCreate
    from tests.identity.conftest import make_applicant

    erased, kept = make_applicant(931), make_applicant(932)
    for person in (erased, kept):
        with session_scope(settings) as session:
            submit(session, settings, person.account.address, KycCreate(**person.form()), [])
    assert backup_step(settings, T0) == 1
    old_key = load_keyring(settings).active_id
    with session_scope(settings) as session:
        erase_wallet(session, settings, erased.account.address, erased.account.address)
    monkeypatch.setattr(shredding, "rotate", lambda s, *a, **k: RotationReport(load_keyring(s).active_id, 0, 1))
    for day in (1, 2, 3):  # keep 2: due for retirement at day 2, past the deadline (keep + 1 intervals) after day 4
        assert backup_step(settings, T0 + timedelta(days=day)) == 1
    assert backup_health(settings, T0 + timedelta(days=3, hours=1))["status"] == "ok"
    assert not any(r.levelname == "ERROR" for r in caplog.records)
    assert backup_step(settings, T0 + timedelta(days=5)) == 1
    assert old_key in load_keyring(settings).keys  # still needed by the kept record's data key
    health = backup_health(settings, T0 + timedelta(days=5, hours=1))
    assert health["status"] == "shredding overdue" and health["shredding_overdue_keys"] == 1
    assert any(r.levelname == "ERROR" and old_key in r.getMessage() for r in caplog.records)


def test_retiring_a_master_key_a_kept_backup_still_needs_is_refused_unless_forced(settings, monkeypatch):
    """`rotate-key` suggests `retire-key`: retired at once, every kept backup would restore with no
    readable KYC data. The CLI names the backups that still need the key, and `--force` says what it costs."""
    from backend.db.session import session_scope
    from backend.identity.crypto.keyring import load_keyring
    from backend.identity.kyc.submission import submit
    from backend.identity.schemas import KycCreate
    from tests.identity.conftest import make_applicant

    person = make_applicant(941)
    with session_scope(settings) as session:
        submit(session, settings, person.account.address, KycCreate(**person.form()), [])
    assert backup_step(settings, T0) == 1
    kept = scheduled_backups(settings)[0].path.name
    old = load_keyring(settings).active_id
    runner = CliRunner()
    try:
        point_get_settings_at(monkeypatch, settings)
        rotated = runner.invoke(app, ["kyc", "rotate-key"])
        refused = runner.invoke(app, ["kyc", "retire-key", old])
        still = load_keyring(settings).keys
        forced = runner.invoke(app, ["kyc", "retire-key", old, "--force"])
    finally:
        monkeypatch.undo()
        get_settings.cache_clear()
    assert rotated.exit_code == 0 and "kept backups" in rotated.output
    assert refused.exit_code != 0 and kept in refused.output and old in still
    assert forced.exit_code == 0 and kept in forced.output and "unreadable" in forced.output
    assert old not in load_keyring(settings).keys


def test_a_failed_rotation_pass_still_retires_the_erased_persons_master_key_and_health_says_it_failed(settings, monkeypatch):
    """The review's H2: the re-wrap after an erasure fails once (SQLite "database is locked", a killed
    worker). The key the old backups need was recorded as retiring only after a successful re-wrap,
    so the next pass recorded the intermediate key instead: the original lived on, and /health said ok."""
    from sqlalchemy.exc import OperationalError

    from backend.backup import shredding
    from backend.db.session import session_scope
    from backend.identity.crypto.keyring import load_keyring
    from backend.identity.kyc.lifecycle import erase_wallet
    from backend.identity.kyc.submission import submit
    from backend.identity.schemas import KycCreate
    from tests.identity.conftest import make_applicant

    erased, kept = make_applicant(971), make_applicant(972)
    for person in (erased, kept):
        with session_scope(settings) as session:
            submit(session, settings, person.account.address, KycCreate(**person.form()), [])
    assert backup_step(settings, T0) == 1
    original = load_keyring(settings).active_id  # wraps the erased person's data key in the day-0 backup
    with session_scope(settings) as session:
        erase_wallet(session, settings, erased.account.address, erased.account.address)

    real_rotate = shredding.rotate

    def locked(*args, **kwargs):
        raise OperationalError("UPDATE kyc_records ...", {}, Exception("database is locked"))

    monkeypatch.setattr(shredding, "rotate", locked)
    with pytest.raises(OperationalError):
        backup_step(settings, T0 + timedelta(days=1))
    assert original in shredding._state(settings)["retiring"]  # recorded before the re-wrap was tried
    health = backup_health(settings, T0 + timedelta(days=1, minutes=1))
    assert health["status"] == "failed" and "database is locked" in health["last_error"]
    monkeypatch.setattr(shredding, "rotate", real_rotate)
    for day in range(1, 5):  # the worker carries on
        backup_step(settings, T0 + timedelta(days=day, hours=1))
    assert original not in load_keyring(settings).keys, "the master key of the erased person's old backups lives on"
    assert backup_health(settings, T0 + timedelta(days=4, hours=2))["status"] == "ok"


def test_after_a_restore_with_missing_keys_an_erasure_does_not_stop_the_backups(tmp_path, monkeypatch):
    """The review's M3: rows restored under a master key the keyring lacks (`--allow-missing-keys`)
    made every rotation raise, so after the next erasure each pass made a new master key and took no
    backup, while /health said `none yet` for good."""
    import shutil

    from backend.backup.service import create_backup, restore_backup
    from backend.db.session import session_scope
    from backend.identity.crypto.keyring import add_master_key, keyring_dir, load_keyring
    from backend.identity.crypto.rotation import retire, rotate
    from backend.identity.kyc.lifecycle import erase_wallet
    from backend.identity.kyc.submission import submit
    from backend.identity.schemas import KycCreate
    from tests.identity.conftest import make_applicant

    src = make_settings(tmp_path / "src", database_url=f"sqlite:///{tmp_path / 'src.db'}")
    migrate.upgrade(src)
    people = [make_applicant(900 + i) for i in range(3)]
    for person in people:
        with session_scope(src) as session:
            submit(session, src, person.account.address, KycCreate(**person.form()), [])
    backup = tmp_path / "old.lcbk"
    old = load_keyring(src).active_id
    add_master_key(src)  # the backup is sealed under the new key, its data keys still wrapped under the old
    create_backup(src, backup)
    rotate(src)
    retire(src, old)  # a lost key file, or `kyc retire-key --force`

    dst = make_settings(tmp_path / "dst", database_url=f"sqlite:///{tmp_path / 'dst.db'}").model_copy(update={"backup_keep": 2})
    shutil.copytree(src.keys_dir, dst.keys_dir)
    migrate.upgrade(dst)
    assert restore_backup(dst, backup, allow_missing_keys=True).missing_master_keys == [old]
    with session_scope(dst) as session:
        erase_wallet(session, dst, people[0].account.address, people[0].account.address)
    for day in range(3):
        assert backup_step(dst, T0 + timedelta(days=day)) == 1
    assert len(scheduled_backups(dst)) == 2
    assert len(list(keyring_dir(dst).glob("*.key"))) <= 3  # one rotation after the erasure, not one per pass
    assert backup_health(dst, T0 + timedelta(days=2, hours=1))["status"] == "ok"


def test_a_schedule_that_never_took_a_backup_is_stale_after_two_intervals(settings, monkeypatch):
    def broken(*args, **kwargs):
        raise RuntimeError("disk full")

    monkeypatch.setattr(schedule, "create_backup", broken)
    with pytest.raises(RuntimeError):
        backup_step(settings, T0)
    assert backup_health(settings, T0 + timedelta(hours=1))["status"] == "failed"
    (backup_dir(settings) / ".schedule.json").write_text(json.dumps({"first_attempt_at": T0.isoformat()}))
    assert backup_health(settings, T0 + timedelta(hours=47))["status"] == "none yet"
    assert backup_health(settings, T0 + timedelta(hours=49))["status"] == "stale"


def _backup_tables(settings, path, *names) -> dict[str, list[dict]]:
    """Rows of `names` in a backup, as dicts."""
    from backend.backup.service import _rows_of, backup_keys

    found, table, columns = {name: [] for name in names}, None, []
    for record in _rows_of(path, backup_keys(settings)):
        if "table" in record:
            table, columns = record["table"], record["columns"]
        elif "r" in record and table in found:
            found[table].append(dict(zip(columns, record["r"], strict=True)))
    return found


def test_an_off_site_copy_taken_before_an_erasure_cannot_be_read_at_all_once_its_master_key_is_retired(settings, tmp_path):
    """The privacy review's H1 reproduction: a scheduled backup copied off-site, then an erasure and the
    passes that rotate and retire the master key. With the backup key alone the copy still gave the
    erased person's credit application, watch-list hit and national-ID index. Now it does not open at
    all; the backups taken since hold none of it."""
    import shutil

    from backend.backup.service import _rows_of, backup_keys
    from backend.db.session import session_scope
    from backend.identity.crypto.keyring import load_keyring
    from backend.identity.kyc.lifecycle import erase_wallet
    from backend.identity.kyc.submission import submit
    from backend.identity.schemas import KycCreate
    from backend.scoring.schemas import ApplicationCreate
    from backend.scoring.service import score_application
    from tests.identity.conftest import make_applicant
    from tests.scoring.conftest import SAMPLE

    person = make_applicant(5151)
    wallet = person.account.address
    watch = tmp_path / "watch.csv"
    watch.write_text(f"id,name,aliases,dob,nationality,list\nOFAC-4711,{person.full_name},,{person.date_of_birth},CHN,OFAC SDN\n")
    settings = settings.model_copy(update={"kyc_watchlist_path": watch})
    with session_scope(settings) as session:
        submit(session, settings, wallet, KycCreate(**person.form()), [])
        score_application(session, ApplicationCreate(**SAMPLE), settings=settings, wallet=wallet)
    assert backup_step(settings, T0) == 1
    off_site = tmp_path / "off-site.lcbk"  # the README: copy the directory off the machine
    shutil.copy(scheduled_backups(settings)[0].path, off_site)
    before = _backup_tables(settings, off_site, "credit_decisions", "kyc_records")
    assert before["credit_decisions"][0]["inputs"] and before["kyc_records"][0]["blind_index"]  # what the copy held
    sealed_under = load_keyring(settings).active_id
    with session_scope(settings) as session:
        erase_wallet(session, settings, wallet, wallet)

    for day in range(1, 5):  # the schedule rotates, ages the old backups out and retires the old key
        assert backup_step(settings, T0 + timedelta(days=day)) == 1
    assert sealed_under not in load_keyring(settings).keys
    with pytest.raises(BackupUnreadable, match=sealed_under):
        next(iter(_rows_of(off_site, backup_keys(settings))))
    with pytest.raises(BackupUnreadable, match=sealed_under):
        verify_backup(settings, off_site)
    after = _backup_tables(settings, scheduled_backups(settings)[0].path, "credit_decisions", "kyc_records")
    (decision,) = after["credit_decisions"]
    (record,) = after["kyc_records"]
    assert (decision["inputs"], decision["wallet"], record["blind_index"], record["wrapped_key"]) == ({}, None, None, None)
    assert "OFAC" not in json.dumps(record["reasons"])


def test_a_master_key_a_hand_rotation_left_behind_is_retired_after_an_erasure_too(settings, tmp_path):
    """`kyc rotate-key` by hand leaves the old key in the keyring (until `retire-key`): an off-site copy
    sealed under it would stay readable whatever the erasures. The rotation after an erasure waits for
    every key the keyring holds, and retires them all once the kept backups postdate it."""
    import shutil

    from backend.backup.service import _rows_of, backup_keys
    from backend.db.session import session_scope
    from backend.identity.crypto.keyring import add_master_key, load_keyring
    from backend.identity.crypto.rotation import rotate
    from backend.identity.kyc.lifecycle import erase_wallet
    from backend.identity.kyc.submission import submit
    from backend.identity.schemas import KycCreate
    from tests.identity.conftest import make_applicant

    erased, kept = make_applicant(951), make_applicant(952)
    for person in (erased, kept):
        with session_scope(settings) as session:
            submit(session, settings, person.account.address, KycCreate(**person.form()), [])
    assert backup_step(settings, T0) == 1
    off_site = tmp_path / "off-site.lcbk"
    shutil.copy(scheduled_backups(settings)[0].path, off_site)
    first = load_keyring(settings).active_id
    add_master_key(settings)  # a rotation by hand, its old key never retired
    rotate(settings)
    for day in (1, 2):
        assert backup_step(settings, T0 + timedelta(days=day)) == 1
    assert first in load_keyring(settings).keys and all(b.taken_at > T0 for b in scheduled_backups(settings))
    with session_scope(settings) as session:
        erase_wallet(session, settings, erased.account.address, erased.account.address)
    for day in (3, 4):
        assert backup_step(settings, T0 + timedelta(days=day)) == 1
    ring = load_keyring(settings)
    assert list(ring.keys) == [ring.active_id]  # the hand-rotated key and the one after it, both gone
    with pytest.raises(BackupUnreadable, match=first):
        next(iter(_rows_of(off_site, backup_keys(settings))))
    from backend.identity.kyc.service import my_data

    with session_scope(settings) as session:
        assert my_data(session, settings, kept.account.address).data.full_name == kept.full_name


def _env_keys(*names: str) -> dict:
    """LOANCHAIN_KYC_MASTER_KEYS with these key ids, first active (each id's key fixed by its name)."""
    import base64
    import hashlib

    from pydantic import SecretStr

    spec = ",".join(f"{name}:{base64.b64encode(hashlib.sha256(name.encode()).digest()).decode()}" for name in names)
    return {"kyc_master_keys": SecretStr(spec)}


def test_with_master_keys_from_the_environment_an_erasure_not_rotated_out_is_overdue_in_health(settings, tmp_path, caplog):
    """The privacy review's M5: with LOANCHAIN_KYC_MASTER_KEYS the worker rotates nothing and recorded
    nothing, so an erasure stayed readable in every backup while /health said ok. Now each pass
    records the keys the older backups need since the first erasure not covered, warns, and /health
    says `shredding overdue` once the backups' retention has passed since it; the keys the operator
    drops from the environment take the backups sealed under them along."""
    import logging
    import shutil

    from backend.backup import shredding
    from backend.backup.service import _rows_of, backup_keys
    from backend.db.session import session_scope
    from backend.identity.crypto.rotation import rotate
    from backend.identity.kyc.erasures import read_log
    from backend.identity.kyc.lifecycle import erase_wallet
    from backend.identity.kyc.submission import submit
    from backend.identity.schemas import KycCreate
    from tests.identity.conftest import make_applicant

    env = settings.model_copy(update=_env_keys("env-1"))
    erased, kept = make_applicant(961), make_applicant(962)
    for person in (erased, kept):
        with session_scope(env) as session:
            submit(session, env, person.account.address, KycCreate(**person.form()), [])
    t0 = datetime.now(UTC).replace(microsecond=0) - timedelta(hours=1)
    assert backup_step(env, t0) == 1
    off_site = tmp_path / "off-site.lcbk"
    shutil.copy(scheduled_backups(env)[0].path, off_site)
    with session_scope(env) as session:
        erase_wallet(session, env, erased.account.address, erased.account.address)
    erased_at = read_log(env).entries[-1].erased_at

    with caplog.at_level(logging.WARNING, logger="loanchain.backup"):
        assert backup_step(env, t0 + timedelta(days=1)) == 1
    assert any("LOANCHAIN_KYC_MASTER_KEYS" in r.getMessage() and "env-1" in r.getMessage() for r in caplog.records)
    assert shredding._state(env)["retiring"] == {"env-1": erased_at.isoformat()}  # the erasure's time, recorded
    assert backup_health(env, t0 + timedelta(days=1, hours=1))["status"] == "ok"  # within the retention (keep 2 x 24 h)
    overdue = backup_health(env, erased_at + timedelta(days=2, hours=1))
    assert overdue["status"] == "shredding overdue" and overdue["shredding_overdue_keys"] == 1
    assert overdue["shredding"].startswith("operator rotation overdue since")

    rotated = settings.model_copy(update=_env_keys("env-2", "env-1"))  # the operator puts a new key first...
    assert rotate(rotated).remaining == 0  # ...and runs `kyc rotate-key --no-new-key`
    for day in (2, 3):
        assert backup_step(rotated, t0 + timedelta(days=day)) == 1
    assert shredding._state(rotated)["retiring"] == {"env-1": erased_at.isoformat()}  # the new key is not waited for
    assert backup_health(rotated, t0 + timedelta(days=3, hours=1))["status"] == "shredding overdue"  # env-1 still there
    assert next(iter(_rows_of(off_site, backup_keys(rotated))))  # and so the off-site copy still opens

    dropped = settings.model_copy(update=_env_keys("env-2"))  # dropped once no kept backup is sealed under it
    assert all(b.taken_at > t0 + timedelta(days=1) for b in scheduled_backups(dropped))
    assert backup_step(dropped, t0 + timedelta(days=4)) == 1
    assert shredding._state(dropped)["retiring"] == {}
    health = backup_health(dropped, t0 + timedelta(days=4, hours=1))
    assert health["status"] == "ok" and "shredding" not in health
    with pytest.raises(BackupUnreadable, match="env-1"):
        next(iter(_rows_of(off_site, backup_keys(dropped))))
    for backup in scheduled_backups(dropped):
        assert verify_backup(dropped, backup.path).tables


def test_with_master_keys_from_the_environment_a_key_put_first_right_after_an_erasure_is_not_waited_for(settings):
    """An operator who rotates as soon as the erasure is made, before the next pass: the new key sealed
    no backup from before the erasure, so only the old keys wait to be dropped."""
    from backend.backup import shredding
    from backend.db.session import session_scope
    from backend.identity.crypto.rotation import rotate
    from backend.identity.kyc.lifecycle import erase_wallet
    from backend.identity.kyc.submission import submit
    from backend.identity.schemas import KycCreate
    from tests.identity.conftest import make_applicant

    env = settings.model_copy(update=_env_keys("env-1"))
    person = make_applicant(963)
    with session_scope(env) as session:
        submit(session, env, person.account.address, KycCreate(**person.form()), [])
    assert backup_step(env, T0) == 1
    with session_scope(env) as session:
        erase_wallet(session, env, person.account.address, person.account.address)
    rotated = settings.model_copy(update=_env_keys("env-2", "env-1"))
    rotate(rotated)
    assert backup_step(rotated, T0 + timedelta(days=1)) == 1
    assert set(shredding._state(rotated)["retiring"]) == {"env-1"}
