"""The erasure log and the restore: what it re-applies (only what was erased), how it is written
(before the erasure commits), and which log a restore accepts (the one the backup was taken beside).
Sources run on SQLite; the restore target runs on SQLite and PostgreSQL."""

from __future__ import annotations

import json
import os
import shutil
from datetime import UTC, datetime

import pytest
from sqlalchemy import func, select

from backend.backup.schedule import backup_step
from backend.backup.service import create_backup, restore_backup
from backend.db import migrate
from backend.db.session import session_scope
from backend.errors import NotFound
from backend.identity.kyc import erasures
from backend.identity.kyc.erasures import ErasureLogUnusable, erased_wallets, erasure_log, read_log
from backend.identity.kyc.lifecycle import erase_wallet
from backend.identity.kyc.service import my_data
from backend.identity.kyc.submission import submit
from backend.identity.models import KycRecord
from backend.identity.roles import roles_of
from backend.identity.schemas import KycCreate
from tests.conftest import make_settings
from tests.identity.conftest import make_applicant


def _source(tmp_path):
    settings = make_settings(tmp_path / "source", database_url=f"sqlite:///{tmp_path / 'source.db'}")
    migrate.upgrade(settings)
    return settings


def _target(tmp_path, source_settings, database_url, name="target"):
    settings = make_settings(tmp_path / name, database_url=database_url)
    shutil.copytree(source_settings.keys_dir, settings.keys_dir)  # keys and erasure log carried over
    migrate.upgrade(settings)
    return settings


def _submit(settings, person, **changes):
    with session_scope(settings) as session:
        return submit(session, settings, person.account.address, KycCreate(**(person.form() | changes)), []).id


def _erase(settings, person):
    with session_scope(settings) as session:
        return erase_wallet(session, settings, person.account.address, person.account.address)


def _records(settings) -> int:
    with session_scope(settings) as session:
        return session.scalar(select(func.count()).select_from(KycRecord))


def _assert_erased(settings, person):
    with session_scope(settings) as session, pytest.raises(NotFound):
        my_data(session, settings, person.account.address)


def test_a_restore_keeps_a_record_made_after_the_erasure(tmp_path, database_url):
    """The wallet erased, verified again (approved), and the backup was taken after that: the
    restore re-erases the old record only; the new one, and the roles it gives, stay."""
    settings = _source(tmp_path)
    person = make_applicant(901)
    old_id = _submit(settings, person)
    _erase(settings, person)
    new_id = _submit(settings, person, city="Shanghai")
    with session_scope(settings) as session:
        roles = roles_of(session, settings, person.account.address)
        assert session.get(KycRecord, new_id).status == "approved" and roles
    backup = tmp_path / "after-reverification.lcbk"
    create_backup(settings, backup)

    target = _target(tmp_path, settings, database_url)
    report = restore_backup(target, backup)
    assert report.erasures_replayed == 0  # the erased record was erased in the backup already
    with session_scope(target) as session:
        assert session.get(KycRecord, new_id).status == "approved" and session.get(KycRecord, new_id).wrapped_key
        assert session.get(KycRecord, old_id).status == "erased"
        assert my_data(session, target, person.account.address).data.city == "Shanghai"
        assert roles_of(session, target, person.account.address) == roles


