"""Monthly disclosure reports. When a month has ended, the platform's figures (the same as
`GET /api/v1/disclosure`) and its loan tape (one CSV row per loan), both as of the month's last
block, are frozen into documents, stored by CID and queued for anchoring on-chain. Once per month:
a published report is never replaced, so investors and regulators can hold the platform to what it
said, and anyone can check a copy with the public verifier (`GET /api/v1/verify?cid=`). Besides its
hash, each report is anchored alone under a uri naming its month, so the chain itself says which
report a month was published with first (backend/disclosure/report_binding.py).

"As of the month's last block" is exact whenever the report is published: the index is taken back
to that block inside a savepoint (`index_at`, the reorg path) and LoanBook is asked how late each
loan was at that block. So a month missed while the platform was down is published late with the
figures it would have had, and a report never carries what happened after its month."""

from __future__ import annotations

import json
import logging
import re
import time
from datetime import UTC, datetime

from sqlalchemy import delete, func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from backend import audit
from backend.anchoring import documents
from backend.anchoring.models import BATCH_ANCHORED
from backend.chain.blocks import BlockRef, last_block_before
from backend.chain.indexer import followed_contracts, index_at
from backend.chain.models import ChainEvent
from backend.config import Settings
from backend.content.store import get_content_store
from backend.db.base import as_utc
from backend.db.meta import MetaEntry
from backend.db.session import begin_write
from backend.disclosure import tape
from backend.disclosure.aging import aging_at
from backend.disclosure.flows import period_flows
from backend.disclosure.models import DisclosureReport
from backend.disclosure.report_binding import bind_published, served_binding
from backend.disclosure.report_commitment import commit_report
from backend.disclosure.schemas import (
    DisclosureReportPublic,
    MissingReportPublic,
    PeriodFlowsPublic,
    ReportBindingPublic,
)
from backend.disclosure.service import indexed_until, platform_disclosure
from backend.errors import Conflict, LoanchainError, NotFound, ValidationFailed

# /2 added `month`, the flows within the period; /3 the reserve's balance read from the chain, its
# unexplained outflows, the gross charge-off rate, matured defaults by grade and each figure's source;
# /4 the reserve's claims capped at its balance and its largest claim, fee-only defaults apart, vintage
# curves of complete months only, live delinquency of active loans only, the month's `as_of`; /5 the
# loan tape's `pd` column is the PD of the loan's grade, which priced it (the decision's own PD before,
# which gives the borrower's score back), and the reserve's expected loss and claims are worked from it.
# Reports of earlier formats are served and verified as they were published.
FORMAT = "loanchain.disclosure/5"
log = logging.getLogger("loanchain.disclosure")
# Always fullmatch: re.match's `$` also matches before a trailing newline, which strptime refuses.
PERIOD = re.compile(r"^([0-9]{4})-(0[1-9]|1[0-2])$")


def month_of(moment: datetime) -> str:
    return f"{moment.year:04d}-{moment.month:02d}"


def next_month(period: str) -> str:
    year, month = int(period[:4]), int(period[5:])
    return f"{year + month // 12:04d}-{month % 12 + 1:02d}"


def period_start(period: str) -> int:
    """The first second of `period` (UTC), as a block timestamp."""
    return int(datetime.strptime(period, "%Y-%m").replace(tzinfo=UTC).timestamp())


def period_end(period: str) -> int:
    """The first second after `period`."""
    return period_start(next_month(period))


def check_period(period: str) -> str:
    # Up to 9998: a month's end is the next month's first second, and Python's dates stop at 9999.
    if not PERIOD.fullmatch(period) or not 1970 <= int(period[:4]) <= 9998:
        raise ValidationFailed(f"period: {period!r} is not a month written YYYY-MM (1970 to 9998)", field="period")
    return period


def month_end_block(session: Session, settings: Settings, period: str) -> BlockRef:
    """`period`'s last block: the one its report is read at. A month is over once the index has
    confirmed a block stamped after its end; block times never go back, so no later block can
    still belong to it."""
    end, indexed = period_end(period), indexed_until(session)
    if indexed is None or indexed.timestamp < end:
        reached = f" (the index has reached block {indexed.number}, stamped {_utc(indexed.timestamp)})" if indexed else ""
        raise Conflict(f"period: {period} has not ended on chain yet{reached}; a month is published once a block "
                       "after its end is indexed", field="period")  # fmt: skip
    start = followed_contracts(settings).start_block
    block = last_block_before(settings, end, start, indexed.number)
    if block is None:
        raise Conflict(f"period: {period} ended before the platform's contracts were deployed (block {start})",
                       field="period")  # fmt: skip
    return block


def _utc(timestamp: int) -> str:
    return datetime.fromtimestamp(timestamp, UTC).strftime("%Y-%m-%d %H:%M:%S UTC")


