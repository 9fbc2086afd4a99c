"""Throughput and latency of the transaction outbox, side by side with the naive baseline.

On a temporary Anvil with a temporary SQLite database, the same N transactions
(`MockStablecoin.faucet`, from the platform signer) are sent twice:
- baseline: one at a time, each signed, sent and waited for before the next (what a request
  handler calling web3 directly does);
- outbox: N intents enqueued, one database transaction each (as services do), then the sender
  drives them: persisted before each broadcast, receipts reconciled, exactly once.
The report gives both rates and their ratio; the enqueue-to-confirmed latency of the N queued
together (batch: includes waiting behind the others), and of one intent at a time (single).
The outbox pays for durability with database writes; it wins back by not waiting per transaction."""

from __future__ import annotations

import statistics
import time
from typing import Any

from sqlalchemy import select

from backend.chain.bench.throwaway import throwaway_anvil
from backend.chain.client import get_web3
from backend.chain.deploy import deploy_all, deployed_contract
from backend.chain.models import Intent, IntentStatus
from backend.chain.outbox import enqueue, process_until_idle
from backend.chain.signers import platform_account
from backend.chain.tx import send_and_wait
from backend.config import Settings
from backend.db import migrate
from backend.db.base import as_utc
from backend.db.session import session_scope

RECIPIENT = "0x000000000000000000000000000000000000bEEF"


def _baseline(settings: Settings, n: int) -> float:
    w3, account = get_web3(settings), platform_account(settings)
    token = deployed_contract(settings, "MockStablecoin")
    start = time.perf_counter()
    for i in range(n):
        send_and_wait(w3, account, token.functions.faucet(RECIPIENT, i + 1).build_transaction({"from": account.address}))
    return time.perf_counter() - start


def _outbox(settings: Settings, n: int) -> tuple[float, list[float]]:
    start = time.perf_counter()
    for i in range(n):
        with session_scope(settings) as session:
            enqueue(session, key=f"bench:{i}", contract="MockStablecoin", function="faucet", args=[RECIPIENT, i + 1],
                    settings=settings)  # fmt: skip
    process_until_idle(settings, timeout=600)
    elapsed = time.perf_counter() - start
    with session_scope(settings) as session:
        intents = list(session.scalars(select(Intent).where(Intent.key.like("bench:%"))))
        assert all(i.status == IntentStatus.CONFIRMED for i in intents), "every intent must confirm"
        latencies = [(as_utc(i.confirmed_at) - as_utc(i.created_at)).total_seconds() for i in intents]
    return elapsed, latencies


def _single(settings: Settings, runs: int) -> list[float]:
    """One intent at a time, enqueue to confirmed: the latency a lone request sees."""
    latencies = []
    for i in range(runs):
        start = time.perf_counter()
        with session_scope(settings) as session:
            enqueue(session, key=f"single:{i}", contract="MockStablecoin", function="faucet", args=[RECIPIENT, 1],
                    settings=settings)  # fmt: skip
        process_until_idle(settings)
        latencies.append(time.perf_counter() - start)
    return latencies


def _scenario(settings: Settings, n: int, block_time: int | None, single_runs: int) -> dict[str, Any]:
    with throwaway_anvil(settings, "loanchain-outbox-", block_time) as (temp, workdir):
        temp = temp.model_copy(update={"confirmations": 0, "database_url": f"sqlite:///{workdir / 'bench.db'}",
                                       "outbox_batch": max(n, 50)})  # fmt: skip
        deploy_all(temp)
        migrate.upgrade(temp)
        baseline = _baseline(temp, n)
        outbox, latencies = _outbox(temp, n)
        single = _single(temp, single_runs)
    return {
        "transactions": n,
        "mining": f"a block every {block_time} s" if block_time else "automine (a block per transaction)",
        "baseline_one_at_a_time_tx_per_s": round(n / baseline, 2),
        "outbox_tx_per_s": round(n / outbox, 2),
        "outbox_vs_baseline_ratio": round(baseline / outbox, 2),
        "outbox_batch_latency_p50_s": round(statistics.median(latencies), 3),
        "outbox_batch_latency_p95_s": round(statistics.quantiles(latencies, n=20)[18], 3),
        "outbox_single_latency_p50_s": round(statistics.median(single), 3),
        "outbox_single_latency_p95_s": round(statistics.quantiles(single, n=20)[18], 3),
    }


def run_outbox_bench(settings: Settings, n: int = 200, interval_n: int = 20) -> dict[str, Any]:
    """Automine (what tests use: the chain is never the bottleneck, so this isolates the outbox's
    own cost) and 1-second blocks (closer to a real chain, where waiting per transaction is what
    the baseline pays for)."""
    return {
        "database": "sqlite, temporary",
        "automine": _scenario(settings, n, None, single_runs=40),
        "block_time_1s": _scenario(settings, interval_n, 1, single_runs=5),
    }