def test_a_wallet_only_line_of_an_older_log_re_erases_only_what_was_made_before_it(tmp_path, database_url):
    """Lines written before entries named their rows hold the wallet and the time: the replay
    reaches the wallet's records submitted up to then, not a later one."""
    settings = _source(tmp_path)
    person = make_applicant(905)
    old_id = _submit(settings, person)
    before = tmp_path / "before-erasure.lcbk"
    create_backup(settings, before)
    _erase(settings, person)
    erased_at = datetime.now(UTC)
    log = erasure_log(settings)
    header = log.read_text().splitlines()[0]  # the lines the backup was taken beside stay
    log.write_text(header + "\n" + json.dumps({"wallet": person.account.address, "erased_at": erased_at.isoformat()}) + "\n")
    new_id = _submit(settings, person, city="Shanghai")
    after = tmp_path / "after-reverification.lcbk"
    create_backup(settings, after)

    target = _target(tmp_path, settings, database_url)
    assert restore_backup(target, after).erasures_replayed == 0
    with session_scope(target) as session:
        assert session.get(KycRecord, new_id).status == "approved" and session.get(KycRecord, new_id).wrapped_key
    older = _target(tmp_path, settings, f"sqlite:///{tmp_path / 'older.db'}", "older")
    assert restore_backup(older, before).erasures_replayed == 1
    with session_scope(older) as session:
        old = session.get(KycRecord, old_id)
        assert old.wrapped_key is None and old.blind_index is None
        assert (old.phone_index, old.email_index, old.address_index) == (None, None, None)  # its contacts match no one again


def test_an_erasure_whose_log_entry_cannot_be_written_does_not_commit(tmp_path, database_url, monkeypatch):
    """The entry is written (and fsynced) before the erasure commits: a disk that refuses it fails
    the erasure with nothing changed; the retry erases and logs, and a restore keeps it erased."""
    settings = _source(tmp_path)
    person = make_applicant(902)
    _submit(settings, person)
    backup = tmp_path / "before-erasure.lcbk"
    create_backup(settings, backup)
    lines = read_log(settings).lines

    def disk_full(*_args):
        raise OSError(28, "No space left on device")

    with monkeypatch.context() as patched, pytest.raises(OSError, match="No space"):
        patched.setattr(erasures.os, "write", disk_full)
        _erase(settings, person)
    with session_scope(settings) as session:
        assert all(r.wrapped_key is not None for r in session.scalars(select(KycRecord)))  # nothing committed
    assert read_log(settings).lines == lines
    assert _erase(settings, person).erased_records  # the retry
    assert erased_wallets(settings) == [person.account.address]

    target = _target(tmp_path, settings, database_url)
    assert restore_backup(target, backup).erasures_replayed == 1
    _assert_erased(target, person)


def test_a_retried_erasure_logs_an_erasure_the_log_lacks(tmp_path, database_url):
    """An erasure committed without its line (as before entries were written ahead of the commit):
    the retry finds nothing left to erase, and logs what was erased, so a restore re-applies it."""
    settings = _source(tmp_path)
    person = make_applicant(906)
    _submit(settings, person)
    backup = tmp_path / "before-erasure.lcbk"
    create_backup(settings, backup)
    header = read_log(settings).lines[0]
    erased = _erase(settings, person)
    erasure_log(settings).write_bytes(header)  # the line that was lost
    with pytest.raises(NotFound):
        _erase(settings, person)
    entry = read_log(settings).entries[-1]
    assert (entry.records, entry.outcome) == (erased.erased_records, "committed")

    target = _target(tmp_path, settings, database_url)
    assert restore_backup(target, backup).erasures_replayed == 1
    _assert_erased(target, person)


def test_an_entry_whose_outcome_was_lost_is_settled_from_the_database(tmp_path, monkeypatch):
    """The erasure committed but its `committed` line failed to write: the answer stands (it did
    commit), and the next backup reads the outcome off the database."""
    settings = _source(tmp_path)
    person = make_applicant(907)
    _submit(settings, person)
    real = erasures._append

    def no_outcome(path, obj):
        if obj and "outcome" in obj:
            raise OSError(5, "Input/output error")
        real(path, obj)

    monkeypatch.setattr(erasures, "_append", no_outcome)
    assert _erase(settings, person).erased_records
    monkeypatch.undo()
    assert read_log(settings).entries[-1].outcome is None
    create_backup(settings, tmp_path / "next.lcbk")
    assert read_log(settings).entries[-1].outcome == "committed"


