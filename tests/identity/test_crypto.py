"""Envelope encryption, the keyring, swapped ciphertexts and master-key rotation."""

from __future__ import annotations

import base64
import os

import pytest
from sqlalchemy import select

from backend.db.session import session_scope
from backend.errors import ConfigurationError, Conflict
from backend.identity.crypto import envelope
from backend.identity.crypto.envelope import DecryptionFailed
from backend.identity.crypto.keyring import Keyring, MasterKeyMissing, add_master_key, keyring_dir, load_keyring
from backend.identity.crypto.rotation import keys_in_use, retire, rotate
from backend.identity.kyc.vault import open_part, open_sealed
from backend.identity.models import KycDocument, KycRecord
from tests.identity.conftest import PNG, bearer, client_for, make_applicant, make_settings, submit


def test_seal_and_unseal_bind_the_associated_data():
    key = envelope.new_data_key()
    blob = envelope.seal(key, b"secret", b"record-1")
    assert envelope.unseal(key, blob, b"record-1") == b"secret"
    with pytest.raises(DecryptionFailed):
        envelope.unseal(key, blob, b"record-2")
    with pytest.raises(DecryptionFailed):
        envelope.unseal(envelope.new_data_key(), blob, b"record-1")
    tampered = blob[:-1] + bytes([blob[-1] ^ 1])
    with pytest.raises(DecryptionFailed):
        envelope.unseal(key, tampered, b"record-1")
    assert envelope.seal(key, b"secret", b"r") != envelope.seal(key, b"secret", b"r")  # fresh nonce each time


def test_keyring_file_is_generated_owner_only_on_a_local_chain(tmp_path):
    settings = make_settings(tmp_path)
    ring = load_keyring(settings)
    path = keyring_dir(settings) / f"{ring.active_id}.key"
    assert len(ring.active_key) == 32 and path.stat().st_mode & 0o777 == 0o600
    assert keyring_dir(settings).stat().st_mode & 0o777 == 0o700
    assert load_keyring(settings).active_key == ring.active_key  # stable across loads


def test_no_key_is_generated_off_a_local_chain(tmp_path):
    with pytest.raises(ConfigurationError):
        load_keyring(make_settings(tmp_path, chain_id=11155111))


def test_keys_from_the_environment_first_one_active(tmp_path):
    one, two = os.urandom(32), os.urandom(32)
    spec = f"new:{base64.b64encode(one).decode()},old:{base64.urlsafe_b64encode(two).decode()}"
    ring = load_keyring(make_settings(tmp_path, kyc_master_keys=spec))
    assert ring.active_id == "new" and ring.keys == {"new": one, "old": two}
    with pytest.raises(ConfigurationError):
        load_keyring(make_settings(tmp_path, kyc_master_keys="short:" + base64.b64encode(b"x" * 16).decode()))


def test_a_key_file_readable_by_others_is_refused(tmp_path):
    settings = make_settings(tmp_path)
    ring = load_keyring(settings)
    (keyring_dir(settings) / f"{ring.active_id}.key").chmod(0o644)
    with pytest.raises(ConfigurationError):
        load_keyring(settings)


def _records(settings):
    with session_scope(settings) as session:
        return list(session.scalars(select(KycRecord).order_by(KycRecord.submitted_at)))


def _submit_some(settings, n: int, with_docs: bool = False) -> list:
    applicants = [make_applicant(100 + i) for i in range(n)]
    with client_for(settings) as client:
        for a in applicants:
            files = [("documents", ("id.png", PNG, "image/png"))] if with_docs else None
            assert submit(client, a, bearer(client, a.account), files=files).status_code == 201
    return applicants


