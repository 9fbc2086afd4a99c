"""Is this the report the chain binds its month to? Every `Anchored` event naming the month
(backend/disclosure/report_commitment.py) is read; the report must be the one the first names and
no other may exist, since a month is published once. Two anchors for one month, or a served report
the first does not name, is a replaced report (`replaced`, not ok), however well each verifies on
its own as a document.

Reports published before they were bound to their month were anchored only as documents in a
batch: the chain does not say which month they are. `bind_published` (the servicing worker's
pass) binds each of them to the report the database holds then, so from then on it cannot be
replaced unseen; until it has, such a report is `unbound`, and what it is rests on the database."""

from __future__ import annotations

import json

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from backend.anchoring import documents
from backend.anchoring.models import BATCH_ANCHORED, Document
from backend.chain.projection_models import AnchorRow
from backend.config import Settings
from backend.disclosure.models import DisclosureReport
from backend.disclosure.report_commitment import (
    URI_PREFIX,
    commit_report,
    parse_report_uri,
    report_digest,
    report_root,
)
from backend.disclosure.schemas import PeriodAnchorPublic, ReportBindingPublic


def _anchor(period: str, uri: str, root: str, block_number: int, tx_hash: str) -> PeriodAnchorPublic | None:
    named = parse_report_uri(uri)
    if uri.startswith(f"{URI_PREFIX}{period}:") and named is None:
        return PeriodAnchorPublic(doc_hash=uri.rsplit(":", 1)[-1], block_number=block_number, tx_hash=tx_hash,
                                  root=root, forged=True)  # fmt: skip
    if named is None or named[0] != period:
        return None
    return PeriodAnchorPublic(doc_hash=named[1], block_number=block_number, tx_hash=tx_hash, root=root,
                              forged=report_root(*named) != root.lower())  # fmt: skip


def anchors_on_chain(settings: Settings, period: str, *, rpc_url: str | None = None,
                     from_block: int | None = None) -> list[PeriodAnchorPublic]:  # fmt: skip
    """Every anchor of the platform's DocumentAnchor naming `period` (and of those it replaced, as
    `audit verify` reads them), read from the node, in chain order. Only ANCHORER_ROLE can anchor
    there, so each is the platform's own word. The scan starts at `from_block`, else at the block the
    chain confirms each DocumentAnchor was created in (the manifest's claim checked, as `audit verify`
    does; block 0 when it cannot be)."""
    from backend.audit.chain_checkpoints import anchor_readers

    found = (_anchor(period, e.uri, e.root, e.block_number, e.tx_hash)
             for reader, start in anchor_readers(settings, rpc_url, from_block)
             for e in reader.anchored_events(from_block=start))  # fmt: skip
    return sorted((a for a in found if a is not None), key=lambda a: a.block_number)


def anchors_indexed(session: Session, period: str) -> list[PeriodAnchorPublic]:
    """The same, read from the platform's chain index (`chain_anchors`, which `loanchain index
    verify` holds against the node): what the API serves from, cheaply, on every request."""
    rows = session.scalars(select(AnchorRow).where(AnchorRow.uri.startswith(f"{URI_PREFIX}{period}:"))
                           .order_by(AnchorRow.block_number, AnchorRow.log_index))  # fmt: skip
    found = (_anchor(period, r.uri, r.root, r.block_number, r.tx_hash) for r in rows)
    return [a for a in found if a is not None]


def judge(session: Session, period: str, data: bytes, anchors: list[PeriodAnchorPublic], source: str) -> ReportBindingPublic:
    doc_hash = documents.document_hash(data)
    try:
        body = json.loads(data)
        named_period, tape = body.get("period"), (body.get("loan_tape") or {}).get("doc_hash")
    except (ValueError, AttributeError):
        named_period, tape = None, None

    def verdict(status: str, reason: str) -> ReportBindingPublic:
        return ReportBindingPublic(period=period, status=status, ok=status != "replaced", reason=reason,
                                   doc_hash=doc_hash, loan_tape_hash=tape, source=source, anchors=anchors)  # fmt: skip

    if named_period != period:
        return verdict("replaced", f"the document is not a report for {period} (it names {named_period!r})")
    forged = [a for a in anchors if a.forged]
    if forged:
        return verdict("replaced", f"an anchor in block {forged[0].block_number} names {period} under a uri its root "
                       f"{forged[0].root} does not commit to")  # fmt: skip
    if not anchors:
        binding = documents.by_hash(session, report_digest(period, doc_hash))
        if binding is not None:
            return verdict("pending", f"the binding of {period} to this report is queued for anchoring, not on chain yet"
                           + (" (its batch is anchored: the index has not read it yet)" if binding.batch and
                              binding.batch.status == BATCH_ANCHORED else ""))  # fmt: skip
        return verdict("unbound", f"no anchor binds {period} to a report yet (a report published before reports "
                       "were bound to their month): its bytes are proven by GET /api/v1/verify?cid=, that it is the "
                       "month's only report rests on the database until it is bound")  # fmt: skip
    first = anchors[0]
    if first.doc_hash != doc_hash:
        return verdict("replaced", f"the chain bound {period} first to the report {first.doc_hash} (block "
                       f"{first.block_number}, tx {first.tx_hash}), not to this one")  # fmt: skip
    if len(anchors) > 1:
        later = ", ".join(f"{a.doc_hash} in block {a.block_number}" for a in anchors[1:])
        return verdict("replaced", f"{period} is bound to this report in block {first.block_number}, but also to "
                       f"{later}: a month is published once")  # fmt: skip
    return verdict("bound", f"the chain binds {period} to this report alone, in block {first.block_number} "
                   f"(tx {first.tx_hash}), and the report names its loan tape's hash")  # fmt: skip


def verify_report(session: Session, settings: Settings, period: str, data: bytes, *, rpc_url: str | None = None,
                  from_block: int | None = None) -> ReportBindingPublic:  # fmt: skip
    """`data` (a copy of the report, or the one the platform serves) against the node's anchors."""
    anchors = anchors_on_chain(settings, period, rpc_url=rpc_url, from_block=from_block)
    return judge(session, period, data, anchors, "the node's Anchored events")


def served_binding(session: Session, period: str, data: bytes) -> ReportBindingPublic:
    return judge(session, period, data, anchors_indexed(session, period), "the platform's chain index")


def bind_published(session: Session) -> int:
    """Queue the binding of every published report that has none (reports published before they
    were bound to their month); returns how many. Idempotent. Once each report has a binding
    queued (reports are bound as they are published), it costs two counts a pass."""
    reports = session.scalar(select(func.count()).select_from(DisclosureReport)) or 0
    bound = session.scalar(select(func.count()).select_from(Document).where(Document.anchor_uri.startswith(URI_PREFIX)))
    if (bound or 0) >= reports:
        return 0
    queued = 0
    for report in session.scalars(select(DisclosureReport).order_by(DisclosureReport.period)):
        if documents.by_hash(session, report_digest(report.period, report.doc_hash)) is None:
            commit_report(session, report.period, report.doc_hash)
            queued += 1
    return queued
