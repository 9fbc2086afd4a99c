"""How the public disclosure read scales with the book: `GET /api/v1/disclosure` recomputes every
figure from the index on each read (counts, the reserve's expected loss at each loan's PD now, the
roll rates from the borrower notices, the vintages), so its cost grows with the loans held.

For each size, a temporary SQLite database is filled with a synthetic book shaped like a real
one: loans disbursed over two years (60% active, 30% repaid, 8% defaulted, 2% funding), five
investors' fundings each, a credit decision each, the servicing pass's standing for the active
ones (10% of them late), a due-soon reminder for every installment paid and the late notices of a
late episode for one loan in seven. The read is timed warm, `repeats` times; the report gives each
size's median and the ratio between the largest and the smallest book against the ratio of their
sizes (equal would be linear), what the API's read costs when nothing has changed since the last
(`disclosure.live`), and the loan tape's CSV, built the same way. Nothing here touches a chain: the read needs none."""

from __future__ import annotations

import random
import statistics
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from sqlalchemy import insert
from sqlalchemy.orm import Session

from backend.chain.models import ChainEvent, IndexedBlock, IndexerCheckpoint
from backend.chain.projection_models import FundingRow, LoanRow
from backend.config import Settings
from backend.db import migrate
from backend.db.session import session_scope
from backend.disclosure.live import live_disclosure
from backend.disclosure.service import platform_disclosure
from backend.disclosure.tape import loan_tape, tape_csv
from backend.scoring.artifact import load_artifact
from backend.scoring.canonical import keccak_hex
from backend.scoring.models import CreditDecision
from backend.scoring.service import decision_hash
from backend.servicing.aging import NOTICE_OF_BUCKET
from backend.servicing.models import ServicingNotice, ServicingState

DAY, MONTH = 86_400, 30 * 86_400
NOW = 1_800_000_000
INVESTORS = 5
UNIT = 10**6


def _hex(n: int, width: int = 64) -> str:
    return "0x" + format(n, f"0{width}x")


def proven_decision(record_id: str, grade: str, pd: float, score: int = 600, inputs: dict | None = None) -> dict:
    """A decision record that proves itself (its hash recomputes), as the disclosure requires; the
    row's `decision_hash` is what a loan's terms would carry. Made by the shipped model, so the
    disclosure finds its grade's PD (`priced_pd`); `pd` is the decision's own, which it never shows."""
    model_version, inputs = load_artifact()["model_version"], inputs or {"purpose": "used_car", "record": record_id}
    outputs = {"score": score, "grade": grade, "pd": pd, "decision": "approve"}
    return dict(id=record_id, model_version=model_version, input_hash=keccak_hex(inputs),
                decision_hash=decision_hash(model_version, inputs, outputs), score=score, grade=grade, pd=pd,
                decision="approve", inputs=inputs, outputs=outputs)  # fmt: skip


def _decision(rng: random.Random, loan_id: int) -> dict:
    return proven_decision(f"{loan_id:036d}", rng.choice("ABCDE"), rng.uniform(0.01, 0.2), rng.randrange(500, 800))


