"""A restore holds the outbox until the chain is read for what the lost host already sent: a
pending intent backed up, then mined, is confirmed under the mined hash after the reconcile, never
sent a second time; one never sent is sent once; one fee-bumped after the backup (its mined hash
unknown to the backup) takes the mined hash."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from backend.backup.service import create_backup, restore_backup
from backend.chain.models import Intent, IntentStatus
from backend.chain.outbox import process_until_idle, withdraw_pending
from backend.chain.restore_reconcile import OutboxHeld, reconcile_after_restore
from backend.chain.sender import OutboxSender
from backend.db import migrate
from backend.db.session import session_scope
from backend.services.health import check_outbox
from tests.chain.conftest import loanchain
from tests.chain.outbox_checks import enqueue_faucets, mints_of

SENT_BEFORE_LOSS, NEVER_SENT = 4_242_001, 4_242_002


def _intents(settings) -> dict[str, Intent]:
    with session_scope(settings) as session:
        return {i.key: i for i in session.scalars(select(Intent))}


def _restored(settings, backup, tmp_path):
    target = settings.model_copy(update={"database_url": f"sqlite:///{tmp_path / 'restored.db'}"})
    migrate.upgrade(target)
    report = restore_backup(target, backup)
    assert report.outbox_held == 2
    return target


def test_a_restored_outbox_sends_nothing_until_reconciled_then_each_call_once(outbox_settings, w3, contracts, tmp_path):
    s = outbox_settings
    token = contracts["MockStablecoin"]
    sent, never = enqueue_faucets(s, [SENT_BEFORE_LOSS, NEVER_SENT])
    backup = tmp_path / "nightly.lcbk"
    create_backup(s, backup)  # both pending in the backup
    with session_scope(s) as session:  # the lost host sends only the first one after the backup
        withdraw_pending(session, never, "kept back for the test")
    process_until_idle(s, timeout=30)
    mined_hash = _intents(s)[sent].tx_hash
    assert mints_of(w3, token, SENT_BEFORE_LOSS) == 1

    target = _restored(s, backup, tmp_path)
    assert check_outbox(target)["status"] == "held after restore"
    with pytest.raises(OutboxHeld, match="outbox reconcile"):
        OutboxSender().run_once(target)  # what the worker would do at `make run`: nothing is sent
    assert _intents(target)[sent].status == IntentStatus.PENDING

    read = []
    report = reconcile_after_restore(target, progress=lambda done, total: read.append((done, total)))
    assert [m["key"] for m in report.matched] == [sent] and report.matched[0]["tx_hash"] == mined_hash
    blocks = report.to_block - report.from_block + 1  # the progress bar's count: every block, once, in order
    assert read == [(n, blocks) for n in range(1, blocks + 1)]
    assert [left["key"] for left in report.left] == [never]
    assert check_outbox(target)["status"] == "ok"
    process_until_idle(target, timeout=30)

    assert mints_of(w3, token, SENT_BEFORE_LOSS) == 1, "the call was executed twice on chain"
    assert mints_of(w3, token, NEVER_SENT) == 1
    after = _intents(target)
    assert after[sent].status == IntentStatus.CONFIRMED and after[sent].tx_hash == mined_hash
    assert after[never].status == IntentStatus.CONFIRMED


def test_an_intent_fee_bumped_after_the_backup_takes_the_mined_hash(outbox_settings, w3, contracts, tmp_path):
    """Signed in the backup under one hash, mined under another (a fee bump after the backup): the
    consumed nonce alone would read as "another transaction", and the call would be signed again."""
    s = outbox_settings
    sent, never = enqueue_faucets(s, [SENT_BEFORE_LOSS, NEVER_SENT])
    backup = tmp_path / "nightly.lcbk"
    create_backup(s, backup)
    process_until_idle(s, timeout=30)
    mined = _intents(s)
    target = _restored(s, backup, tmp_path)
    with session_scope(target) as session:  # as if signed before the backup under bytes replaced after it
        for intent in session.scalars(select(Intent)):
            intent.status, intent.nonce, intent.sender = IntentStatus.SIGNED, mined[intent.key].nonce, mined[intent.key].sender
            intent.tx_hash, intent.raw_tx = "0x" + f"{intent.id:02x}" * 32, "0x00"

    report = reconcile_after_restore(target)
    assert sorted(m["key"] for m in report.matched) == sorted([sent, never]) and not report.left
    process_until_idle(target, timeout=30)
    after = _intents(target)[sent]
    assert after.status == IntentStatus.CONFIRMED and after.tx_hash == mined[sent].tx_hash
    assert after.replaced_tx_hashes == ["0x" + f"{after.id:02x}" * 32]
    assert mints_of(w3, contracts["MockStablecoin"], SENT_BEFORE_LOSS) == 1


def test_the_cli_lifts_the_hold(outbox_settings, tmp_path):
    s = outbox_settings
    enqueue_faucets(s, [SENT_BEFORE_LOSS, NEVER_SENT])
    backup = tmp_path / "nightly.lcbk"
    create_backup(s, backup)
    target = _restored(s, backup, tmp_path)
    status = loanchain(target, "outbox", "status")
    assert "held after restore" in status.stdout, status.stdout + status.stderr
    result = loanchain(target, "outbox", "reconcile")
    assert result.returncode == 0, result.stderr
    assert "0 intents found executed" in result.stdout and "2 not found" in result.stdout and "hold lifted" in result.stdout
    assert check_outbox(target)["status"] == "ok"


def test_a_backup_without_the_chain_head_is_reconciled_from_its_time(outbox_settings, w3, contracts, tmp_path, monkeypatch):
    """The node was unreachable when the backup was taken: the scan starts at the first block
    stamped MARGIN before the backup's created_at instead."""
    from backend.backup import service

    s = outbox_settings
    sent, never = enqueue_faucets(s, [SENT_BEFORE_LOSS, NEVER_SENT])
    monkeypatch.setattr(service, "chain_position", lambda _settings: None)
    backup = tmp_path / "nightly.lcbk"
    create_backup(s, backup)
    monkeypatch.undo()
    process_until_idle(s, timeout=30)
    target = _restored(s, backup, tmp_path)
    report = reconcile_after_restore(target)
    assert sorted(m["key"] for m in report.matched) == sorted([sent, never]) and report.from_block <= report.to_block
    process_until_idle(target, timeout=30)
    assert mints_of(w3, contracts["MockStablecoin"], SENT_BEFORE_LOSS) == 1
    assert mints_of(w3, contracts["MockStablecoin"], NEVER_SENT) == 1