def report_bytes(period: str, figures: dict, month: dict, loan_tape: dict) -> bytes:
    """The published document: canonical JSON (sorted keys, no spaces), so the same figures give
    the same bytes, hash and CID. It names the loan tape's CID and hash, so proving the report
    proves the tape too."""
    body = {"format": FORMAT, "period": period, "figures": figures, "month": month, "loan_tape": loan_tape}
    return json.dumps(body, sort_keys=True, separators=(",", ":")).encode() + b"\n"


def _public(report: DisclosureReport) -> DisclosureReportPublic:
    batch = report.document.batch
    return DisclosureReportPublic(period=report.period, cid=report.cid, doc_hash=report.doc_hash,
                                  as_of_block=report.as_of_block, loan_tape_cid=report.loan_tape_cid,
                                  published_at=as_utc(report.published_at),
                                  anchor_tx=batch.tx_hash if batch and batch.status == BATCH_ANCHORED else None,
                                  verify_url=f"/api/v1/verify?cid={report.cid}")  # fmt: skip


def publish(session: Session, settings: Settings, period: str, *, actor: str = "system") -> tuple[DisclosureReportPublic, bool]:
    """Publishes `period`'s report, as of its last block; returns (report, created). A period
    already published is returned as it was: its figures are never replaced."""
    # SQLite: a second publisher waits here for the first one's commit, then finds its report; read
    # first, it would fail to take the write lock after that commit. PostgreSQL decides at the insert.
    begin_write(session, DisclosureReport)
    if PERIOD.fullmatch(period) and (existing := session.get(DisclosureReport, period)) is not None:
        return _public(existing), False
    block = month_end_block(session, settings, check_period(period))
    with index_at(session, block.number, block.hash):
        aging = aging_at(session, settings, block)
        figures = platform_disclosure(session, settings, aging=aging, clock=block.timestamp, strict=True)
        rows = tape.loan_tape(session, aging)
        month = period_flows(session, period_start(period), period_end(period))
    try:
        # Two publishers of the same month: the first one stands, and the other leaves nothing behind.
        # Its documents are kept and queued inside the savepoint that inserts its report, so the
        # rollback takes them back with it (their audit entries too): its figures, read a moment apart,
        # may differ by a byte, and an anchored report or loan tape no report names would read as a
        # second publication of the month.
        with session.begin_nested():
            sheet = documents.anchor_document(session, settings, tape.tape_csv(rows).encode(), actor=actor).document
            loan_tape = {"cid": sheet.cid, "doc_hash": sheet.doc_hash, "loans": len(rows), "columns": list(tape.COLUMNS)}
            data = report_bytes(period, figures.model_dump(mode="json"), month.model_dump(mode="json"), loan_tape)
            document = documents.anchor_document(session, settings, data, actor=actor).document
            report = DisclosureReport(period=period, document_id=document.id, cid=document.cid,
                                      doc_hash=document.doc_hash, as_of_block=figures.as_of_block,
                                      loan_tape_cid=sheet.cid, published_at=datetime.now(UTC), published_by=actor)  # fmt: skip
            session.add(report)
            session.flush()
            # The chain binds the month to its first report: a publisher that lost the race binds nothing
            # either, or the month's genuine report would read as replaced.
            commit_report(session, period, document.doc_hash)
    except IntegrityError:
        return _public(session.get(DisclosureReport, period)), False
    audit.record(session, actor=actor, action="disclosure.publish", subject=f"disclosure:{period}",
                 payload={"cid": report.cid, "doc_hash": report.doc_hash, "as_of_block": report.as_of_block})  # fmt: skip
    return _public(report), True


def month_flows(session: Session, period: str | None = None) -> PeriodFlowsPublic:
    """`period`'s flows as the index stands: a month that has ended, or the month of the index's
    latest block by default (the month so far, counted to that block and saying so). A month that
    has not begun on chain is refused (404), not answered with zeros that read as a quiet month."""
    if period is not None:
        check_period(period)
    indexed = indexed_until(session)
    if indexed is None:
        raise Conflict("the chain index has not read a block yet")
    period = period or month_of(datetime.fromtimestamp(indexed.timestamp, UTC))
    if period_start(period) > indexed.timestamp:
        raise NotFound(f"period: {period} has not begun on chain (the index has reached block {indexed.number}, "
                       f"stamped {_utc(indexed.timestamp)})", field="period")  # fmt: skip
    return period_flows(session, period_start(period), period_end(period), (indexed.number, indexed.timestamp))


def due_periods(session: Session) -> list[str]:
    """The months not published yet, oldest first, from the month of the platform's first loan to
    the last month the index has passed the end of."""
    first = session.scalar(select(func.min(ChainEvent.block_timestamp))
                           .where(ChainEvent.contract == "LoanBook", ChainEvent.event == "LoanCreated"))  # fmt: skip
    indexed = indexed_until(session)
    if first is None or indexed is None:
        return []
    period, current = month_of(datetime.fromtimestamp(first, UTC)), month_of(datetime.fromtimestamp(indexed.timestamp, UTC))
    published = set(session.scalars(select(DisclosureReport.period).where(DisclosureReport.period >= period)))
    due = []
    while period < current:
        if period not in published:
            due.append(period)
        period = next_month(period)
    return due


