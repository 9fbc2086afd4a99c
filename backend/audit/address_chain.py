"""An address's trace held against the chain, not the platform's index (backend/audit/trace.py).

The trace reads the index: the events filed under the address (`chain_event_subjects`), the money
events of its transactions (its ledger, backend/audit/ledger.py), its note balances and its
attestation, and the statement's tables (fundings, trades, note transfers). Here the same facts
are read again from the node, at the chain's confirmed head (latest − confirmations), so an index
taken back and kept stopped is seen too:

- the logs that name the address, read by topic over the whole indexed range (a handful of
  requests, however many events the address has: backend/chain/address_check.py), the agent's
  payments in the address's autopay transactions (by the agent's and the loans' topics), and for a
  contract the money passes through every money event (its ledger is all of them);
- `events_match_chain`: the index's rows the trace used against those logs, paired by their place
  in the chain (`event_differences`: an edited row is *altered* with the arguments named, a
  dropped one *missing*, an invented one *extra*); the ledger is recomputed from the logs the same
  way, so an edit that moves the address's money is named whichever row it is in;
- `projections_match_chain`: the address's rows of `chain_fundings`, `chain_market_trades` and
  `chain_note_transfers` (the investor statement's lines) and its loans as borrower
  (`chain_loans`) against what the indexer's own projections make of those logs;
- `notes_match_chain`: each note balance against `LoanBook.balanceOf(address, loanId)`, and
  `attestation_matches_chain`: the attestation against `KYCRegistry.attestationOf`, both at the
  index's block (the index's state is the chain's as of there);
- `index_current`: how far the index is behind the confirmed head, with the logs of the address
  it lacks yet.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable

from sqlalchemy import or_, select, tuple_
from sqlalchemy.orm import Session

from backend.audit import ledger as money
from backend.audit.schemas import CheckPublic
from backend.chain.address_check import attestation_at, logs_naming, logs_of, note_balances
from backend.chain.index_check import SURROGATE, Difference, event_differences
from backend.chain.index_lag import index_lag
from backend.chain.models import ChainEvent
from backend.chain.projection_models import (
    AttestationRow,
    FundingRow,
    LoanRow,
    MarketTradeRow,
    NoteBalanceRow,
    NoteTransferRow,
)
from backend.chain.projections import EventSubjects, Fundings, MarketTrades, NoteTransfers, event_subjects, note_moves
from backend.config import Settings
from backend.errors import ChainUnavailable

ZERO32 = "0x" + "00" * 32
AUTOPAID = ("LoanPayment", "LoanPrepayment", "LoanRecovery")  # what RepaymentAgent pays as LoanBook's payer
# The index's tables behind the investor statement's lines: projection, model, the sides naming the address.
STATEMENT_ROWS = ((Fundings(), FundingRow, ("investor",)), (MarketTrades(), MarketTradeRow, ("seller", "buyer")),
                  (NoteTransfers(), NoteTransferRow, ("sender", "recipient")))  # fmt: skip


def _listed(found: list, limit: int = 20) -> str:
    shown = "; ".join(str(f) for f in found[:limit])
    return shown + (f"; and {len(found) - limit} more" if len(found) > limit else "")


def _key(ev: ChainEvent) -> tuple[int, int]:
    return ev.block_number, ev.log_index


def _subject_contracts(platform: dict[str, str]) -> list[str]:
    """The contracts whose events the index files under the addresses they name."""
    return [name for name in platform if EventSubjects().wants(ChainEvent(contract=name))]


def _logs(settings: Settings, wallet: str, platform: dict[str, str], holder: str | None, end: int) -> list[ChainEvent]:
    """What the node has that the trace's rows must be: the logs naming the address, the payments
    RepaymentAgent made in its autopay transactions, and, for a contract the money passes through,
    every money event."""
    logs = logs_naming(settings, wallet, _subject_contracts(platform) + ["ReserveFund"], end)
    autopaid = sorted({int(e.args["loanId"]) for e in logs if (e.contract, e.event) == ("RepaymentAgent", "PaidWithMandate")})
    if autopaid and "RepaymentAgent" in platform:
        logs += logs_of(settings, [("LoanBook", name) for name in AUTOPAID], end,
                        {"payer": [platform["RepaymentAgent"]], "loanId": autopaid})  # fmt: skip
    if holder is not None:
        logs += logs_of(settings, money.MONEY_EVENTS, end)
    return sorted({_key(e): e for e in logs}.values(), key=_key)


def _compared(wallet: str, platform: dict[str, str], rows: Iterable[ChainEvent]) -> dict[tuple[int, int], ChainEvent]:
    """Of `rows` (the index's or the node's), those an address's trace stands on: the events filed
    under it (as the index files them) and the events behind its ledger's entries."""
    rows = list(rows)
    subjects = set(_subject_contracts(platform))
    named = [e for e in rows if e.contract in subjects and wallet in event_subjects(e)[1]]
    moves = money.movements([e for e in rows if (e.contract, e.event) in money.MONEY_EVENTS], platform)
    return {_key(e): e for e in named + [entry.movement.event for entry in money.ledger(moves, wallet)]}