def test_ciphertext_copied_into_another_row_fails_to_decrypt(settings):
    _submit_some(settings, 2, with_docs=True)
    keyring = load_keyring(settings)
    first, second = _records(settings)
    with session_scope(settings) as session:  # the attacker copies row 1's ciphertext over row 2's
        victim = session.get(KycRecord, second.id)
        victim.ciphertext = first.ciphertext
    with session_scope(settings) as session:
        with pytest.raises(DecryptionFailed):
            open_sealed(keyring, session.get(KycRecord, second.id))
    with session_scope(settings) as session:  # ... or its wrapped key and ciphertext together
        victim = session.get(KycRecord, second.id)
        victim.wrapped_key, victim.key_id = first.wrapped_key, first.key_id
        with pytest.raises(DecryptionFailed):
            open_sealed(keyring, victim)
    with session_scope(settings) as session:  # a document moved to another record
        doc = session.scalars(select(KycDocument).where(KycDocument.record_id == first.id)).one()
        assert open_part(keyring, session.get(KycRecord, first.id), f"document/{doc.id}", doc.ciphertext) == PNG
        with pytest.raises(DecryptionFailed):
            open_part(keyring, session.get(KycRecord, first.id), "document/other", doc.ciphertext)


def test_rotation_rewraps_every_key_then_records_open_with_the_new_key_only(any_db_settings):
    settings = any_db_settings
    applicants = _submit_some(settings, 5)
    old = load_keyring(settings)
    before = {r.id: (r.ciphertext, r.wrapped_key) for r in _records(settings)}

    new_id = add_master_key(settings)
    progress = []
    report = rotate(settings, batch=2, progress=lambda done, total: progress.append((done, total)))
    assert (report.rewrapped, report.remaining, report.active_id) == (5, 0, new_id)
    assert progress[-1] == (5, 5) and len(progress) == 4  # batches of 2: 2, 4, 5, then an empty one

    new = load_keyring(settings)
    only_new = Keyring(new_id, {new_id: new.key(new_id)}, "test")
    only_old = Keyring(old.active_id, {old.active_id: old.active_key}, "test")
    records = _records(settings)
    assert {r.key_id for r in records} == {new_id}
    for record, applicant in zip(records, applicants):
        assert record.ciphertext == before[record.id][0]  # the records themselves were not re-encrypted
        assert record.wrapped_key != before[record.id][1]
        assert open_sealed(only_new, record).record.person.full_name == applicant.full_name
        with pytest.raises(MasterKeyMissing):  # the old key's id is no longer referenced, nor does it unwrap
            open_sealed(only_old, record)
        with pytest.raises(DecryptionFailed):
            envelope.unwrap_data_key(old.active_key, new_id, record.id, record.wrapped_key)

    with session_scope(settings) as session:
        assert keys_in_use(session) == {new_id: 5}
    retire(settings, old.active_id)
    assert not (keyring_dir(settings) / f"{old.active_id}.key").exists()
    with pytest.raises(Conflict):
        retire(settings, new_id)  # the active key


def test_retiring_a_key_still_in_use_is_refused(settings):
    _submit_some(settings, 1)
    old = load_keyring(settings).active_id
    add_master_key(settings)
    with pytest.raises(Conflict):
        retire(settings, old)
    assert (keyring_dir(settings) / f"{old}.key").exists()


def test_an_erasure_committed_while_a_rotation_batch_runs_stays_erased(settings, monkeypatch):
    """SQLite ignores FOR UPDATE: an erasure can commit between the rotation's read of a row and its
    write (PostgreSQL's row lock makes the erasure wait instead). The write is a compare-and-swap,
    so the erased record keeps no key."""
    from backend.identity.crypto import rotation
    from backend.identity.crypto.holders import shred

    _submit_some(settings, 2)
    new_id = add_master_key(settings)
    real, erased = rotation.rewrapped, []

    def erasing_meanwhile(keyring, row):
        moved = real(keyring, row)  # the key is unwrapped from what was read ...
        if not erased:  # ... and meanwhile another transaction erases the record
            erased.append(row.id)
            with session_scope(settings) as other:
                shred(other.get(KycRecord, row.id))
        return moved

    monkeypatch.setattr(rotation, "rewrapped", erasing_meanwhile)
    assert rotate(settings).remaining == 0
    keys = {r.id: (r.key_id, r.wrapped_key) for r in _records(settings)}
    assert keys.pop(erased[0]) == (None, None)  # still shredded: no key came back
    assert [key_id for key_id, _ in keys.values()] == [new_id]
