"""A restore holds the outbox until the chain is read for what the lost host already sent: a
pending intent backed up, then mined, is confirmed under the mined hash after the reconcile, never
sent a second time; one never sent is sent once; one fee-bumped after the backup (its mined hash
unknown to the backup) takes the mined hash. The reconcile is refused, the hold kept, while the
node cannot show what the lost host sent: a transaction still in the pool, a node behind the
backup's head or syncing, another chain, a chain reset since the backup."""

from __future__ import annotations

import json

import pytest
from sqlalchemy import select

from backend.backup.service import create_backup, restore_backup
from backend.chain.models import Intent, IntentStatus
from backend.chain.node import rpc_call
from backend.chain.outbox import process_until_idle, withdraw_pending
from backend.chain.restore_reconcile import HOLD, OutboxHeld, reconcile_after_restore
from backend.chain.sender import OutboxSender
from backend.db import migrate
from backend.db.meta import MetaEntry
from backend.db.session import session_scope
from backend.errors import Conflict
from backend.services.health import check_outbox
from tests.chain.conftest import loanchain
from tests.chain.outbox_checks import enqueue_faucets, mints_of

SENT_BEFORE_LOSS, NEVER_SENT = 4_242_001, 4_242_002


def _intents(settings) -> dict[str, Intent]:
    with session_scope(settings) as session:
        return {i.key: i for i in session.scalars(select(Intent))}


def _restored(settings, backup, tmp_path, held: int = 2):
    target = settings.model_copy(update={"database_url": f"sqlite:///{tmp_path / 'restored.db'}"})
    migrate.upgrade(target)
    report = restore_backup(target, backup)
    assert report.outbox_held == held
    return target


def _edit_hold(settings, **chain) -> None:
    """Change what the hold says of the chain the backup was taken beside."""
    with session_scope(settings) as session:
        row = session.get(MetaEntry, HOLD)
        hold = json.loads(row.value)
        hold["chain"].update(chain)
        row.value = json.dumps(hold)


def _held(settings) -> bool:
    with session_scope(settings) as session:
        return session.get(MetaEntry, HOLD) is not None


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


def test_a_transaction_of_the_lost_host_still_in_the_pool_holds_the_reconcile(outbox_settings, w3, contracts, tmp_path):
    """The lost host broadcast the call, unmined yet (a congested chain): the scan of mined blocks
    would not find it, and the new host would sign the same call at the next nonce; both mined."""
    s = outbox_settings
    (sent,) = enqueue_faucets(s, [SENT_BEFORE_LOSS])
    backup = tmp_path / "nightly.lcbk"
    create_backup(s, backup)  # pending in the backup
    rpc_call(s.rpc_url, "evm_setAutomine", [False])
    try:
        OutboxSender().run_once(s)  # the lost host signs and broadcasts; it waits in the pool
        target = _restored(s, backup, tmp_path, held=1)
        with pytest.raises(Conflict, match="1 transactions of signer .* in the node's pool"):
            reconcile_after_restore(target)
        assert _held(target)
        with pytest.raises(OutboxHeld):
            OutboxSender().run_once(target)
        rpc_call(s.rpc_url, "evm_mine")
    finally:
        rpc_call(s.rpc_url, "evm_setAutomine", [True])
    report = reconcile_after_restore(target)  # mined now: found, and the hold lifted
    assert [m["key"] for m in report.matched] == [sent] and not report.left and not _held(target)
    process_until_idle(target, timeout=30)
    assert mints_of(w3, contracts["MockStablecoin"], SENT_BEFORE_LOSS) == 1
    assert _intents(target)[sent].status == IntentStatus.CONFIRMED


def test_a_node_behind_the_backups_head_holds_the_reconcile(outbox_settings, w3, contracts, tmp_path):
    """A node still syncing (the usual state right after a host is lost) has not the blocks the
    lost host's transactions are in: a scan would read nothing and every call would run again."""
    s = outbox_settings
    (sent,) = enqueue_faucets(s, [SENT_BEFORE_LOSS])
    backup = tmp_path / "nightly.lcbk"
    create_backup(s, backup)
    process_until_idle(s, timeout=30)  # the lost host sends it: mined
    target = _restored(s, backup, tmp_path, held=1)
    with session_scope(target) as session:
        backup_head = json.loads(session.get(MetaEntry, HOLD).value)["chain"]["block"]
    head = w3.eth.block_number
    _edit_hold(target, block=head + 50)  # as if this node's head were 50 blocks below the backup's
    with pytest.raises(Conflict, match=f"behind the backup's chain head \\(block {head} < {head + 50}\\)"):
        reconcile_after_restore(target)
    assert _held(target)
    refused = loanchain(target, "outbox", "reconcile", COLUMNS="80")  # one red line, the hold kept
    assert refused.returncode == 2 and "Traceback" not in refused.stderr
    assert f"error: the node is behind the backup's chain head (block {head} < {head + 50}): wait for it" in refused.stderr
    assert _held(target)
    _edit_hold(target, block=backup_head)  # the node caught up
    assert [m["key"] for m in reconcile_after_restore(target).matched] == [sent]
    process_until_idle(target, timeout=30)
    assert mints_of(w3, contracts["MockStablecoin"], SENT_BEFORE_LOSS) == 1


