"""How a monitoring alerts read scales with the book: `GET /api/v1/audit/alerts` (and `loanchain
audit alerts`, the staff page) recomputes every rule over the whole chain index and every credit
decision on each read, so its cost grows with what the platform has ever done.

For each size, a temporary SQLite database holds the disclosure bench's synthetic book
(`backend/disclosure/bench.py`: loans, five fundings each, a credit decision each, servicing notices)
and, on top, what the rules read: about one note transfer per disbursed loan (two in five a market
trade, one in twenty of those off-market; the rest gifts, one in twenty of all the loan's notes; one in a hundred sent
back within days), a repayment per installment paid, each decision's applicant and answers (one
borrower in ten applied once before within the month with other answers), a KYC record per wallet
(one borrower in twenty with a second wallet under the same national ID), the network address each
applied from (one loan in fifty funded from its borrower's), and two promises to pay on each loan
with a late episode; and each disbursal with its borrower's onward transfers of the loan token (one
to a shop, 10-40% of it within 20 days; one borrower in fifty passes 60-100% within days to one of a
few collection wallets, one in a hundred half or more to an investor wallet). The read is the API's (the first page of 100, notes withheld), timed warm,
`repeats` times per size, and once per rule, so the report shows which rules grow how.

The read asks LoanBook for its token's decimals and reads the deployment's manifest, so the bench
deploys the contracts on a temporary Anvil of its own (the chain `make run` serves is left alone)."""

from __future__ import annotations

import hashlib
import random
import statistics
import time
import uuid
from collections import Counter, defaultdict
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, get_args

from sqlalchemy import insert

from backend.audit import alert_cache
from backend.audit.monitoring import RULES, alerts
from backend.chain.bench.throwaway import throwaway_anvil
from backend.chain.deploy import deploy_all
from backend.chain.models import ChainEvent, IndexedBlock, IndexerCheckpoint
from backend.chain.projection_models import (
    DisbursalRow,
    FundingRow,
    LoanRow,
    MarketTradeRow,
    NoteTransferRow,
    RepaymentRow,
    TokenTransferRow,
)
from backend.config import Settings
from backend.db import migrate
from backend.db.session import session_scope
from backend.disclosure.bench import DAY, NOW, _hex, _rows
from backend.identity.models import KycOrigin, KycRecord
from backend.scoring.models import CreditDecision
from backend.scoring.schemas import ApplicationCreate
from backend.servicing.models import CollectionAction

PAGE = 100  # the API's default page
DECLARED = {name: get_args(field.annotation) for name, field in ApplicationCreate.model_fields.items()
            if get_args(field.annotation)}  # the answers chosen from a list  # fmt: skip


def _answers(rng: random.Random) -> dict:
    chosen = {name: rng.choice(values) for name, values in DECLARED.items()}
    return {**chosen, "amount": rng.randrange(1_000, 20_000), "term_months": rng.choice((12, 24, 36)),
            "monthly_debt_payments": rng.randrange(0, 800), "existing_loans_with_us": rng.randrange(0, 3)}  # fmt: skip