def due_period(session: Session) -> str | None:
    """The oldest month due (`due_periods`), if any."""
    return next(iter(due_periods(session)), None)


# Why the worker could not publish a month, kept until it is published (meta: no table of its own).
FAILED = "disclosure.unpublished:"


def publish_due(session: Session, settings: Settings) -> str | None:
    """Publishes the oldest month due that can be, if any; returns its period. One a call: a
    platform back from a long stop catches up a month a servicing pass. A month that fails (e.g. a
    node that has pruned its month-end state: 503) is recorded with why (`missing_reports`) and
    passed over for the next due month, and tried again first on every later call, so one month an
    archive node must serve never holds up the months after it (the review's M1)."""
    bind_published(session)  # reports published before they were bound to their month
    for period in due_periods(session):
        try:
            # The savepoint drops what a failed attempt wrote (a stored tape, a queued anchor).
            with audit.deferred(session), session.begin_nested():  # audit: not holding the log's head across reads
                _, created = publish(session, settings, period)
        except LoanchainError as exc:
            log.warning("monthly disclosure report for %s not published, trying later months: %s", period, exc)
            _record_failure(session, period, exc)
            continue
        session.execute(delete(MetaEntry).where(MetaEntry.key == FAILED + period))
        return period if created else None
    return None


def _record_failure(session: Session, period: str, exc: LoanchainError) -> None:
    value = json.dumps({"reason": f"{type(exc).__name__}: {exc}", "tried_at": int(time.time())})
    entry = session.get(MetaEntry, FAILED + period)
    if entry is None:
        session.add(MetaEntry(key=FAILED + period, value=value))
    else:
        entry.value = value


def missing_reports(session: Session) -> list[MissingReportPublic]:
    """Every month due and not published, oldest first, with why: the worker's last failure to
    publish it, or that it has not been tried yet."""
    failed = {key.removeprefix(FAILED): json.loads(value) for key, value in
              session.execute(select(MetaEntry.key, MetaEntry.value).where(MetaEntry.key.startswith(FAILED)))}  # fmt: skip
    out = []
    for period in due_periods(session):
        why = failed.get(period)
        out.append(MissingReportPublic(
            period=period, reason=why["reason"] if why else "not tried yet: the servicing worker publishes one due "
            "month a pass (or LOANCHAIN_DISCLOSURE_PUBLISH_MONTHLY is off)",
            last_tried=datetime.fromtimestamp(why["tried_at"], UTC) if why else None))  # fmt: skip
    return out


def list_reports(session: Session, limit: int = 120, offset: int = 0) -> list[DisclosureReportPublic]:
    reports = session.scalars(select(DisclosureReport).order_by(DisclosureReport.period.desc()).limit(limit).offset(offset))
    return [_public(r) for r in reports]


def report_document(session: Session, settings: Settings, period: str) -> tuple[DisclosureReport, bytes]:
    """The published bytes of `period`'s report, checked against the hash recorded (and anchored)."""
    report = _published(session, period)
    return report, _checked(settings, report.cid, report.doc_hash, period)


def served_report(session: Session, settings: Settings, period: str) -> tuple[DisclosureReport, bytes, ReportBindingPublic]:
    """`period`'s report as the API serves it: refused (409) unless it is the report the chain
    binds the month to, as the platform's index of Anchored events has them (pending and unbound
    reports are served, and say so)."""
    report, data = report_document(session, settings, period)
    binding = served_binding(session, period, data)
    if not binding.ok:
        raise Conflict(f"{period}'s report is not the one the chain binds the month to: {binding.reason}", field="period")
    return report, data, binding


def report_loan_tape(session: Session, settings: Settings, period: str) -> tuple[str, bytes]:
    """(CID, bytes) of the loan tape `period`'s served report names: its CID and hash are in the
    report's bytes, so the month's binding binds the tape too. Checked against that hash, not
    against the database's row."""
    _, data, _ = served_report(session, settings, period)
    named = json.loads(data)["loan_tape"]
    return named["cid"], _checked(settings, named["cid"], named["doc_hash"], period)


def _published(session: Session, period: str) -> DisclosureReport:
    report = session.get(DisclosureReport, period)
    if report is None:
        raise NotFound(f"no disclosure report was published for {period}", field="period")
    return report


def _checked(settings: Settings, cid: str, doc_hash: str, period: str) -> bytes:
    data = get_content_store(settings).get(cid)
    if documents.document_hash(data) != doc_hash:
        raise Conflict(f"the stored copy of {period}'s disclosure does not match its anchored hash", field="period")
    return data