def test_a_torn_last_line_is_ignored_and_a_damaged_line_refuses_before_anything_is_written(tmp_path, database_url):
    """A crash mid-append tears the last line (its erasure never committed: it is ignored, and cut
    off by the next append). Any other unreadable line refuses the restore before a row is written."""
    settings = _source(tmp_path)
    person = make_applicant(903)
    _submit(settings, person)
    backup = tmp_path / "before-erasure.lcbk"
    create_backup(settings, backup)
    _erase(settings, person)
    log = erasure_log(settings)
    with open(log, "a") as tail:
        tail.write('{"wallet": "0x12')  # torn by a crash during the next erasure's append

    target = _target(tmp_path, settings, database_url)
    assert restore_backup(target, backup).erasures_replayed == 1
    _assert_erased(target, person)

    lines = log.read_text().split("\n")
    log.write_text("\n".join([lines[0], lines[1][:-5], *lines[2:]]))  # a damaged line inside the log
    damaged = _target(tmp_path, settings, f"sqlite:///{tmp_path / 'damaged.db'}", "damaged")
    with pytest.raises(ErasureLogUnusable, match="damaged at line 2"):
        restore_backup(damaged, backup)
    assert _records(damaged) == 0


def test_a_restore_whose_replay_fails_writes_nothing(tmp_path, database_url, monkeypatch):
    """The replay runs in the restore's transaction: if it fails, no row was restored and the
    restore can be run again."""
    import backend.backup.service as service

    settings = _source(tmp_path)
    person = make_applicant(908)
    _submit(settings, person)
    backup = tmp_path / "before-erasure.lcbk"
    create_backup(settings, backup)
    _erase(settings, person)
    target = _target(tmp_path, settings, database_url)

    def failing(*_args):
        raise RuntimeError("the replay failed")

    with monkeypatch.context() as patched, pytest.raises(RuntimeError):
        patched.setattr(service, "replay_erasures", failing)
        restore_backup(target, backup)
    assert _records(target) == 0
    assert restore_backup(target, backup).erasures_replayed == 1
    _assert_erased(target, person)


def test_a_restore_refuses_a_log_the_backup_was_not_taken_beside(tmp_path, database_url):
    """The platform started once on the new host (its backup worker made an empty log of its own),
    the real log was not carried: the backup names the lines it was taken beside, and the restore
    refuses, saying which; `without_erasure_log` remains the explicit way past."""
    settings = _source(tmp_path)
    person = make_applicant(904)
    _submit(settings, person)
    backup = tmp_path / "before-erasure.lcbk"
    create_backup(settings, backup)
    expected = read_log(settings).binding()
    _erase(settings, person)

    target = make_settings(tmp_path / "new-host", database_url=database_url)
    shutil.copytree(settings.keys_dir / "kyc", target.keys_dir / "kyc")  # the master keys and the backup key, not the log
    shutil.copy(settings.keys_dir / "backup.key", target.keys_dir / "backup.key")
    shutil.copy(settings.keys_dir / "blind-index.key", target.keys_dir / "blind-index.key")
    migrate.upgrade(target)
    backup_step(target, datetime.now(UTC))
    assert erasure_log(target).exists()
    message = f"begin with {expected['lines']} lines hashing to sha256 {expected['sha256']}"
    with pytest.raises(ErasureLogUnusable, match=message):
        restore_backup(target, backup)
    assert _records(target) == 0

    stale = tmp_path / "stale.jsonl"  # a bare empty file is refused the same way
    stale.write_bytes(b"")
    os.replace(stale, erasure_log(target))
    with pytest.raises(ErasureLogUnusable):
        restore_backup(target, backup)
    assert restore_backup(target, backup, without_erasure_log=True).restored


