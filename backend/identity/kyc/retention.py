"""The retention schedule: personal data kept past its purpose is erased without anyone asking
(GDPR art. 5(1)(e), storage limitation), and erasures the AML period held off are carried out when
due. One round of the `retention` worker (`LOANCHAIN_RETENTION_INTERVAL`), or `loanchain kyc
retention [--dry-run]`.

Every erasure here takes erasure's one path (`lifecycle.erase_rows`): logged in the erasure log
before it commits (a restore replays it), data keys shredded, and audited (`kyc.erase` for a
request carried out, `kyc.retention` for the schedule). What the schedule reaches:

- KYC records rejected or superseded more than `LOANCHAIN_RETENTION_REJECTED_DAYS` (180) ago, by the
  time of their last status change. Not while their wallet's data is kept anyway: in a business
  relationship or the AML period after it (a superseded record is customer due diligence of the
  relationship), or while erasure's guards hold (an open loan, a staff role: `kept_because`). A
  rejection on identity grounds (`DENIED_IDENTITY`) keeps its blind index and its status history, the
  codes without messages: every later submission of that national ID still waits for two admins
  (`id_history.check_denied`); the name, birth date, address, ID documents and reviewers' notes go
  with the data key. The log entry names the records whose index was kept, so a replay keeps it too.
- Credit applications declined (by the model, or by an underwriter on a referral) more than
  `LOANCHAIN_RETENTION_DECLINED_DAYS` (180) ago: cleared as an erasure clears them
  (`erasure_scope.clear_decision`: inputs, wallet, hash, salt, all outputs but score, grade, PD and
  decision) and the underwriter's note shredded. An application scored without a sign-in names no
  wallet, and is not reached.
- Notices are not reached: they hold the loan's figures and dates and the recipient's wallet, no
  name, address or contact (those are read from the KYC record when sending), and their delivery
  errors hold codes only; they are the record of the debt's servicing, kept with the loan."""

from __future__ import annotations

import logging
from dataclasses import asdict, dataclass, field
from datetime import datetime, timedelta

from sqlalchemy import and_, func, or_, select
from sqlalchemy.orm import Session

from backend.config import Settings
from backend.db.session import session_scope
from backend.identity.audit_trail import audit
from backend.identity.checks.reasons import Code
from backend.identity.kyc.erasure_requests import SCHEDULED, due_requests
from backend.identity.kyc.erasure_scope import no_loan_made_from
from backend.identity.kyc.lifecycle import erase_rows, erase_scheduled, kept_because
from backend.identity.kyc.relationship import aml_hold
from backend.identity.kyc.status import Status
from backend.identity.models import ErasureRequest, KycEvent, KycRecord, utcnow
from backend.scoring.models import CreditDecision

log = logging.getLogger("loanchain.retention")
WHY = "kept past its retention period: erased by the retention schedule (data key destroyed)"
PAST_PURPOSE = (Status.REJECTED, Status.SUPERSEDED)


@dataclass
class Erased:
    wallet: str
    records: list[str] = field(default_factory=list)
    kept_index: list[str] = field(default_factory=list)  # of those, the ones whose blind index stays
    decisions: list[str] = field(default_factory=list)
    request: int | None = None  # a scheduled request carried out


@dataclass
class RetentionRound:
    dry_run: bool
    requests: list[Erased] = field(default_factory=list)
    retention: list[Erased] = field(default_factory=list)

    @property
    def count(self) -> int:
        return len(self.requests) + len(self.retention)

    def as_dict(self) -> dict:
        return {"dry_run": self.dry_run, "requests": [asdict(e) for e in self.requests],
                "retention": [asdict(e) for e in self.retention]}  # fmt: skip


def retention_step(settings: Settings) -> int:
    """The worker's round: how many wallets it erased something of."""
    return run_round(settings).count


def run_round(settings: Settings, dry_run: bool = False, now: datetime | None = None) -> RetentionRound:
    """Carry out the erasure requests now due, then the retention schedule; each wallet in its own
    transaction, so one that fails (the node away for a revocation) does not hold up the others."""
    done, now = RetentionRound(dry_run=dry_run), now or utcnow()
    with session_scope(settings) as session:
        ids = due_requests(session)
    for request_id in ids:
        _each(settings, done.requests, lambda s, rid=request_id: _request(s, settings, rid, dry_run, now))
    with session_scope(settings) as session:
        wallets = due_by_wallet(session, settings, now)
    for wallet, (records, decisions) in wallets.items():
        _each(settings, done.retention, lambda s, w=wallet, r=records, d=decisions: _retain(s, settings, w, r, d, dry_run, now))
    return done


