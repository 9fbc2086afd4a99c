"""A stale sender (a lock holder whose connection dropped mid-round, beside the new holder) read an
intent as pending; meanwhile the new holder signed, sent and confirmed it. Whatever the stale
sender then writes on its old reading is refused (Conflict ends its round): the confirmed call is
never recorded as failed, nor its fee-bump clock moved, and it runs once."""

from __future__ import annotations

import threading
import time

import pytest
import requests
from web3.exceptions import ContractLogicError

from backend.chain import sender as sender_module
from backend.chain.models import IntentStatus
from backend.chain.outbox import get_intent, process_until_idle
from backend.chain.sender import OutboxSender
from backend.db.session import session_scope
from backend.errors import Conflict
from tests.chain.outbox_checks import enqueue_faucets, mints_of

AMOUNT = 4_545_001


def _already_ran() -> Exception:
    # The call already ran (the new holder's transaction): estimating it again reverts, as any one-shot call would.
    return ContractLogicError("execution reverted: already done", data="0x")


def _node_dropped() -> Exception:
    return requests.exceptions.ConnectionError("node dropped the estimate")


@pytest.mark.parametrize("database_url", ["sqlite", "postgres"], indirect=True)
@pytest.mark.parametrize("estimate_fails", [_already_ran, _node_dropped], ids=["reverts", "unreachable"])
def test_a_stale_sender_cannot_overwrite_an_intent_the_new_holder_confirmed(
    outbox_settings_any_db, w3, contracts, monkeypatch, estimate_fails
):
    s = outbox_settings_any_db
    (key,) = enqueue_faucets(s, [AMOUNT])
    real = sender_module._contract_function
    stale_read, holder_done = threading.Event(), threading.Event()

    class StaleEstimate:
        def __init__(self, fn):
            self.fn = fn

        def estimate_gas(self, params):
            stale_read.set()  # the stale sender has read the intent as pending
            assert holder_done.wait(30)
            raise estimate_fails()

        def __getattr__(self, name):
            return getattr(self.fn, name)

    def racing(settings, w3_, intent):
        fn = real(settings, w3_, intent)
        return StaleEstimate(fn) if threading.current_thread().name == "stale" else fn

    monkeypatch.setattr(sender_module, "_contract_function", racing)
    errors: list[BaseException] = []

    def stale_round():
        try:
            OutboxSender().run_once(s)
        except Exception as exc:  # noqa: BLE001 - what ended the round is the assertion
            errors.append(exc)

    stale = threading.Thread(target=stale_round, name="stale")
    stale.start()
    assert stale_read.wait(30)
    # The new holder signs and sends; automine mines it, and a later round of a loaded machine may be
    # the one that reads the receipt.
    deadline = time.monotonic() + 30
    while True:
        OutboxSender().run_once(s)
        with session_scope(s) as session:
            confirmed = get_intent(session, key)
            if confirmed.status == IntentStatus.CONFIRMED or time.monotonic() > deadline:
                break
        time.sleep(0.2)
    with session_scope(s) as session:
        confirmed = get_intent(session, key)
        assert confirmed.status == IntentStatus.CONFIRMED
        mined_hash, attempts, next_at = confirmed.tx_hash, confirmed.attempts, confirmed.next_attempt_at
    holder_done.set()
    stale.join(30)

    assert len(errors) == 1 and isinstance(errors[0], Conflict), errors
    assert "changed by another sender" in str(errors[0])
    monkeypatch.setattr(sender_module, "_contract_function", real)
    process_until_idle(s, timeout=20)
    with session_scope(s) as session:
        row = get_intent(session, key)
        assert (row.status, row.tx_hash, row.error) == (IntentStatus.CONFIRMED, mined_hash, None)
        assert (row.attempts, row.next_attempt_at) == (attempts, next_at)
    assert mints_of(w3, contracts["MockStablecoin"], AMOUNT) == 1