def _rows(loans: int, seed: int) -> dict[type, list[dict]]:
    rng = random.Random(seed)
    rows: dict[type, list[dict]] = {t: [] for t in (ChainEvent, FundingRow, LoanRow, CreditDecision, ServicingState,
                                                    ServicingNotice)}  # fmt: skip
    event_id = 0

    def event(name: str, args: dict, stamp: int) -> int:
        nonlocal event_id
        event_id += 1
        rows[ChainEvent].append(dict(id=event_id, block_number=event_id, block_hash=_hex(event_id), tx_hash=_hex(event_id),
                                     tx_index=0, log_index=0, contract="LoanBook", address=_hex(1, 40), event=name,
                                     args=args, block_timestamp=stamp))  # fmt: skip
        return event_id

    for loan_id in range(1, loans + 1):
        status = rng.choices(("active", "repaid", "defaulted", "funding"), (60, 30, 8, 2))[0]
        principal, installments = rng.randrange(2_000, 20_000) * UNIT, rng.choice((12, 24, 36))
        start = NOW - rng.randrange(1, 24 * MONTH) if status != "funding" else None
        paid = installments if status == "repaid" else rng.randrange(0, installments) if start else 0
        borrower = _hex(loan_id, 40)
        made = _decision(random.Random(seed * 1_000_003 + loan_id), loan_id)
        decision = made["decision_hash"]
        outstanding = 0 if status == "repaid" or not start else principal * (installments - paid) // installments
        rows[LoanRow].append(dict(
            loan_id=loan_id, status=status, borrower=borrower, underwriter=_hex(2, 40), terms_hash=_hex(loan_id),
            agreement_hash=_hex(loan_id), decision_hash=decision, principal=principal, apr_bps=rng.randrange(600, 3_000),
            installments=installments, installment_period=MONTH, installment_amount=principal // installments,
            funding_deadline=NOW + 7 * DAY, origination_fee_bps=100, funded=principal if start else principal // 2,
            start_time=start, origination_fee=principal // 100 if start else 0, principal_outstanding=outstanding,
            last_installment=paid, installments_settled=paid, billed_unpaid=0, interest_paid=0,
            principal_paid=principal - outstanding if start else 0,
            fees_assessed=0, fees_paid=0, cover=outstanding * 8 // 10 if status == "defaulted" else 0, recovered=0,
            recoverable=outstanding if status == "defaulted" else 0, claimed=0, created_block=1, block_number=1, tx_hash=_hex(loan_id), log_index=0,
        ))  # fmt: skip
        rows[CreditDecision].append(made)
        for k in range(INVESTORS):
            investor, amount = _hex(10_000 + rng.randrange(loans * 2), 40), principal // INVESTORS
            ref = event("LoanFunded", {"loanId": loan_id, "investor": investor, "amount": str(amount)}, start or NOW)
            rows[FundingRow].append(dict(event_id=ref, loan_id=loan_id, investor=investor, kind="fund", amount=amount,
                                         total_funded=amount * (k + 1), block_number=ref, tx_hash=_hex(ref),
                                         log_index=0))  # fmt: skip
        if not start:
            continue
        event("LoanDisbursed", {"loanId": loan_id, "originationFee": str(principal // 100)}, start)
        if status == "defaulted":
            event("LoanDefaulted", {"loanId": loan_id}, start + rng.randrange(4, 12) * MONTH)
        for k in range(1, paid + 1):
            rows[ServicingNotice].append(dict(loan_id=loan_id, borrower=borrower, recipient=borrower, installment=k,
                                              kind="due_soon", due_date=start + k * MONTH, amount=0, message="due soon",
                                              email_attempts=0, sms_attempts=0))  # fmt: skip
        late = rng.random() < 1 / 7
        if late:  # one episode: its notices up to a bucket, cured unless the loan defaulted
            worst = 3 if status == "defaulted" else rng.randrange(0, 3)
            for bucket in list(NOTICE_OF_BUCKET)[: worst + 1]:
                rows[ServicingNotice].append(dict(loan_id=loan_id, borrower=borrower, recipient=borrower,
                                                  installment=paid + 1, kind=NOTICE_OF_BUCKET[bucket],
                                                  due_date=start + (paid + 1) * MONTH, amount=0, message=bucket,
                                                  email_attempts=0, sms_attempts=0))  # fmt: skip
        if status == "active":
            bucket = rng.choice(("grace", "late_16_30", "late_31_120")) if rng.random() < 0.1 else "current"
            rows[ServicingState].append(dict(loan_id=loan_id, borrower=borrower, bucket=bucket, days_past_due=0,
                                             installments_paid=paid, due_now=0, payoff=outstanding,
                                             next_due_date=start + (paid + 1) * MONTH, defaultable_at=0, as_of=NOW))  # fmt: skip
    return rows


def _book(settings: Settings, loans: int, seed: int) -> None:
    migrate.upgrade(settings)
    with session_scope(settings) as session:
        for table, values in _rows(loans, seed).items():
            for i in range(0, len(values), 5_000):
                session.execute(insert(table), values[i : i + 5_000])
        session.add(IndexedBlock(number=1, hash=_hex(1), parent_hash=_hex(0), timestamp=NOW))
        session.add(IndexerCheckpoint(name="main", block_number=1, block_hash=_hex(1), deployment_hash="bench"))


def _timed(read: Callable[[Session], Any], session: Session) -> float:
    started = time.perf_counter()
    read(session)
    return time.perf_counter() - started


def run_disclosure_bench(settings: Settings, sizes: list[int], repeats: int = 5, seed: int = 7) -> dict[str, Any]:
    results = []
    with tempfile.TemporaryDirectory(prefix="loanchain-bench-") as tmp:
        for loans in sizes:
            local = settings.model_copy(update={"database_url": f"sqlite:///{Path(tmp) / f'book-{loans}.db'}",
                                                "var_dir": Path(tmp)})  # fmt: skip
            _book(local, loans, seed)
            with session_scope(local) as session:
                platform_disclosure(session)  # warm: the first read pays for imports and the page cache
                timings = [_timed(platform_disclosure, session) for _ in range(repeats)]
                live_disclosure(session, local)  # computes once; the next reads find nothing changed
                unchanged = [_timed(lambda s: live_disclosure(s, local), session) for _ in range(repeats)]
                tapes = [_timed(lambda s: tape_csv(loan_tape(s)), session) for _ in range(repeats)]
            results.append({"loans": loans, "read_ms_p50": round(statistics.median(timings) * 1000, 1),
                            "read_ms_max": round(max(timings) * 1000, 1),
                            "unchanged_read_ms_p50": round(statistics.median(unchanged) * 1000, 2),
                            "loan_tape_ms_p50": round(statistics.median(tapes) * 1000, 1)})  # fmt: skip
    small, large = results[0], results[-1]
    return {
        "database": "sqlite", "repeats": repeats, "sizes": results,
        "size_ratio": large["loans"] / small["loans"],
        "time_ratio": round(large["read_ms_p50"] / small["read_ms_p50"], 2) if small["read_ms_p50"] else None,
    }  # fmt: skip
