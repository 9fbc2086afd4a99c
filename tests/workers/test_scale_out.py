"""Scale-out on PostgreSQL: two API worker processes (`loanchain serve --workers 2`, each
running the background workers in threads) plus a standalone `loanchain worker run all`, so
three copies of every background worker. Exactly one sends; nonces never collide; when the
sender dies another instance takes over."""

from __future__ import annotations

import os
import signal
import subprocess

import httpx
import pytest
from web3 import Web3

from backend.chain.indexer import index_status
from backend.workers.lease import leases
from tests.chain.conftest import start_loanchain, wait_until
from tests.chain.outbox_checks import SENDER, all_confirmed, assert_exactly_once, enqueue_faucets, intents
from tests.conftest import free_port

pytestmark = pytest.mark.slow  # three `loanchain` processes on PostgreSQL (long files run first: tests/conftest.py)


def _children(pid: int) -> set[int]:
    out = subprocess.run(["pgrep", "-P", str(pid)], capture_output=True, text=True).stdout
    return {int(p) for p in out.split()}


def _pid_of(holder: str) -> int:
    return int(holder.split(":")[1])


def _token(settings, w3):
    from backend.chain.compiler import load_artifact
    from backend.chain.deploy import deployed_addresses

    return w3.eth.contract(address=deployed_addresses(settings)["MockStablecoin"],
                           abi=load_artifact(settings, "MockStablecoin")["abi"])  # fmt: skip


def _stop(proc: subprocess.Popen) -> None:
    if proc.poll() is None:
        os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(30)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(10)


@pytest.mark.parametrize("database_url", ["postgres"], indirect=True)
def test_one_sender_among_api_workers_and_standalone_workers(pg_chain):
    settings = pg_chain
    w3 = Web3(Web3.HTTPProvider(settings.rpc_url))
    start = w3.eth.get_transaction_count(SENDER)
    port = free_port()
    api = start_loanchain(settings, "serve", "--port", str(port), "--workers", "2")
    standalone = start_loanchain(settings, "worker", "run", "all")
    try:
        wait_until(lambda: len(_children(api.pid)) >= 2, timeout=60, what="two API worker processes")
        wait_until(lambda: _health(port), timeout=90, what="the API to answer")
        candidates = _children(api.pid) | {standalone.pid}

        amounts = [9_000_001 + i for i in range(8)]
        enqueue_faucets(settings, amounts)
        wait_until(lambda: all_confirmed(settings), timeout=120, what="every intent confirmed")

        senders = {_pid_of(i.sent_by) for i in intents(settings)}
        assert len(senders) == 1 and senders <= candidates, senders
        held = {lease.name: _pid_of(lease.holder) for lease in leases(settings)}
        assert held["outbox"] in senders and held["indexer"] in candidates
        assert_exactly_once(settings, w3, _token(settings, w3), amounts, start)

        # The indexer instance (whichever holds its lock) catches up; /health shows its lag.
        wait_until(lambda: index_status(settings).lag == 0, timeout=60, what="the index to catch up")
        body = _health(port)
        assert body["indexer"]["ok"] is True and body["indexer"]["lag"] is not None

        # Kill the sending process outright: a standby instance takes the lock and carries on.
        os.kill(held["outbox"], signal.SIGKILL)
        more = [9_100_001 + i for i in range(4)]
        enqueue_faucets(settings, more)
        wait_until(lambda: all_confirmed(settings), timeout=120, what="intents confirmed after failover")
        late = {_pid_of(i.sent_by) for i in intents(settings) if i.key.startswith("faucet-91")}
        assert len(late) == 1 and late != senders
        assert_exactly_once(settings, w3, _token(settings, w3), amounts + more, start)
    finally:
        _stop(standalone)
        _stop(api)


def _health(port: int) -> dict | None:
    try:
        return httpx.get(f"http://127.0.0.1:{port}/health", timeout=10).json()
    except httpx.HTTPError:
        return None