class _Book:
    """The disclosure bench's rows, and the monitoring rules' on top (see the module docstring)."""

    def __init__(self, loans: int, seed: int) -> None:
        self.rng = random.Random(seed + 1)
        self.onward_rng = random.Random(seed + 2)  # its own: the rest of the book stays as it was built before
        self.rows = _rows(loans, seed)
        for table in (NoteTransferRow, MarketTradeRow, RepaymentRow, KycRecord, KycOrigin, CollectionAction,
                      DisbursalRow, TokenTransferRow):  # fmt: skip
            self.rows[table] = []
        self.disbursed = {e["args"]["loanId"]: e["id"] for e in self.rows[ChainEvent] if e["event"] == "LoanDisbursed"}
        self.event_id = max(e["id"] for e in self.rows[ChainEvent])
        self.wallets: set[str] = set()

    def event(self, contract: str, name: str, args: dict, stamp: int, tx: int | None = None) -> int:
        self.event_id += 1
        self.rows[ChainEvent].append(dict(id=self.event_id, block_number=self.event_id, block_hash=_hex(self.event_id),
                                          tx_hash=_hex(tx or self.event_id), tx_index=0, log_index=0, contract=contract,
                                          address=_hex(1, 40), event=name, args=args, block_timestamp=stamp))  # fmt: skip
        return self.event_id

    def ref(self, event_id: int, tx: int | None = None) -> dict:
        return dict(event_id=event_id, block_number=event_id, tx_hash=_hex(tx or event_id), log_index=0)

    def build(self, loans: int) -> dict[type, list[dict]]:
        holders: dict[int, list[str]] = defaultdict(list)
        for funding in self.rows[FundingRow]:
            holders[funding["loan_id"]].append(funding["investor"])
            self.wallets.add(funding["investor"])
        decisions = iter(self.rows[CreditDecision])
        for loan in self.rows[LoanRow]:
            self._applicant(loan, next(decisions))
            if loan["start_time"] is None:
                continue
            self._repayments(loan)
            self._moves(loan, holders[loan["loan_id"]], loans)
            self._onward(loan, holders[loan["loan_id"]], loans)
            if self.rng.random() < 1 / 7:
                self._promises(loan)
            if self.rng.random() < 1 / 50:  # an investor applied from the borrower's network address
                self.rows[KycOrigin].append(dict(wallet=holders[loan["loan_id"]][0], origin_index=f"o-{loan['borrower']}",
                                                 seen_at=datetime.fromtimestamp(NOW, UTC)))  # fmt: skip
        self._kyc()
        return self.rows

    def _applicant(self, loan: dict, decision: dict) -> None:
        borrower, at = loan["borrower"], (loan["start_time"] or NOW) - self.rng.randrange(1, 10) * DAY
        answers = _answers(self.rng)
        decision.update(wallet=borrower, inputs=answers, created_at=datetime.fromtimestamp(at, UTC))
        self.wallets.add(borrower)
        if self.rng.random() < 1 / 10:  # applied before within the month, with other answers
            before = {**answers, **{name: self.rng.choice(DECLARED[name]) for name in ("checking_account", "savings")}}
            self.rows[CreditDecision].append({**decision, "id": str(uuid.UUID(int=self.rng.getrandbits(128))),
                                               "decision": "decline", "inputs": before,
                                               "created_at": datetime.fromtimestamp(at - self.rng.randrange(1, 20) * DAY, UTC)})  # fmt: skip
        if self.rng.random() < 1 / 20:  # a second wallet of the same person
            self.rows[KycRecord].append(self._record(_hex(10**9 + loan["loan_id"], 40), f"id-{borrower}"))

    def _repayments(self, loan: dict) -> None:
        principal, n = loan["principal"], loan["installments"]
        for k in range(1, loan["installments_settled"] + 1):
            left = principal * (n - k) // n
            ref = self.event("LoanBook", "LoanPayment", {"loanId": loan["loan_id"]}, loan["start_time"] + k * 30 * DAY)
            self.rows[RepaymentRow].append(dict(self.ref(ref), loan_id=loan["loan_id"], kind="payment",
                                                payer=loan["borrower"], installment=k, fee_paid=0, interest_paid=0,
                                                principal_paid=principal // n, amount=principal // n,
                                                principal_outstanding=left))  # fmt: skip

    def _moves(self, loan: dict, holders: list[str], loans: int) -> None:
        rng, loan_id = self.rng, loan["loan_id"]
        sender, recipient = rng.choice(holders), _hex(10_000 + rng.randrange(loans * 2), 40)
        self.wallets.add(recipient)
        notes = loan["principal"] // len(holders) // rng.choice((1, 2, 4))
        at = loan["start_time"] + rng.randrange(1, max(2, NOW - loan["start_time"]))
        if rng.random() < 0.4:  # a market trade: its Sold event and the note transfer of the same transaction
            worth = notes * loan["principal_outstanding"] // loan["principal"] or notes
            cost = worth // 3 if rng.random() < 0.05 else worth * rng.randrange(90, 101) // 100
            sold = self.event("NoteMarket", "Sold", {"loanId": loan_id}, at)
            self.rows[MarketTradeRow].append(dict(self.ref(sold), listing_id=sold, bid_id=None, loan_id=loan_id,
                                                  seller=sender, buyer=recipient, notes=notes, cost=cost))  # fmt: skip
            self._transfer(loan_id, sender, recipient, notes, at, tx=sold)
            return
        # One in twenty: all the loan's notes, bought up (a large gift if 10,000+ tokens are outstanding).
        gift = loan["principal"] if rng.random() < 1 / 20 else notes // 50
        self._transfer(loan_id, sender, recipient, gift, at)
        if rng.random() < 1 / 100:  # and back within days
            self._transfer(loan_id, recipient, sender, gift, at + rng.randrange(1, 10) * DAY)

    def _onward(self, loan: dict, holders: list[str], loans: int) -> None:
        """The disbursal, and where its borrower sent the money."""
        rng, start, borrower = self.onward_rng, loan["start_time"], loan["borrower"]
        disbursed, net = self.disbursed[loan["loan_id"]], loan["principal"] - loan["origination_fee"]
        self.rows[DisbursalRow].append(dict(self.ref(disbursed), loan_id=loan["loan_id"], borrower=borrower,
                                            net_amount=net, start_time=start))  # fmt: skip
        sent = [(_hex(2 * 10**9 + rng.randrange(loans), 40), net * rng.randrange(10, 41) // 100, rng.randrange(0, 20))]
        if rng.random() < 1 / 50:  # a money mule: to one of a few collection wallets
            sent.append((_hex(3 * 10**9 + rng.randrange(max(2, loans // 500)), 40), net * rng.randrange(60, 101) // 100,
                         rng.randrange(0, 6)))  # fmt: skip
        elif rng.random() < 1 / 100:  # to one of the platform's investors
            sent.append((rng.choice(holders), net * rng.randrange(50, 101) // 100, rng.randrange(0, 6)))
        for recipient, amount, days in sent:
            ref = self.event("LoanToken", "Transfer", {"from": borrower, "to": recipient, "value": str(amount)},
                             start + days * DAY + rng.randrange(1, DAY))  # fmt: skip
            self.rows[TokenTransferRow].append(dict(self.ref(ref), sender=borrower, recipient=recipient, amount=amount))

    def _transfer(self, loan_id: int, sender: str, recipient: str, amount: int, at: int, tx: int | None = None) -> None:
        ref = self.event("LoanBook", "TransferSingle", {"id": loan_id, "from": sender, "to": recipient}, at, tx)
        self.rows[NoteTransferRow].append(dict(self.ref(ref, tx), loan_id=loan_id, sender=sender, recipient=recipient,
                                               amount=amount))  # fmt: skip

    def _promises(self, loan: dict) -> None:
        at = loan["start_time"] + (loan["installments_settled"] + 1) * 30 * DAY + 20 * DAY
        for k in range(2):
            self.rows[CollectionAction].append(dict(loan_id=loan["loan_id"], kind="promise_to_pay", actor=_hex(3, 40),
                                                    chain_time=at + k * 10 * DAY, promised_amount=loan["installment_amount"],
                                                    promised_by=at + (k + 1) * 10 * DAY - DAY))  # fmt: skip

    def _record(self, wallet: str, national_id: str) -> dict:
        record_id = str(uuid.UUID(int=self.rng.getrandbits(128)))
        return dict(id=record_id, wallet=wallet, status="approved", level=2, id_type="national_id", reasons=[],
                    blind_index=national_id, ciphertext=b"-", commitment="0x" + "00" * 32, document_count=0,
                    submitted_at=datetime.fromtimestamp(NOW, UTC), attest_key=f"kyc:attest:{record_id}")  # fmt: skip

    def _kyc(self) -> None:
        for wallet in sorted(self.wallets):
            self.rows[KycRecord].append(self._record(wallet, f"id-{wallet}"))
            self.rows[KycOrigin].append(dict(wallet=wallet, origin_index=f"o-{wallet}",
                                             seen_at=datetime.fromtimestamp(NOW, UTC)))  # fmt: skip


def _fill(settings: Settings, loans: int, seed: int) -> dict[str, int]:
    migrate.upgrade(settings)
    rows = _Book(loans, seed).build(loans)
    with session_scope(settings) as session:
        for table, values in rows.items():
            for i in range(0, len(values), 5_000):
                session.execute(insert(table), values[i : i + 5_000])
        session.add(IndexedBlock(number=1, hash=_hex(1), parent_hash=_hex(0), timestamp=NOW))
        session.add(IndexerCheckpoint(name="main", block_number=1, block_hash=_hex(1), deployment_hash="bench"))
    return {"note_transfers": len(rows[NoteTransferRow]), "market_trades": len(rows[MarketTradeRow]),
            "credit_decisions": len(rows[CreditDecision]), "repayments": len(rows[RepaymentRow]),
            "kyc_records": len(rows[KycRecord]), "token_transfers": len(rows[TokenTransferRow])}  # fmt: skip


def _read_ms(settings: Settings, repeats: int, rule: str | None = None, shared: bool = False) -> tuple[float, float]:
    """The median wall time and CPU time of `repeats` reads (the API's first page, notes withheld),
    in ms: the CPU time is this process's own, less swayed by what else the machine runs. `shared`:
    reads served by a computation made just before (`alert_cache.py`), as the pages of one refresh
    of the staff page are."""
    wall, cpu = [], []
    if shared:
        settings = settings.model_copy(update={"monitoring_alerts_cache_seconds": 3600})
        alert_cache.forget()
        with session_scope(settings) as session:
            alerts(session, settings, with_notes=False, limit=PAGE, shared=True)
    with session_scope(settings) as session:
        for _ in range(repeats):
            started, started_cpu = time.perf_counter(), time.process_time()
            alerts(session, settings, rule=rule, with_notes=False, limit=PAGE, shared=shared)
            wall.append(time.perf_counter() - started)
            cpu.append(time.process_time() - started_cpu)
        session.rollback()
    return round(statistics.median(wall) * 1000, 1), round(statistics.median(cpu) * 1000, 1)


def _raised(settings: Settings) -> tuple[dict[str, int], str]:
    """How many alerts each rule raises on the book (every page), and a digest of all of them (the
    same book raises the same alerts, whatever the code's speed: compare it across versions); this
    first read also warms the process (imports, the scorer, the page cache) for the timed ones."""
    with session_scope(settings) as session:
        found = alerts(session, settings, with_notes=False)
    digest = hashlib.sha256("\n".join(a.model_dump_json() for a in found).encode()).hexdigest()
    return dict(sorted(Counter(a.rule for a in found).items())), digest


def _measure(settings: Settings, sizes: list[int], repeats: int, seed: int, tmp: Path) -> list[dict[str, Any]]:
    results = []
    for loans in sizes:
        local = settings.model_copy(update={"database_url": f"sqlite:///{tmp / f'book-{loans}.db'}"})
        started = time.perf_counter()
        book = _fill(local, loans, seed)
        built = time.perf_counter() - started
        raised, digest = _raised(local)
        read_ms, cpu_ms = _read_ms(local, repeats)
        shared_ms, _ = _read_ms(local, repeats, shared=True)
        alert_cache.forget()
        by_rule = {rule: _read_ms(local, 1, rule)[0] for rule in RULES}  # each alone, with the reads its kind shares
        results.append({"loans": loans, **book, "alerts": sum(raised.values()), "alerts_by_rule": raised,
                        "alerts_sha256": digest, "read_ms_p50": read_ms, "read_cpu_ms_p50": cpu_ms, "shared_read_ms_p50": shared_ms,
                        "rule_ms_p50": by_rule,
                        "build_s": round(built, 1)})  # fmt: skip
    return results


def _growth(results: list[dict[str, Any]]) -> dict[str, Any]:
    """The time ratio between the largest and smallest books, and per 10x the loans (1.0 x 10 is linear)."""
    import math

    small, large = results[0], results[-1]
    size_ratio = large["loans"] / small["loans"]
    time_ratio = large["read_ms_p50"] / small["read_ms_p50"] if small["read_ms_p50"] else None
    per_10x = round(time_ratio ** (1 / math.log10(size_ratio)), 2) if time_ratio and size_ratio > 1 else None
    return {"size_ratio": size_ratio, "time_ratio": round(time_ratio, 2) if time_ratio else None,
            "time_ratio_per_10x_loans": per_10x}  # fmt: skip


def run_alerts_bench(settings: Settings, sizes: list[int], repeats: int = 3, seed: int = 7) -> dict[str, Any]:
    with throwaway_anvil(settings, "loanchain-alerts-") as (temp, workdir):
        deploy_all(temp)
        results = _measure(temp, sizes, repeats, seed, workdir)
    return {"database": "sqlite", "repeats": repeats, "page": PAGE, "sizes": results, **_growth(results)}