def address_checks(db: Session, settings: Settings, wallet: str, platform: dict[str, str], holder: str | None,
                   filed: list[ChainEvent], entries: list[money.Entry], through: int) -> list[CheckPublic]:  # fmt: skip
    """The address's index rows against the node. `filed`: the events the index files under the
    address; `entries`: its ledger, from the index; `through`: the index's block."""
    used = {_key(e): e for e in filed + [entry.movement.event for entry in entries]}
    try:
        lag = index_lag(settings, through)
        end = min(lag.latest, max([lag.confirmed, through] + [block for block, _ in used]))
        logs = _logs(settings, wallet, platform, holder, end)
    except ChainUnavailable as exc:
        return [CheckPublic(name="events_match_chain", ok=False,
                            detail=f"the chain could not be read, so the index is unchecked: {exc.message}")]  # fmt: skip
    differences = _named(db, event_differences(used.values(), _compared(wallet, platform, logs).values()), through)
    pending = [d for d in differences if d.kind == "missing" and d.block_number > through]
    found = [d for d in differences if d not in pending]
    checks = [
        CheckPublic(name="index_current", ok=lag.current,
                    detail=lag.describe() + (f"; the chain has {len(pending)} logs of the address the index lacks "
                                             f"yet: {_listed(pending)}" if pending else "")),
        CheckPublic(name="events_match_chain", ok=not found,
                    detail=f"the index's events differ from the node's logs for the address: {_listed(found)}" if found
                    else f"{len(used)} indexed events (those naming the address and those moving its money), each "
                         f"the node's log (transaction, log index, arguments) through block {end}"),
    ]  # fmt: skip
    indexed = [e for e in logs if e.block_number <= through]
    checks.append(_projections(db, wallet, indexed))
    block = max(through, 0)
    checks.append(_guarded("notes_match_chain", lambda: _notes(db, settings, wallet, indexed, block)))
    checks.append(_guarded("attestation_matches_chain", lambda: _attestation(db, settings, wallet, block)))
    return checks


def _guarded(name: str, check: Callable[[], CheckPublic]) -> CheckPublic:
    try:
        return check()
    except ChainUnavailable as exc:
        return CheckPublic(name=name, ok=False, detail=f"the chain could not be read: {exc.message}")


def _named(db: Session, differences: list[Difference], through: int) -> list[Difference]:
    """A log the trace lacks whose row is in `chain_events` (the same event of the same transaction:
    only its filing under the address is gone) says so, rather than that the index lacks it."""
    places = [(d.block_number, d.log_index) for d in differences if d.kind == "missing" and d.block_number <= through]
    if not places:
        return differences
    held = set(db.execute(select(ChainEvent.block_number, ChainEvent.log_index, ChainEvent.tx_hash, ChainEvent.event)
                          .where(tuple_(ChainEvent.block_number, ChainEvent.log_index).in_(places))).all())  # fmt: skip
    return [Difference(d.kind, d.block_number, d.log_index, d.tx_hash, d.event,
                       "on chain and in chain_events, but not filed under the address (chain_event_subjects)")
            if d.kind == "missing" and (d.block_number, d.log_index, d.tx_hash, d.event) in held else d
            for d in differences]  # fmt: skip


class _Rows:
    """Stands in for a session: keeps what a row projection adds for one log."""

    def __init__(self) -> None:
        self.rows: list = []

    def add(self, row) -> None:
        self.rows.append(row)

    def add_all(self, rows) -> None:
        self.rows.extend(rows)


def _as_dict(row) -> dict:
    return {c.key: getattr(row, c.key) for c in row.__table__.columns if c.key not in SURROGATE}