def _loan(loan_id: int, borrower: str, status: str):
    from backend.chain.projection_models import LoanRow

    return LoanRow(
        loan_id=loan_id, status=status, borrower=borrower, underwriter="0x" + "33" * 20, terms_hash="0x" + "44" * 32,
        agreement_hash="0x" + "55" * 32, decision_hash="0x" + f"{loan_id:02x}" * 32, principal=1000, apr_bps=1200,
        installments=12, installment_period=2_592_000, installment_amount=90, funding_deadline=0,
        origination_fee_bps=100, created_block=1, block_number=1, tx_hash="0x" + "66" * 32, log_index=0,
    )  # fmt: skip


def _note(settings, loan_id: int, text: str) -> int:
    """What servicing/collections.py `_add` does, minus the chain clock and the audit entry."""
    from backend.identity.crypto.keyring import load_keyring
    from backend.servicing.collections import seal_note
    from backend.servicing.models import CollectionAction

    with session_scope(settings) as session:
        row = CollectionAction(loan_id=loan_id, kind="contact", actor="0x" + "77" * 20, chain_time=1)
        session.add(row)
        session.flush()
        seal_note(load_keyring(settings), row, text)
        return row.id


def _notes(settings) -> dict[int, tuple[int, str | None]]:
    from backend.identity.crypto.keyring import load_keyring
    from backend.servicing.collections import open_note
    from backend.servicing.models import CollectionAction

    with session_scope(settings) as session:
        ring = load_keyring(settings)
        return {r.id: (r.loan_id, open_note(ring, r)) for r in session.scalars(select(CollectionAction))}


def test_a_second_restore_does_not_shred_another_borrowers_note_under_a_reused_id(tmp_path, database_url):
    """The review's M2: the log names an erased case-log note by its id; after a restore from a
    backup older than the erasure, the id is handed out again to a note about another borrower, and
    the next restore (a second disaster, the move to PostgreSQL) shredded that note."""
    src = make_settings(tmp_path / "src", database_url=f"sqlite:///{tmp_path / 'src.db'}")
    migrate.upgrade(src)
    alice, bob = make_applicant(951), make_applicant(952)
    for person in (alice, bob):
        with session_scope(src) as session:
            submit(session, src, person.account.address, KycCreate(**person.form()), [])
    with session_scope(src) as session:
        session.add(_loan(1, alice.account.address, "repaid"))
        session.add(_loan(2, bob.account.address, "active"))
    _note(src, 2, "bob: first call")
    first = tmp_path / "b1.lcbk"
    create_backup(src, first)
    alice_note = _note(src, 1, "alice: lost her job")  # after the backup
    with session_scope(src) as session:
        erase_wallet(session, src, alice.account.address, alice.account.address)

    t1 = make_settings(tmp_path / "t1", database_url=f"sqlite:///{tmp_path / 't1.db'}")
    shutil.copytree(src.keys_dir, t1.keys_dir)
    migrate.upgrade(t1)
    restore_backup(t1, first)
    bob_note = _note(t1, 2, "bob: promised to pay on Friday")
    assert bob_note == alice_note  # the id is handed out again

    second = tmp_path / "b2.lcbk"
    create_backup(t1, second)
    t2 = make_settings(tmp_path / "t2", database_url=database_url)
    shutil.copytree(t1.keys_dir, t2.keys_dir)
    migrate.upgrade(t2)
    restore_backup(t2, second)
    assert _notes(t2)[bob_note] == (2, "bob: promised to pay on Friday"), "bob's case-log note was shredded"


