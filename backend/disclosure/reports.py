"""Monthly disclosure reports. When a month has ended, the platform's figures (the same as
`GET /api/v1/disclosure`, as of the block the report names) and its loan tape (one CSV row per
loan) are frozen into documents, stored by CID and queued for anchoring on-chain. Once per month: a published report is never
replaced, so investors and regulators can hold the platform to what it said, and anyone can check
a copy with the public verifier (`GET /api/v1/verify?cid=`)."""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime

from sqlalchemy import exists, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from backend import audit
from backend.anchoring import documents
from backend.anchoring.models import BATCH_ANCHORED
from backend.chain.projection_models import LoanRow
from backend.config import Settings
from backend.content.store import get_content_store
from backend.db.base import as_utc
from backend.disclosure import tape
from backend.disclosure.models import DisclosureReport
from backend.disclosure.schemas import DisclosureReportPublic
from backend.disclosure.service import platform_disclosure
from backend.errors import Conflict, NotFound, ValidationFailed

FORMAT = "loanchain.disclosure/1"
PERIOD = re.compile(r"^(\d{4})-(0[1-9]|1[0-2])$")


def month_of(moment: datetime) -> str:
    return f"{moment.year:04d}-{moment.month:02d}"


def previous_month(moment: datetime) -> str:
    year, month = (moment.year, moment.month - 1) if moment.month > 1 else (moment.year - 1, 12)
    return f"{year:04d}-{month:02d}"


def check_period(period: str, now: datetime) -> str:
    """The month just ended, as YYYY-MM. The figures are read as of the moment of publishing, so
    an older month would be reported with figures from after its end: that is refused, not faked."""
    if not PERIOD.match(period):
        raise ValidationFailed(f"period: {period!r} is not a month written YYYY-MM", field="period")
    if period >= month_of(now):
        raise Conflict(f"period: {period} has not ended yet; a month is published once it is over", field="period")
    if period < previous_month(now):
        raise Conflict(f"period: {period} ended before last month; only {previous_month(now)} can be published now, "
                       "as the figures are read as of today", field="period")  # fmt: skip
    return period


def report_bytes(period: str, figures: dict, loan_tape: dict) -> bytes:
    """The published document: canonical JSON (sorted keys, no spaces), so the same figures give
    the same bytes, hash and CID. It names the loan tape's CID and hash, so proving the report
    proves the tape too."""
    body = {"format": FORMAT, "period": period, "figures": figures, "loan_tape": loan_tape}
    return json.dumps(body, sort_keys=True, separators=(",", ":")).encode() + b"\n"


def _public(report: DisclosureReport) -> DisclosureReportPublic:
    batch = report.document.batch
    return DisclosureReportPublic(period=report.period, cid=report.cid, doc_hash=report.doc_hash,
                                  as_of_block=report.as_of_block, loan_tape_cid=report.loan_tape_cid,
                                  published_at=as_utc(report.published_at),
                                  anchor_tx=batch.tx_hash if batch and batch.status == BATCH_ANCHORED else None,
                                  verify_url=f"/api/v1/verify?cid={report.cid}")  # fmt: skip


def publish(session: Session, settings: Settings, period: str, *, actor: str = "system",
            now: datetime | None = None) -> tuple[DisclosureReportPublic, bool]:  # fmt: skip
    """Publishes `period`'s report (the month just ended); returns (report, created). A period
    already published is returned as it was, however old: its figures are never replaced."""
    if PERIOD.match(period) and (existing := session.get(DisclosureReport, period)) is not None:
        return _public(existing), False
    check_period(period, now or datetime.now(UTC))
    figures, rows = platform_disclosure(session), tape.loan_tape(session)
    sheet = documents.anchor_document(session, settings, tape.tape_csv(rows).encode(), actor=actor).document
    loan_tape = {"cid": sheet.cid, "doc_hash": sheet.doc_hash, "loans": len(rows), "columns": list(tape.COLUMNS)}
    data = report_bytes(period, figures.model_dump(mode="json"), loan_tape)
    document = documents.anchor_document(session, settings, data, actor=actor).document
    report = DisclosureReport(period=period, document_id=document.id, cid=document.cid, doc_hash=document.doc_hash,
                              as_of_block=figures.as_of_block, loan_tape_cid=sheet.cid, published_at=datetime.now(UTC),
                              published_by=actor)  # fmt: skip
    try:
        with session.begin_nested():  # two publishers of the same month: the first one stands
            session.add(report)
            session.flush()
    except IntegrityError:
        return _public(session.get(DisclosureReport, period)), False
    audit.record(session, actor=actor, action="disclosure.publish", subject=f"disclosure:{period}",
                 payload={"cid": report.cid, "doc_hash": report.doc_hash, "as_of_block": report.as_of_block})  # fmt: skip
    return _public(report), True


def publish_due(session: Session, settings: Settings, now: datetime | None = None) -> str | None:
    """The last month's report, if the platform has loans and it is not published yet; returns the
    period published. Run after a servicing pass, so the delinquency figures are fresh."""
    period = previous_month(now or datetime.now(UTC))
    if session.get(DisclosureReport, period) is not None or not session.scalar(select(exists().select_from(LoanRow))):
        return None
    _, created = publish(session, settings, period, now=now)
    return period if created else None


def list_reports(session: Session, limit: int = 120) -> list[DisclosureReportPublic]:
    reports = session.scalars(select(DisclosureReport).order_by(DisclosureReport.period.desc()).limit(limit))
    return [_public(r) for r in reports]


def report_document(session: Session, settings: Settings, period: str) -> tuple[DisclosureReport, bytes]:
    """The published bytes of `period`'s report, checked against the hash recorded (and anchored)."""
    report = _published(session, period)
    return report, _checked(settings, report.cid, report.doc_hash, period)


def report_loan_tape(session: Session, settings: Settings, period: str) -> tuple[DisclosureReport, bytes]:
    """The loan tape published with `period`'s report, checked like the report."""
    report = _published(session, period)
    sheet = documents.by_cid(session, report.loan_tape_cid)
    return report, _checked(settings, sheet.cid, sheet.doc_hash, period)


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