def _row_differences(table: str, indexed: list[dict], on_chain: list[dict]) -> list[str]:
    """The rows paired by their log (block, log index) and loan, each field that differs named."""
    def by_place(rows: list[dict]) -> dict[tuple, list[dict]]:
        grouped: dict[tuple, list[dict]] = {}
        for r in rows:
            grouped.setdefault((r["block_number"], r["log_index"], r["loan_id"]), []).append(r)
        return grouped

    mine, theirs, found = by_place(indexed), by_place(on_chain), []
    for place in sorted(mine.keys() | theirs.keys()):
        where = f"{table} at block {place[0]} log {place[1]} loan {place[2]}"
        a, b = mine.get(place, []), theirs.get(place, [])
        if len(a) == len(b) == 1:
            changed = [f"{c} index {a[0][c]!r}, chain {b[0][c]!r}" for c in b[0] if a[0].get(c) != b[0][c]]
            found += [f"{where}: " + "; ".join(changed)] if changed else []
        elif not b:
            found.append(f"{where}: in the index, no such log of the address on chain")
        elif not a:
            found.append(f"{where}: the log is on chain, the index has no row for it")
        elif sorted(map(repr, a)) != sorted(map(repr, b)):
            found.append(f"{where}: the index has {len(a)} rows {a}, the log makes {len(b)} {b}")
    return found


def _projections(db: Session, wallet: str, logs: list[ChainEvent]) -> CheckPublic:
    """The address's rows of the statement's tables and its loans as borrower, against what the
    indexer's own projections make of the node's logs (to the index's block)."""
    found = []
    for projection, model, sides in STATEMENT_ROWS:
        made = _Rows()
        for ev in logs:
            if projection.wants(ev):
                projection.apply(made, ev)
        on_chain = [_as_dict(r) for r in made.rows if wallet in (getattr(r, side) for side in sides)]
        indexed = [_as_dict(r) for r in db.scalars(select(model).where(or_(*(getattr(model, s) == wallet for s in sides))))]
        found += _row_differences(model.__tablename__, indexed, on_chain)
    borrowed = {int(e.args["loanId"]) for e in logs if (e.contract, e.event) == ("LoanBook", "LoanCreated")
                and e.args["borrower"] == wallet}  # fmt: skip
    listed = set(db.scalars(select(LoanRow.loan_id).where(LoanRow.borrower == wallet)))
    if listed != borrowed:
        found.append(f"chain_loans: the index makes it the borrower of {sorted(listed)}, LoanBook's LoanCreated logs "
                     f"of {sorted(borrowed)}")  # fmt: skip
    return CheckPublic(
        name="projections_match_chain", ok=not found,
        detail=f"the index's rows for the address differ from its logs: {_listed(found)}" if found
        else "its fundings, refunds, claims, trades and note transfers (the statement's lines) and its loans as "
             "borrower are what the node's logs make of them",
    )  # fmt: skip


def _notes(db: Session, settings: Settings, wallet: str, logs: list[ChainEvent], block: int) -> CheckPublic:
    held = dict(db.execute(select(NoteBalanceRow.loan_id, NoteBalanceRow.balance).where(NoteBalanceRow.holder == wallet)).all())
    moved = {loan for e in logs if e.contract == "LoanBook" and e.event in ("TransferSingle", "TransferBatch")
             for loan, src, dst, _ in note_moves(e) if wallet in (src, dst)}  # fmt: skip
    loans = sorted(set(held) | moved)
    if not loans:
        return CheckPublic(name="notes_match_chain", ok=True, detail="no notes moved to or from the address")
    balances = note_balances(settings, wallet, loans, block)
    differ = [f"loan {loan}: index {held.get(loan, 0):,}, LoanBook.balanceOf {balances[loan]:,}"
              for loan in loans if held.get(loan, 0) != balances[loan]]  # fmt: skip
    return CheckPublic(
        name="notes_match_chain", ok=not differ,
        detail=f"the index's note balances differ from LoanBook's at block {block}, the index's: {_listed(differ)}"
        if differ else f"its notes of {len(loans)} loans are LoanBook.balanceOf at block {block}, the index's",
    )  # fmt: skip


def _attestation(db: Session, settings: Settings, wallet: str, block: int) -> CheckPublic:
    row = db.get(AttestationRow, wallet)
    chain = attestation_at(settings, wallet, block)
    live = row is not None and not row.revoked
    index = {"level": row.level, "expires_at": row.expires_at, "commitment": row.commitment} if live else \
        {"level": 0, "expires_at": 0, "commitment": ZERO32}  # the registry deletes a revoked attestation
    differ = [f"{name}: index {index[name]!r}, chain {value!r}" for name, value in
              (("level", chain.level), ("expires_at", chain.expires_at), ("commitment", chain.commitment))
              if str(index[name]).lower() != str(value).lower()]  # fmt: skip
    said = f"level {chain.level} until {chain.expires_at}" if chain.exists else "none (never attested, or revoked)"
    return CheckPublic(
        name="attestation_matches_chain", ok=not differ,
        detail=f"the index's attestation differs from KYCRegistry.attestationOf at block {block}: {_listed(differ)}"
        if differ else f"KYCRegistry.attestationOf at block {block}, the index's: {said}",
    )  # fmt: skip