def _each(settings: Settings, into: list[Erased], step) -> None:
    try:
        with session_scope(settings) as session:
            if (erased := step(session)) is not None:
                into.append(erased)
    except Exception as exc:  # noqa: BLE001 - the next round retries it; the others go on
        log.warning("retention: %s: %s", type(exc).__name__, exc)


def _request(session: Session, settings: Settings, request_id: int, dry_run: bool, now: datetime) -> Erased | None:
    request = session.get(ErasureRequest, request_id, with_for_update=True)
    if request is None or request.status != SCHEDULED:
        return None
    if dry_run:
        live = list(session.scalars(select(KycRecord.id).where(KycRecord.wallet == request.wallet, KycRecord.erased_at.is_(None))))
        if kept_because(session, settings, request.wallet, has_records=bool(live)) or aml_hold(session, settings, request.wallet, now):
            return None
        return Erased(wallet=request.wallet, records=live, request=request.id)
    erased = erase_scheduled(session, settings, request, now)
    if erased is None:
        return None
    return Erased(wallet=erased.wallet, records=erased.erased_records, decisions=erased.erased_decisions, request=request_id)


def due_by_wallet(session: Session, settings: Settings, now: datetime) -> dict[str, tuple[list[str], list[str]]]:
    """What the schedule would erase now, by wallet: (record ids, decision ids)."""
    changed = select(KycEvent.record_id, func.max(KycEvent.at).label("at")).group_by(KycEvent.record_id).subquery()
    records = session.execute(select(KycRecord.wallet, KycRecord.id).join(changed, changed.c.record_id == KycRecord.id)
                              .where(KycRecord.status.in_([s.value for s in PAST_PURPOSE]), KycRecord.erased_at.is_(None),
                                     changed.c.at <= now - timedelta(days=settings.retention_rejected_days))
                              .order_by(KycRecord.wallet, KycRecord.id))  # fmt: skip
    declined = or_(and_(CreditDecision.decision == "decline", CreditDecision.review.is_(None)), CreditDecision.review == "decline")
    decisions = session.execute(select(CreditDecision.wallet, CreditDecision.id)
                                .where(declined, CreditDecision.erased_at.is_(None), CreditDecision.wallet.is_not(None), no_loan_made_from(),
                                       func.coalesce(CreditDecision.reviewed_at, CreditDecision.created_at)
                                       <= now - timedelta(days=settings.retention_declined_days))
                                .order_by(CreditDecision.wallet, CreditDecision.id))  # fmt: skip
    found: dict[str, tuple[list[str], list[str]]] = {}
    for wallet, record_id in records:
        found.setdefault(wallet, ([], []))[0].append(record_id)
    for wallet, decision_id in decisions:
        found.setdefault(wallet, ([], []))[1].append(decision_id)
    return found


def _retain(session: Session, settings: Settings, wallet: str, record_ids: list[str], decision_ids: list[str],
            dry_run: bool, now: datetime) -> Erased | None:  # fmt: skip
    records = list(session.scalars(select(KycRecord).where(KycRecord.id.in_(record_ids), KycRecord.erased_at.is_(None),
                                                           KycRecord.status.in_([s.value for s in PAST_PURPOSE]))
                                   .with_for_update()))  # fmt: skip
    # The wallet's customer due diligence is kept while erasure's guards hold or the AML period runs.
    if records and (kept_because(session, settings, wallet, has_records=True) or aml_hold(session, settings, wallet, now)):
        records = []
    decisions = list(session.scalars(select(CreditDecision).where(CreditDecision.id.in_(decision_ids),
                                                                  CreditDecision.erased_at.is_(None), no_loan_made_from())
                                     .with_for_update()))  # fmt: skip
    if not records and not decisions:
        return None
    kept = frozenset(r.id for r in records if r.status == Status.REJECTED
                     and any(x["code"] == Code.DENIED_IDENTITY for x in r.reasons))  # fmt: skip
    erased = Erased(wallet=wallet, records=[r.id for r in records], kept_index=sorted(kept), decisions=[d.id for d in decisions])
    if dry_run:
        return erased
    holders = [d for d in decisions if d.wrapped_key is not None]  # an underwriter's note on it
    entry, _ = erase_rows(session, settings, wallet, "system", records, holders, decisions, [], WHY, kind="retention",
                          keeping_index=kept)  # fmt: skip
    audit(session, "system", "kyc.retention", wallet, {"wallet": wallet, "records": erased.records, "kept_index": erased.kept_index,
                                                       "decisions": erased.decisions, "erasure": entry.id})  # fmt: skip
    return erased
