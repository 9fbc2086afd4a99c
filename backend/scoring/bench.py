"""`loanchain bench score`: single-decision latency and batch throughput of the serving path.
Goals: p95 < 2 ms per decision, >= 10,000 rows/s in batch, on one core."""

from __future__ import annotations

import os
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import numpy as np

from backend.scoring.dataset import TRAINING_CSV, read_csv_text
from backend.scoring.schemas import ApplicationCreate
from backend.scoring.scorer import get_scorer
from backend.scoring.service import decide

GOAL_P95_MS = 2.0
GOAL_ROWS_PER_S = 10_000

# An approval: the slowest path, as an approval is scored again, in one batch, at the amount rule's
# lower amounts (5% lower and each side of the amount bins' edges below); a referral or a decline is
# scored once.
SAMPLE_APPLICATION = ApplicationCreate(
    amount=3_000,
    term_months=24,
    purpose="used_car",
    monthly_income_band="2000_to_3500",
    monthly_debt_payments=200,
    employment_length="4_to_7y",
    housing="own",
    existing_loans_with_us=0,
    checking_account="200_plus_or_salary",
    savings="500_to_1000",
    credit_history="all_repaid_here",
    property="real_estate",
    other_instalment_plans="none",
    guarantor="none",
)


@contextmanager
def _one_core() -> Iterator[None]:
    """Pin the process to one CPU while timing (restored after), so "one core" is true even if a
    library would spread work over threads."""
    if not hasattr(os, "sched_setaffinity"):
        yield
        return
    before = os.sched_getaffinity(0)
    try:
        os.sched_setaffinity(0, {min(before)})
    except OSError:
        pass
    try:
        yield
    finally:
        os.sched_setaffinity(0, before)


def _latencies_ms(fn, n: int) -> np.ndarray:
    out = np.empty(n)
    for i in range(n):
        start = time.perf_counter()
        fn()
        out[i] = (time.perf_counter() - start) * 1000
    return out


def run_score_bench(decisions: int = 2_000, batch_rows: int = 100_000) -> dict[str, Any]:
    with _one_core():
        return _run(decisions, batch_rows)


def _run(decisions: int, batch_rows: int) -> dict[str, Any]:
    scorer = get_scorer()
    frame = read_csv_text(TRAINING_CSV)
    columns = {c: frame[c].to_numpy(dtype=object) for c in scorer.inputs}

    for _ in range(50):  # warm caches and lazy imports before timing
        decide(SAMPLE_APPLICATION, scorer)
    decision_ms = _latencies_ms(lambda: decide(SAMPLE_APPLICATION, scorer), decisions)
    score_ms = _latencies_ms(lambda: scorer.score_one({k: v[0] for k, v in columns.items()}), decisions)

    reps = -(-batch_rows // len(frame))
    big = {k: np.tile(v, reps)[:batch_rows] for k, v in columns.items()}  # raw text, as from a CSV
    start = time.perf_counter()
    batch = scorer.score_records(big)
    elapsed = time.perf_counter() - start
    rows_per_s = len(batch) / elapsed

    p95 = float(np.percentile(decision_ms, 95))
    return {
        "model_version": scorer.model_version,
        "single_decision_ms": {
            "what": "validate + map + score + grade + PD + reasons + price + decision hash (no database)",
            "n": decisions,
            "p50": float(np.percentile(decision_ms, 50)),
            "p95": p95,
            "p99": float(np.percentile(decision_ms, 99)),
        },
        "single_score_ms": {
            "what": "validate + score + grade + PD + reasons, model inputs given",
            "p50": float(np.percentile(score_ms, 50)),
            "p95": float(np.percentile(score_ms, 95)),
        },
        "batch": {
            "what": "validate text columns + score + grade + PD + reasons",
            "rows": int(len(batch)),
            "seconds": elapsed,
            "rows_per_s": rows_per_s,
        },
        "cores": 1,
        "goals": {"p95_ms": GOAL_P95_MS, "rows_per_s": GOAL_ROWS_PER_S},
        "meets_goals": bool(p95 < GOAL_P95_MS and rows_per_s >= GOAL_ROWS_PER_S),
    }
