"""Encrypted backups: what is restored equals what was backed up, row for row, on SQLite and on
PostgreSQL (from a SQLite source); KYC records stay readable with the same master keys; the audit
log still verifies; and a damaged, truncated, foreign or misplaced backup changes nothing."""

from __future__ import annotations

import base64
import json
import random
import shutil
from datetime import timedelta

import pytest
from sqlalchemy import func, select
from typer.testing import CliRunner

from backend.anchoring.documents import anchor_document
from backend.anchoring.models import Document
from backend.audit import log as audit
from backend.audit.verify import RESTORED, verify_audit_log
from backend.backup.service import (
    _encode,
    _tables,
    backup_rows,
    create_backup,
    restore_backup,
    verify_backup,
)
from backend.backup.stream import CHUNK, BackupUnreadable
from backend.chain.restore_reconcile import HOLD
from backend.config import get_settings
from backend.content.store import get_content_store
from backend.db import migrate
from backend.db.session import get_engine, session_scope
from backend.errors import ConfigurationError, Conflict, NotFound
from backend.identity.kyc.erasures import erased_wallets, erasure_log
from backend.identity.kyc.lifecycle import erase_wallet
from backend.identity.kyc.service import my_data
from backend.identity.kyc.submission import submit
from backend.identity.models import KycRecord
from backend.identity.schemas import KycCreate
from backend.identity.tokens import SESSIONS_NOT_BEFORE
from backend.scoring.schemas import ApplicationCreate
from backend.scoring.service import score_application
from tests.anchoring.helpers import point_get_settings_at
from tests.conftest import make_settings
from tests.identity.conftest import PNG, make_applicant
from tests.scoring.conftest import SAMPLE

APPLICANTS = 6


@pytest.fixture
def source(tmp_path):
    """A SQLite platform with KYC records, credit decisions, anchored documents and their audit trail."""
    settings = make_settings(tmp_path / "source", database_url=f"sqlite:///{tmp_path / 'source.db'}")
    migrate.upgrade(settings)
    people = [make_applicant(700 + i) for i in range(APPLICANTS)]
    for person in people:
        with session_scope(settings) as session:
            submit(session, settings, person.account.address, KycCreate(**person.form()), [PNG])
            score_application(session, ApplicationCreate(**SAMPLE), settings=settings, wallet=person.account.address)
    with session_scope(settings) as session:
        for i in range(3):
            anchor_document(session, settings, f"agreement {i}".encode() * 1000)
        # incompressible and larger than one backup chunk, so a backup spans several
        anchor_document(session, settings, random.Random(7).randbytes(1_500_000))
    return settings, people


def _target(tmp_path, source_settings, database_url, name="target"):
    """An empty, migrated database on another host: only the keys are carried over, by hand."""
    settings = make_settings(tmp_path / name, database_url=database_url)
    shutil.copytree(source_settings.keys_dir, settings.keys_dir)
    migrate.upgrade(settings)
    return settings


def _added_by_a_restore(table: str, row) -> bool:
    """The marks a restore adds: the outbox's hold (the anchors' intents are restored unsent:
    tests/chain/test_restore_reconcile.py), the end of the sessions from before it, and its own
    audit entry (tests/audit/test_verify_restore.py), which moves the head on."""
    return ((table == "meta" and row.key in (HOLD, SESSIONS_NOT_BEFORE))
            or (table == "audit_entries" and row.action == RESTORED) or table == "audit_head")  # fmt: skip


def _contents(settings) -> dict[str, list]:
    """Every row, but those a restore adds."""
    with get_engine(settings).connect() as conn:
        return {
            t.name: [[_encode(v) for v in row] for row in conn.execute(select(t).order_by(*t.primary_key.columns))
                     if not _added_by_a_restore(t.name, row)]
            for t in _tables()
        }


def _rows(settings) -> int:
    with get_engine(settings).connect() as conn:
        return sum(conn.scalar(select(func.count()).select_from(t)) for t in _tables())