def test_a_restore_erases_again_the_application_hashes_and_the_offers_the_erasure_cleared(tmp_path, database_url):
    """The privacy review's H2, after a restore from a backup older than the erasure: the entry names
    the offers it deleted beside the decisions it cleared, and the replay does both again."""
    from backend.lending.models import LoanOffer
    from backend.scoring.models import CreditDecision
    from backend.scoring.schemas import ApplicationCreate
    from backend.scoring.service import score_application
    from tests.scoring.conftest import SAMPLE

    settings = _source(tmp_path)
    person = make_applicant(905)
    wallet = person.account.address
    _submit(settings, person)
    with session_scope(settings) as session:
        decision = score_application(session, ApplicationCreate(**SAMPLE), settings=settings, wallet=wallet)
        session.add(LoanOffer(id="unsigned", decision_id=decision.id, borrower=wallet, status="offered", amount=3000,
                              quoted_apr_bps=1_500, chain_id=31337, loan_book="0x" + "22" * 20, asset_decimals=6,
                              terms={}, terms_hash="0x" + "99" * 32, agreement_cid="cid", agreement_hash="0x" + "55" * 32))  # fmt: skip
    backup = tmp_path / "before-erasure.lcbk"
    create_backup(settings, backup)
    erased = _erase(settings, person)
    assert erased.erased_offers == ["unsigned"]
    assert read_log(settings).entries[-1].cleared == {"credit_decisions": [decision.id], "loan_offers": ["unsigned"]}

    target = _target(tmp_path, settings, database_url)
    restore_backup(target, backup)
    with session_scope(target) as session:
        row = session.get(CreditDecision, decision.id)
        assert (row.input_hash, row.salt, row.inputs, row.wallet) == (None, None, {}, None)
        assert set(row.outputs) == {"score", "grade", "pd", "decision"}
        assert session.get(LoanOffer, "unsigned") is None


def test_a_restore_removes_again_the_agreement_documents_of_the_offers_the_erasure_deleted(tmp_path, database_url):
    """A backup older than the erasure holds the offer and its agreement's bytes: the replay deletes the
    offer again and the bytes leave the restored content store. A backup taken after the erasure holds
    no erased document's bytes, even while their removal from the store is still to come."""
    from backend.anchoring.documents import anchor_document
    from backend.anchoring.models import Document
    from backend.content.embedded import EmbeddedContentStore
    from backend.content.store import get_content_store
    from backend.lending.models import LoanOffer
    from backend.scoring.schemas import ApplicationCreate
    from backend.scoring.service import score_application
    from tests.scoring.conftest import SAMPLE

    settings = _source(tmp_path)
    person = make_applicant(906)
    wallet = person.account.address
    _submit(settings, person)
    agreement = json.dumps({"offer_id": "unsigned", "borrower": wallet, "principal": 3000}).encode()
    with session_scope(settings) as session:
        decision = score_application(session, ApplicationCreate(**SAMPLE), settings=settings, wallet=wallet)
        document = anchor_document(session, settings, agreement).document
        cid = document.cid
        session.add(LoanOffer(id="unsigned", decision_id=decision.id, borrower=wallet, status="offered", amount=3000,
                              quoted_apr_bps=1_500, chain_id=31337, loan_book="0x" + "22" * 20, asset_decimals=6,
                              terms={}, terms_hash="0x" + "99" * 32, agreement_cid=cid, agreement_hash=document.doc_hash))  # fmt: skip
    before = tmp_path / "before-erasure.lcbk"
    held_before = create_backup(settings, before).blobs
    original_remove = EmbeddedContentStore.remove
    EmbeddedContentStore.remove = lambda self, cid: (_ for _ in ()).throw(OSError("disk unavailable"))
    try:
        _erase(settings, person)
    finally:
        EmbeddedContentStore.remove = original_remove
    assert get_content_store(settings).has(cid)  # its removal still to come
    after = tmp_path / "after-erasure.lcbk"
    assert create_backup(settings, after).blobs == held_before - 1

    for backup, url in ((before, database_url), (after, f"sqlite:///{tmp_path / 'after.db'}")):
        target = _target(tmp_path, settings, url, name=backup.stem)
        restore_backup(target, backup)
        assert not get_content_store(target).has(cid), f"restored {backup.name}, the agreement's bytes are back"
        with session_scope(target) as session:
            assert session.get(LoanOffer, "unsigned") is None
            row = session.scalars(select(Document).where(Document.cid == cid)).one()
            assert row.content_erased_at is not None and row.content_removed_at is not None
