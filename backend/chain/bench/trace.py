"""How long a loan's trace takes, and how many JSON-RPC calls it makes, against the number of
other loans on the chain (`loanchain bench trace`).

A temporary Anvil of its own (the chain `make run` serves is left alone) with the contracts
deployed; the traced loan is created, funded by five investors, disbursed and one of its notes
passed on (an ERC-1155 transfer whose loan id is only in the log's data); then, for each size, as
many other loans as it takes, each funded by the same five investors and disbursed, all indexed.
The trace is the API's (`trace_loan`, notes withheld), timed warm `repeats` times per size; its
RPC calls are counted on one of them. The figures to read are the calls, which must not grow with
the book, and the p50 and p95 wall times (on two shared cores they move with the machine's load).
No offer, decision or agreement is held for the loan (it is made on the chain directly), so those
checks fail fast and the time is the chain's part of the trace."""

from __future__ import annotations

import math
import statistics
import time
from typing import Any

from web3 import Web3

from backend.audit.trace import trace_loan
from backend.chain.bench.gas import UNIT, _Bench, _wallet
from backend.chain.bench.rpc_count import HTTP, rpc_calls
from backend.chain.bench.throwaway import throwaway_anvil
from backend.chain.deploy import deploy_all
from backend.chain.indexer import Indexer
from backend.config import Settings
from backend.db import migrate
from backend.db.session import session_scope

PRINCIPAL = 1_000 * UNIT
INVESTORS = 5


def _loan(b: _Bench, borrower, investors: list, label: str) -> int:
    book = b.contract("LoanBook")
    loan_id, _ = b.create_loan(borrower, label, PRINCIPAL)
    b.fund_all(loan_id, investors, PRINCIPAL // INVESTORS, measure=False)
    b.send(book.functions.disburse(loan_id), b.admin)
    return loan_id


def _percentile(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[max(0, math.ceil(p / 100 * len(ordered)) - 1)]


def _time(settings: Settings, loan_id: int, repeats: int) -> dict[str, Any]:
    with session_scope(settings) as session:
        trace_loan(session, settings, loan_id, with_notes=False)  # warm: imports, contracts, connections
        with rpc_calls(settings.rpc_url) as calls:
            traced = trace_loan(session, settings, loan_id, with_notes=False)
        wall = []
        for _ in range(repeats):
            started = time.perf_counter()
            trace_loan(session, settings, loan_id, with_notes=False)
            wall.append((time.perf_counter() - started) * 1000)
        session.rollback()
    chain_checks = {c.name: c.ok for c in traced.checks if c.name in ("index_current", "index_matches_chain",
                                                                      "terms_hash_recomputed", "events_match_chain")}
    return {"trace_ms_p50": round(statistics.median(wall), 1), "trace_ms_p95": round(_percentile(wall, 95), 1),
            "rpc_calls": sum(n for method, n in calls.items() if method != HTTP), "http_requests": calls[HTTP],
            "rpc_by_method": dict(sorted((m, n) for m, n in calls.items() if m != HTTP)),
            "events": len(traced.events), "chain_checks_pass": all(chain_checks.values())}  # fmt: skip


def run_trace_bench(settings: Settings, sizes: list[int], repeats: int = 20) -> dict[str, Any]:
    with throwaway_anvil(settings, "loanchain-trace-") as (temp, workdir):
        temp = temp.model_copy(update={"database_url": f"sqlite:///{workdir / 'trace.db'}", "run_workers": False})
        addresses = {name: e["address"] for name, e in deploy_all(temp).manifest["contracts"].items()}
        migrate.upgrade(temp)
        b = _Bench(temp, Web3(Web3.HTTPProvider(temp.rpc_url, request_kwargs={"timeout": 120})), "anvil", addresses)
        book = b.contract("LoanBook")
        borrower = _wallet("trace-bench/borrower")
        investors = [_wallet(f"trace-bench/investor-{i}") for i in range(INVESTORS)]
        level = max(book.functions.borrowerKycLevel().call(), book.functions.investorKycLevel().call())
        b.onboard([borrower], PRINCIPAL, level)
        b.onboard(investors, 1_000 * PRINCIPAL, level)
        traced = _loan(b, borrower, investors, "traced")
        first, second = investors[:2]
        b.send(book.functions.safeTransferFrom(first.address, second.address, traced, UNIT, b""), first)
        loans, results = 1, []
        for size in sorted(sizes):
            while loans < size:
                _loan(b, borrower, investors, f"other-{loans}")
                loans += 1
            Indexer().catch_up(temp)
            results.append({"loans": loans, "blocks": b.w3.eth.block_number, **_time(temp, traced, repeats)})
    small, large = results[0], results[-1]
    return {"database": "sqlite", "repeats": repeats, "investors_per_loan": INVESTORS, "sizes": results,
            "rpc_calls_ratio": round(large["rpc_calls"] / small["rpc_calls"], 2) if small["rpc_calls"] else None,
            "time_ratio": round(large["trace_ms_p50"] / small["trace_ms_p50"], 2) if small["trace_ms_p50"] else None}  # fmt: skip