def test_a_restore_reproduces_every_row_and_keeps_kyc_readable(source, tmp_path, database_url):
    settings, people = source
    backup = tmp_path / "platform.lcbk"
    report = create_backup(settings, backup)
    assert report.tables["kyc_records"] == APPLICANTS and report.tables["credit_decisions"] == APPLICANTS
    assert report.blobs == 4  # the anchored documents (KYC ID documents are sealed inside the database)
    raw = backup.read_bytes()
    for secret in (people[0].full_name, people[0].id_number, people[0].email):
        assert secret.encode() not in raw and base64.b64encode(secret.encode()) not in raw

    target = _target(tmp_path, settings, database_url)
    fresh_rows = _rows(target)
    assert verify_backup(target, backup).tables == report.tables
    assert _rows(target) == fresh_rows  # verifying writes nothing
    restored = restore_backup(target, backup)
    assert restored.restored and restored.tables == report.tables
    assert restored.outbox_held == restored.tables["outbox_intents"]  # the anchors, unsent when backed up
    assert _contents(target) == _contents(settings)
    with session_scope(settings) as session, session_scope(target) as restored_session:
        head = audit.head(session).seq
        last = audit.entries(restored_session, after_seq=head)
        assert [(e.seq, e.action, e.subject) for e in last] == [(head + 1, RESTORED, f"backup-head:{head}")]

    with session_scope(target) as session:
        assert my_data(session, target, people[0].account.address).data.full_name == people[0].full_name
        assert verify_audit_log(session, target, check_anchors=False, scan_chain=False).ok
        new = anchor_document(session, target, b"written after the restore")  # ids continue after the restored ones
    assert new.created
    store = get_content_store(target)
    with session_scope(target) as session:
        for document in session.scalars(select(Document)):
            if document.cid:
                assert store.has(document.cid)


def test_a_backup_is_one_snapshot_while_the_platform_writes(source, tmp_path):
    """A write committed while the backup is being taken (after its first table) is wholly in or
    wholly out of it: out, as the backup's snapshot began before it. The header counts its rows."""
    settings, _ = source
    before, written = _contents(settings), []

    def write_once(_rows: int) -> None:
        if not written:
            with session_scope(settings) as session:
                written.append(anchor_document(session, settings, b"committed mid-backup"))

    backup = tmp_path / "during-writes.lcbk"
    report = create_backup(settings, backup, progress=write_once)
    assert written and _contents(settings) != before
    assert backup_rows(backup) == sum(report.tables.values())
    target = _target(tmp_path, settings, f"sqlite:///{tmp_path / 'snapshot-target.db'}")
    restore_backup(target, backup)
    assert _contents(target) == before