def test_a_syncing_node_holds_the_reconcile(outbox_settings, tmp_path, monkeypatch):
    from web3.eth import Eth

    s = outbox_settings
    enqueue_faucets(s, [SENT_BEFORE_LOSS])
    backup = tmp_path / "nightly.lcbk"
    create_backup(s, backup)
    target = _restored(s, backup, tmp_path, held=1)
    monkeypatch.setattr(Eth, "syncing", property(lambda _eth: {"currentBlock": 5, "highestBlock": 900}))
    with pytest.raises(Conflict, match=r"still syncing \(block 5 of 900\)"):
        reconcile_after_restore(target)
    assert _held(target)


def test_another_chain_is_refused(outbox_settings, tmp_path):
    """The backup names the chain its outbox sent to; the node serves another one."""
    s = outbox_settings
    enqueue_faucets(s, [SENT_BEFORE_LOSS])
    backup = tmp_path / "nightly.lcbk"
    create_backup(s, backup)
    target = _restored(s, backup, tmp_path, held=1)
    _edit_hold(target, chain_id=1)
    with pytest.raises(Conflict, match="taken beside chain 1, the node is chain 31337"):
        reconcile_after_restore(target)
    assert _held(target)


def test_a_node_of_another_chain_than_the_platforms_is_refused_even_without_the_backups_chain(
    outbox_settings, tmp_path, monkeypatch
):
    """A backup whose header names no chain (the node was down) is still checked against CHAIN_ID."""
    from backend.backup import service

    s = outbox_settings
    enqueue_faucets(s, [SENT_BEFORE_LOSS])
    monkeypatch.setattr(service, "chain_position", lambda _settings: None)
    backup = tmp_path / "nightly.lcbk"
    create_backup(s, backup)
    target = _restored(s, backup, tmp_path, held=1).model_copy(update={"chain_id": 5})
    with pytest.raises(Conflict, match="the node is chain 31337, this platform's CHAIN_ID is 5"):
        reconcile_after_restore(target)
    assert _held(target)


def test_a_chain_reset_since_the_backup_is_refused(outbox_settings, w3, tmp_path):
    """Same chain id, but the block the backup saw is not on it (a dev chain reset, a replaced
    network): what the lost host sent is not there to be found. An explicit --from-block goes on."""
    s = outbox_settings
    enqueue_faucets(s, [SENT_BEFORE_LOSS])
    backup = tmp_path / "nightly.lcbk"
    create_backup(s, backup)
    target = _restored(s, backup, tmp_path, held=1)
    with session_scope(target) as session:
        chain = json.loads(session.get(MetaEntry, HOLD).value)["chain"]
    assert chain["settled_hash"] == w3.eth.get_block(chain["settled_block"])["hash"].to_0x_hex()
    _edit_hold(target, settled_hash="0x" + "ab" * 32)
    with pytest.raises(Conflict, match=f"block {chain['settled_block']} on the node is not the one the backup saw"):
        reconcile_after_restore(target)
    assert _held(target)
    report = reconcile_after_restore(target, from_block=chain["block"])  # the operator's explicit choice
    assert report.from_block == chain["block"] and not _held(target)


def test_a_matched_intent_without_its_bytes_whose_block_is_lost_is_stalled_not_a_crash(outbox_settings, w3, contracts,
                                                                                       tmp_path, monkeypatch):  # fmt: skip
    """Review-recent L3: matched on a node without eth_getRawTransactionByHash, the intent has no raw
    bytes; when the node then lost its block, every outbox round raised TypeError. It keeps its
    status, is listed as stalled, and nothing signs the call again."""
    from backend.chain import restore_reconcile
    from backend.chain.outbox import stalled_intents
    from backend.chain.sender import NO_RAW_TX

    s = outbox_settings
    (sent,) = enqueue_faucets(s, [SENT_BEFORE_LOSS])
    backup = tmp_path / "nightly.lcbk"
    create_backup(s, backup)
    before_send = rpc_call(s.rpc_url, "evm_snapshot")
    process_until_idle(s, timeout=30)  # the lost host sends it: mined
    target = _restored(s, backup, tmp_path, held=1)
    monkeypatch.setattr(restore_reconcile, "raw_tx_of", lambda _w3, _hash: None)  # the node cannot give raw bytes
    assert [m["key"] for m in reconcile_after_restore(target).matched] == [sent]
    process_until_idle(target, timeout=30)
    confirmed = _intents(target)[sent]
    assert (confirmed.status, confirmed.raw_tx) == (IntentStatus.CONFIRMED, None)

    rpc_call(s.rpc_url, "evm_revert", [before_send])  # the node loses the block and the transaction
    OutboxSender().run_once(target)  # its block is above the node's head: offered again, had it bytes
    for _ in range(confirmed.block_number - w3.eth.block_number + 1):
        rpc_call(s.rpc_url, "evm_mine")
    OutboxSender().run_once(target)  # the node is past its block without it: lost
    OutboxSender().run_once(target)
    after = _intents(target)[sent]
    assert after.status == IntentStatus.CONFIRMED and after.error.startswith(NO_RAW_TX)
    with session_scope(target) as session:
        assert [i.key for i in stalled_intents(session)] == [sent]
    assert mints_of(w3, contracts["MockStablecoin"], SENT_BEFORE_LOSS) == 0  # not signed again