def _damaged(backup, tmp_path, how: str):
    data = bytearray(backup.read_bytes())
    if how == "flipped":
        data[len(data) // 2] ^= 0x01
    elif how == "truncated":
        data = data[:-40]
    elif how == "last chunk dropped":
        data = data[: data.index(b"\n", 20) + 1 + 4 + CHUNK + 16]  # keep only the first, non-final chunk
    elif how == "appended":
        data += b"\x00" * 8
    elif how == "header edited":
        data = data.replace(b'"format":2', b'"format":3', 1)
        assert bytes(data) != backup.read_bytes()
    out = tmp_path / f"{how.replace(' ', '-')}.lcbk"
    out.write_bytes(bytes(data))
    return out


@pytest.mark.parametrize("how", ["flipped", "truncated", "last chunk dropped", "appended", "header edited"])
def test_a_damaged_backup_is_refused_and_changes_nothing(source, tmp_path, how):
    settings, _ = source
    backup = tmp_path / "platform.lcbk"
    create_backup(settings, backup)
    if how == "last chunk dropped":
        assert backup.stat().st_size > CHUNK + 100, "the backup must span more than one chunk for this case"
    bad = _damaged(backup, tmp_path, how)
    target = _target(tmp_path, settings, f"sqlite:///{tmp_path / 'target.db'}")
    before = _contents(target)
    with pytest.raises(BackupUnreadable):
        verify_backup(target, bad)
    with pytest.raises(BackupUnreadable):
        restore_backup(target, bad)
    assert _contents(target) == before


def test_another_key_or_a_database_not_empty_or_not_its_own_is_refused_an_empty_one_at_any_revision_is_not(source, tmp_path):
    settings, _ = source
    backup = tmp_path / "platform.lcbk"
    create_backup(settings, backup)

    stranger = make_settings(tmp_path / "stranger", database_url=f"sqlite:///{tmp_path / 'stranger.db'}",
                             backup_key=base64.b64encode(b"k" * 32).decode())  # fmt: skip
    migrate.upgrade(stranger)
    with pytest.raises(BackupUnreadable, match="another backup key"):
        restore_backup(stranger, backup, without_erasure_log=True)  # (a host without the log: see below)

    with pytest.raises(Conflict, match="empty database"):
        restore_backup(settings, backup)  # the source itself holds rows

    # An empty database at another revision, or none at all, is made anew at the backup's.
    for name, revision in (("older", "0006_lending"), ("bare", None)):
        other = make_settings(tmp_path / name, database_url=f"sqlite:///{tmp_path / f'{name}.db'}")
        shutil.copytree(settings.keys_dir, other.keys_dir)
        if revision:
            migrate.upgrade(other, revision)
        assert restore_backup(other, backup).restored
        assert migrate.current_revision(other) == migrate.head_revision(other)
    foreign = make_settings(tmp_path / "foreign", database_url=f"sqlite:///{tmp_path / 'foreign.db'}")
    shutil.copytree(settings.keys_dir, foreign.keys_dir)
    with get_engine(foreign).begin() as conn:
        conn.exec_driver_sql("CREATE TABLE invoices (id INTEGER PRIMARY KEY)")  # another application's, empty
    with pytest.raises(Conflict, match="a database of its own: invoices are not this platform's tables"):
        restore_backup(foreign, backup)


def test_the_cli_creates_verifies_and_restores(source, tmp_path, monkeypatch):
    settings, _ = source
    backup = tmp_path / "cli.lcbk"
    runner = CliRunner()
    try:
        point_get_settings_at(monkeypatch, settings)
        created = runner.invoke(app_(), ["backup", "create", str(backup), "--json"])
        target = _target(tmp_path, settings, f"sqlite:///{tmp_path / 'cli-target.db'}")  # with the backup key
        point_get_settings_at(monkeypatch, target)
        verified = runner.invoke(app_(), ["backup", "verify", str(backup), "--json"])
        restored = runner.invoke(app_(), ["backup", "restore", str(backup)])
        again = runner.invoke(app_(), ["backup", "restore", str(backup)])
    finally:
        monkeypatch.undo()
        get_settings.cache_clear()
    assert created.exit_code == 0, created.output
    assert verified.exit_code == 0, verified.output
    assert json.loads(created.stdout)["tables"] == json.loads(verified.stdout)["tables"]
    assert restored.exit_code == 0 and "restored" in restored.stdout
    assert again.exit_code == 2 and "empty database" in again.output
    assert _contents(target) == _contents(settings)


def app_():
    from backend.cli.main import app

    return app


def test_a_restore_does_not_bring_back_personal_data_erased_after_the_backup(source, tmp_path, database_url):
    settings, people = source
    backup = tmp_path / "before-erasure.lcbk"
    create_backup(settings, backup)
    with session_scope(settings) as session:  # erased after the backup was taken
        erased = erase_wallet(session, settings, people[0].account.address, people[0].account.address)
    assert erased.erased_records
    logged = erased_wallets(settings)
    assert logged == [people[0].account.address]

    target = _target(tmp_path, settings, database_url)  # the erasure log travels with the keys, not the backup
    restored = restore_backup(target, backup)
    assert restored.erasures_replayed == len(erased.erased_records)
    with session_scope(target) as session:
        records = list(session.scalars(select(KycRecord).where(KycRecord.wallet == people[0].account.address)))
        assert records and all(r.wrapped_key is None and r.status == "erased" for r in records)
        with pytest.raises(NotFound):
            my_data(session, target, people[0].account.address)
        assert my_data(session, target, people[1].account.address).data.full_name == people[1].full_name
        assert verify_audit_log(session, target, check_anchors=False, scan_chain=False).ok


def test_a_restore_without_the_erasure_log_is_refused_unless_told(source, tmp_path, database_url):
    settings, people = source
    backup = tmp_path / "before-erasure.lcbk"
    create_backup(settings, backup)
    assert erasure_log(settings).exists()  # from the first backup on, even before any erasure
    with session_scope(settings) as session:
        erase_wallet(session, settings, people[0].account.address, people[0].account.address)

    target = _target(tmp_path, settings, database_url)
    erasure_log(target).unlink()  # the keys were carried over, the log was not
    with pytest.raises(Conflict, match="no erasure log"):
        restore_backup(target, backup)
    assert _rows(target) == _rows(_target(tmp_path, settings, database_url, "fresh"))  # nothing written
    restored = restore_backup(target, backup, without_erasure_log=True)
    assert restored.restored and restored.erasures_replayed == 0  # told: the erasure is undone until made again
    with session_scope(target) as session:
        assert my_data(session, target, people[0].account.address).data.full_name == people[0].full_name


def test_an_erasure_that_rolls_back_is_not_logged(source):
    settings, people = source
    with pytest.raises(RuntimeError), session_scope(settings) as session:
        erase_wallet(session, settings, people[1].account.address, people[1].account.address)
        raise RuntimeError("the request failed after the erasure")
    assert erased_wallets(settings) == []
    with session_scope(settings) as session:
        assert my_data(session, settings, people[1].account.address).data.full_name == people[1].full_name


def test_a_restore_is_refused_before_writing_while_the_keyring_lacks_a_master_key_the_backup_needs(source, tmp_path):
    """Every row restored, and success reported, while no KYC record could be read: the keyring must
    hold every master key the backup's wrapped data keys name. Verification says which are missing."""
    from backend.identity.crypto.keyring import add_master_key, load_keyring
    from backend.identity.crypto.rotation import retire, rotate

    settings, people = source
    backup = tmp_path / "platform.lcbk"
    old = load_keyring(settings).active_id
    add_master_key(settings)  # the backup is sealed under the new key, its data keys still wrapped under the old
    create_backup(settings, backup)
    rotate(settings)
    retire(settings, old)  # the live database no longer needs it; the backup does

    target = _target(tmp_path, settings, f"sqlite:///{tmp_path / 'target.db'}")
    verified = verify_backup(target, backup)
    assert verified.missing_master_keys == [old]
    assert verify_backup(settings, backup).missing_master_keys == [old]
    empty = _rows(target)
    with pytest.raises(Conflict, match=old):
        restore_backup(target, backup)
    assert _rows(target) == empty  # nothing written
    restored = restore_backup(target, backup, allow_missing_keys=True)  # told: KYC data restored unreadable
    assert restored.restored and restored.missing_master_keys == [old]


def test_a_restore_is_refused_on_a_host_whose_blind_index_key_is_not_the_backups(source, tmp_path):
    """Restored under another blind-index key, duplicate national IDs and four-eyes persons would
    silently stop matching: the backup carries the key's fingerprint and the restore checks it."""
    settings, people = source
    backup = tmp_path / "platform.lcbk"
    create_backup(settings, backup)

    target = _target(tmp_path, settings, f"sqlite:///{tmp_path / 'target.db'}")
    (target.keys_dir / "blind-index.key").unlink()
    from pydantic import SecretStr

    other = target.model_copy(update={"kyc_blind_index_key": SecretStr(base64.b64encode(b"i" * 32).decode())})
    assert verify_backup(other, backup).blind_index_key_matches is False
    empty = _rows(other)
    with pytest.raises(ConfigurationError, match="blind-index"):
        restore_backup(other, backup, allow_missing_keys=True)  # no flag overrides it
    with pytest.raises(ConfigurationError, match="blind-index"):
        restore_backup(target, backup)  # no key at all on the new host
    assert _rows(other) == empty
    shutil.copy(settings.keys_dir / "blind-index.key", target.keys_dir / "blind-index.key")
    assert verify_backup(target, backup).blind_index_key_matches is True
    assert restore_backup(target, backup).restored


def test_a_backup_written_before_headers_named_its_keys_is_read_through_for_them(source, tmp_path):
    from backend.backup.keys import needed_by
    from backend.backup.service import _rows_of, backup_keys
    from backend.backup.stream import read_header

    settings, _ = source
    backup = tmp_path / "platform.lcbk"
    create_backup(settings, backup)
    with open(backup, "rb") as source_file:
        header, _ = read_header(source_file)
    named = needed_by(header, lambda: pytest.fail("the header names them: no need to read the backup"))
    read = needed_by({k: v for k, v in header.items() if k != "keys"}, lambda: _rows_of(backup, backup_keys(settings)))
    assert read == named and named.master_keys and named.blind_index


def test_a_session_ended_after_the_backup_stays_ended_after_the_restore(tmp_path, monkeypatch):
    """The review's M1: a refresh token copied before the backup and revoked after it (sign-out
    everywhere, reuse detection) worked again on the restored host, and so did its access token.
    A restore ends every session from before it: everyone signs in again."""
    from backend.identity.errors import SignInRefused
    from backend.identity.tokens import end_sessions, issue_pair, refresh, signed_in_by_access_token

    wallet = "0x" + "ab" * 20
    src = make_settings(tmp_path / "src", database_url=f"sqlite:///{tmp_path / 'src.db'}")
    migrate.upgrade(src)
    from backend.identity import tokens

    earlier = tokens.utcnow() - timedelta(seconds=5)  # tokens carry whole seconds: not this same one
    monkeypatch.setattr(tokens, "utcnow", lambda: earlier)
    with session_scope(src) as session:
        stolen = issue_pair(session, src, wallet)
    monkeypatch.undo()
    backup = tmp_path / "nightly.lcbk"
    create_backup(src, backup)
    with session_scope(src) as session:
        end_sessions(session, wallet)  # the owner signs out everywhere after the backup

    target = _target(tmp_path, src, f"sqlite:///{tmp_path / 'target.db'}")  # the JWT secret carried over
    restore_backup(target, backup)
    with session_scope(target) as session, pytest.raises(SignInRefused, match="restored"):
        signed_in_by_access_token(session, target, stolen.access_token)
    with pytest.raises(SignInRefused), session_scope(target) as session:
        refresh(session, target, stolen.refresh_token)
    with session_scope(target) as session:  # a new sign-in works
        fresh = issue_pair(session, target, wallet)
    with session_scope(target) as session:
        assert signed_in_by_access_token(session, target, fresh.access_token).wallet == wallet
        refresh(session, target, fresh.refresh_token)


def test_a_missing_file_a_directory_or_a_damaged_header_is_one_error_line(tmp_path, monkeypatch):
    """The review's L1: tracebacks (exit 1) for a missing file, a directory, a header whose nonce is
    not hex or that is not an object; a damaged key field read as "another backup key"."""
    settings = make_settings(tmp_path / "host", database_url=f"sqlite:///{tmp_path / 'host.db'}")
    migrate.upgrade(settings)
    good = tmp_path / "good.lcbk"
    create_backup(settings, good)
    data = good.read_bytes()
    at = data.index(b'"nonce_prefix":"') + len(b'"nonce_prefix":"')
    (tmp_path / "damaged-nonce.lcbk").write_bytes(data[:at] + b"z" + data[at + 1 :])
    at = data.index(b'"key":"') + len(b'"key":"')
    (tmp_path / "damaged-key.lcbk").write_bytes(data[:at] + b"0" + data[at + 1 :] if data[at : at + 1] != b"0"
                                                else data[:at] + b"1" + data[at + 1 :])  # fmt: skip
    (tmp_path / "not-an-object.lcbk").write_bytes(b"LOANCHAIN-BACKUP/1\n[1]\n")
    target = _target(tmp_path, settings, f"sqlite:///{tmp_path / 'target.db'}")
    runner = CliRunner()
    results = {}
    try:
        point_get_settings_at(monkeypatch, target)
        for name in ("missing.lcbk", "host", "damaged-nonce.lcbk", "damaged-key.lcbk", "not-an-object.lcbk"):
            for command in ("verify", "restore"):
                results[command, name] = runner.invoke(app_(), ["backup", command, str(tmp_path / name)])
    finally:
        monkeypatch.undo()
        get_settings.cache_clear()
    for (command, name), result in results.items():
        assert result.exit_code == 2 and isinstance(result.exception, SystemExit), (command, name, result.exception)
        assert result.output.strip().splitlines()[-1].startswith("error:"), (command, name, result.output)
    assert "damaged" in results["restore", "damaged-key.lcbk"].output
    assert _rows(target) == _rows(_target(tmp_path, settings, f"sqlite:///{tmp_path / 'fresh.db'}", "fresh"))


def test_a_backup_file_is_private_synced_and_a_failed_one_leaves_nothing(tmp_path, monkeypatch):
    """The review's L2: backups followed the umask (world-readable headers: row counts, key ids),
    were renamed into place unsynced, and a failure left the `.partial` file behind."""
    import os
    import stat

    from backend.backup import service

    settings = make_settings(tmp_path / "host", database_url=f"sqlite:///{tmp_path / 'host.db'}")
    migrate.upgrade(settings)
    synced = []
    real_fsync = os.fsync
    monkeypatch.setattr(service.os, "fsync", lambda fd: synced.append(fd) or real_fsync(fd))
    backup = tmp_path / "new-dir" / "b.lcbk"
    create_backup(settings, backup)
    assert stat.S_IMODE(backup.stat().st_mode) == 0o600
    assert stat.S_IMODE(backup.parent.stat().st_mode) == 0o700  # made here: private too
    assert len(synced) >= 2  # the file before the rename, the directory after it

    def broken(*args, **kwargs):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(service, "_dump", broken)
    with pytest.raises(OSError):
        create_backup(settings, backup.with_name("c.lcbk"))
    assert sorted(p.name for p in backup.parent.iterdir()) == ["b.lcbk"]


def test_verify_says_when_this_code_cannot_restore_a_backup_of_another_schema(tmp_path, monkeypatch):
    """The review's M4: restore checks and inserts against this release's tables, so a backup of a
    release whose tables differ is refused at restore, while verify called it fine."""
    from sqlalchemy import Column, MetaData, String, Table, Text

    from backend.backup import service

    settings = make_settings(tmp_path / "host", database_url=f"sqlite:///{tmp_path / 'host.db'}")
    migrate.upgrade(settings)
    older_meta = Table("meta", MetaData(), Column("key", String(100), primary_key=True), Column("value", Text))
    monkeypatch.setattr(service, "_tables", lambda: [older_meta if t.name == "meta" else t for t in _tables()])
    backup = tmp_path / "older.lcbk"
    create_backup(settings, backup)  # as a release whose meta table had no updated_at would have
    monkeypatch.undo()

    report = verify_backup(settings, backup)
    assert report.tables_not_restorable == ["meta"]
    target = _target(tmp_path, settings, f"sqlite:///{tmp_path / 'target.db'}")
    with pytest.raises(BackupUnreadable, match="not taken by a release of this platform"):
        restore_backup(target, backup)


def test_a_backup_whose_tables_are_not_its_revisions_is_refused_not_half_restored(tmp_path, monkeypatch):
    """Its header names revision 0032, but it holds this release's tables: one clear refusal, not a raw
    SQL error, and the target is left as it was."""
    from backend.backup import service

    older = "0032_named_anchors"  # before 0033 made its tables
    settings = make_settings(tmp_path / "host", database_url=f"sqlite:///{tmp_path / 'host.db'}")
    migrate.upgrade(settings)
    monkeypatch.setattr(service.migrate, "current_revision", lambda _settings: older)
    backup = tmp_path / "older.lcbk"
    create_backup(settings, backup)  # its header names the older revision
    monkeypatch.undo()
    assert verify_backup(settings, backup).tables_not_restorable  # the tables 0033 and later made
    target = _target(tmp_path, settings, f"sqlite:///{tmp_path / 'target.db'}")
    with pytest.raises(BackupUnreadable, match="not taken by a release of this platform"):
        restore_backup(target, backup)
    assert migrate.current_revision(target) == migrate.head_revision(target)  # rolled back whole


def test_a_backup_taken_before_later_migrations_is_restored_and_upgraded_with_their_data_steps(tmp_path, database_url):
    """Before, a backup taken before a migration needed the code of the release that made it (kept as long as
    its backups), restored at its revision, then upgraded. Now this release does it in the restore's one
    transaction: the backup's schema, its rows, then every later migration on them. It also backs up a
    database it has not upgraded yet (the safety copy an upgrade is taken after)."""
    from sqlalchemy import insert

    from backend.backup.revisions import tables_at
    from backend.chain.models import ChainEvent
    from backend.chain.projection_models import EventSubjectRow

    older = "0051_borrower_token_transfers"  # 0052 drops the subjects of note transfers of 0; 0053-0055 add tables,
    settings = make_settings(tmp_path / "host", database_url=f"sqlite:///{tmp_path / 'host.db'}")  # columns, an index
    migrate.upgrade(settings, older)
    event = {"block_number": 9, "block_hash": "0x" + "aa" * 32, "tx_index": 0, "contract": "LoanBook",
             "address": "0x" + "bb" * 20, "event": "TransferSingle", "block_timestamp": 1_700_000_000}  # fmt: skip
    with get_engine(settings).begin() as conn:  # rows as the release at 0051 wrote them
        tables = {t.name: t for t in tables_at(conn)}
        conn.execute(insert(tables["chain_events"]), [
            event | {"id": 1, "tx_hash": "0x" + "01" * 32, "log_index": 0, "args": {"id": 7, "value": 0}},
            event | {"id": 2, "tx_hash": "0x" + "02" * 32, "log_index": 1, "args": {"id": 7, "value": 5}},
        ])  # fmt: skip
        conn.execute(insert(tables["chain_event_subjects"]), [
            {"id": n, "event_id": n, "loan_id": 7, "address": None, "block_number": 9, "tx_hash": "0x" + f"0{n}" * 32,
             "log_index": n - 1} for n in (1, 2)])  # fmt: skip
    backup = tmp_path / "older.lcbk"
    assert create_backup(settings, backup).revision == older
    assert verify_backup(settings, backup).tables_not_restorable == []

    target = _target(tmp_path, settings, database_url)  # an empty database at this release's head
    assert restore_backup(target, backup).upgraded_to == migrate.head_revision(target)
    assert migrate.current_revision(target) == migrate.head_revision(target)
    with session_scope(target) as session:
        assert len(session.scalars(select(ChainEvent)).all()) == 2
        # 0052's data step ran on the restored rows: the transfer of 0 names nobody now.
        assert [r.event_id for r in session.scalars(select(EventSubjectRow))] == [2]
        assert session.scalars(select(Document)).all() == []  # 0054's columns are there to read


def test_a_backup_is_sealed_under_the_master_key_of_its_time_and_unreadable_as_a_whole_once_it_is_retired(source, tmp_path):
    """The privacy review's H1: only KYC columns depended on the master key; an erased person's credit
    application, check messages and blind index stayed readable in every older copy with the backup
    key alone. The whole stream is now bound to the master key active when it was taken (named in its
    authenticated header): once that key is retired, no copy of the backup opens, nothing is written."""
    from backend.backup.service import _rows_of, backup_keys
    from backend.backup.stream import read_header
    from backend.identity.crypto.keyring import add_master_key, load_keyring
    from backend.identity.crypto.rotation import retire, rotate

    settings, _ = source
    backup = tmp_path / "platform.lcbk"
    create_backup(settings, backup)
    old = load_keyring(settings).active_id
    with open(backup, "rb") as file:
        header, _ = read_header(file)
    assert (header["format"], header["master_key"]) == (2, old)

    # An edited `master_key` naming another key the host holds: refused, not opened under that key.
    add_master_key(settings)
    new = load_keyring(settings).active_id
    data = backup.read_bytes()
    forged = tmp_path / "forged.lcbk"
    forged.write_bytes(data.replace(f'"master_key":"{old}"'.encode(), f'"master_key":"{new}"'.encode(), 1))
    target = _target(tmp_path, settings, f"sqlite:///{tmp_path / 'target.db'}")
    with pytest.raises(BackupUnreadable, match="altered"):
        verify_backup(target, forged)

    rotate(settings)
    retire(settings, old)  # as the backup worker does once the kept backups all postdate the rotation after erasures
    target = _target(tmp_path, settings, f"sqlite:///{tmp_path / 'after.db'}", "after")
    empty = _rows(target)
    for attempt in (lambda: verify_backup(target, backup), lambda: restore_backup(target, backup),
                    lambda: list(_rows_of(backup, backup_keys(target)))):  # fmt: skip
        with pytest.raises(BackupUnreadable, match=old):
            attempt()
    assert _rows(target) == empty
    later = tmp_path / "later.lcbk"  # a backup taken after the rotation opens as ever
    create_backup(settings, later)
    assert restore_backup(target, later).restored


def test_a_backup_of_the_format_before_master_key_binding_still_verifies_and_restores(source, tmp_path, monkeypatch):
    """Backups taken by the release before (format 1: no `master_key` in the header, sealed under the
    backup key alone) stay readable, through verify, restore and the key lookup."""
    from backend.backup import service
    from backend.backup.keys import needed_by
    from backend.backup.service import _rows_of, backup_key, backup_keys
    from backend.backup.stream import SealedWriter, StreamKeys, read_header

    settings, people = source
    older = tmp_path / "format-1.lcbk"
    monkeypatch.setattr(service, "SealedWriter", lambda out, key, header, bound=None:
                        SealedWriter(out, key, {**header, "format": 1}))  # fmt: skip
    create_backup(settings, older)  # written exactly as the release before wrote it
    monkeypatch.undo()
    with open(older, "rb") as file:
        header, _ = read_header(file)
    assert header["format"] == 1 and "master_key" not in header
    assert sum(1 for _ in _rows_of(older, StreamKeys(backup_key(settings)))) > 0  # the backup key alone opens it
    assert needed_by(header, lambda: _rows_of(older, backup_keys(settings))).master_keys  # the data keys' master keys

    target = _target(tmp_path, settings, f"sqlite:///{tmp_path / 'target.db'}")
    assert verify_backup(target, older).tables == verify_backup(settings, older).tables
    assert restore_backup(target, older).restored
    assert _contents(target) == _contents(settings)
    with session_scope(target) as session:
        assert my_data(session, target, people[0].account.address).data.full_name == people[0].full_name
