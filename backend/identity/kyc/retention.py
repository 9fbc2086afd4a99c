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
- Wallets gone dormant, erased whole as on request (`lifecycle.erase_dormant`: every live record,
  the attestation revoked through the outbox, notes, applications, offers, origins; audited
  `kyc.retention`): one with no AML period running (never in a business relationship, or one that
  ended more than `LOANCHAIN_AML_RETENTION_DAYS` ago) whose last activity is more than
  `LOANCHAIN_RETENTION_INACTIVE_DAYS` (1095) old. A rejection on identity grounds among its records
  keeps its blind index here too (this pass runs first, and on a book older than the inactivity
  period reaches such a rejection before the pass below does).
  Activity is what the person did: a KYC submission or its decision, a credit application or its
  review, an offer made or accepted, a sign-in, an investment rule or funding mandate; an expiry is
  the platform's, not activity. Never while erasure's guards hold (an open debt, a staff role), the
  AML period runs, or a request is scheduled (carried out by the request's own path when due).
- Credit applications declined, or approved and never made a loan (by the model, or by an
  underwriter on a referral), more than `LOANCHAIN_RETENTION_DECLINED_DAYS` (180) ago: cleared as an
  erasure clears them (`erasure_scope.clear_decision`: inputs, wallet, hash, salt, all outputs but
  score, grade, PD and decision), the underwriter's note shredded, and their offers never accepted
  deleted. Not one with an accepted offer (a loan on its way). An application scored without a
  sign-in names no wallet, and is not reached.
- Notices are not reached: they hold the loan's figures and dates and the recipient's wallet, no
  name, address or contact (those are read from the KYC record when sending), and their delivery
  errors hold codes only; they are the record of the debt's servicing, kept with the loan."""

from __future__ import annotations

import logging
from dataclasses import asdict, dataclass, field
from datetime import datetime, timedelta

from sqlalchemy import and_, case, exists, func, or_, select
from sqlalchemy.orm import Session

from backend import idempotency_keys
from backend.anchoring.content_erasure import remove_quietly
from backend.config import Settings
from backend.db.base import as_utc
from backend.db.session import session_scope
from backend.identity.audit_trail import audit
from backend.identity.kyc.earlier_agreements import erase_earlier_agreements_once
from backend.identity.kyc.erasure_requests import SCHEDULED, due_requests, scheduled_request
from backend.identity.kyc.erasure_scope import denied_identity, no_loan_made_from, unaccepted_offers, unbound_decisions
from backend.identity.kyc.lifecycle import erase_dormant, erase_rows, erase_scheduled, kept_because
from backend.identity.kyc.reindex import reindex_if_due
from backend.identity.kyc.relationship import aml_hold
from backend.identity.kyc.status import Status
from backend.identity.models import ErasureRequest, KycEvent, KycRecord, User, utcnow
from backend.lending.models import FundingMandateRow, InvestmentRule, LoanOffer, OfferStatus
from backend.scoring.models import CreditDecision

log = logging.getLogger("loanchain.retention")
WHY = "kept past its retention period: erased by the retention schedule (data key destroyed)"
DORMANT = "kept past its purpose (no activity since the AML period or the inactivity period began): erased by the " \
          "retention schedule (data key destroyed)"  # fmt: skip
PAST_PURPOSE = (Status.REJECTED, Status.SUPERSEDED)


@dataclass
class Erased:
    wallet: str
    records: list[str] = field(default_factory=list)
    kept_index: list[str] = field(default_factory=list)  # of those, the ones whose blind index stays
    decisions: list[str] = field(default_factory=list)
    offers: list[str] = field(default_factory=list)  # offers never accepted, of those decisions (or of the wallet)
    request: int | None = None  # a scheduled request carried out
    last_activity: str | None = None  # a dormant wallet's: what the schedule counted from


@dataclass
class RetentionRound:
    dry_run: bool
    requests: list[Erased] = field(default_factory=list)
    dormant: list[Erased] = field(default_factory=list)
    retention: list[Erased] = field(default_factory=list)

    @property
    def count(self) -> int:
        return len(self.requests) + len(self.dormant) + len(self.retention)

    def as_dict(self) -> dict:
        return {"dry_run": self.dry_run, "requests": [asdict(e) for e in self.requests],
                "dormant": [asdict(e) for e in self.dormant], "retention": [asdict(e) for e in self.retention]}  # fmt: skip


def retention_step(settings: Settings) -> int:
    """The worker's round: how many wallets it erased something of. After it, the erased agreement
    documents whose removal from the content store failed are removed (`content_erasure.py`), and,
    once per database, the KYC records are re-indexed to the current blind-index formula
    (`reindex.reindex_if_due`) and the agreements of offers erased before erasures took them are erased
    (`earlier_agreements.py`)."""
    done = run_round(settings).count
    remove_quietly(settings)
    reindex_if_due(settings)
    erase_earlier_agreements_once(settings)  # last: it reads the content store, which may be away (retried)
    return done


def run_round(settings: Settings, dry_run: bool = False, now: datetime | None = None) -> RetentionRound:
    """Carry out the erasure requests now due, then erase the wallets gone dormant, then the rest of
    the retention schedule; each wallet in its own transaction, so one that fails (the node away for
    a revocation) does not hold up the others."""
    done, now = RetentionRound(dry_run=dry_run), now or utcnow()
    if not dry_run:  # keys past their day go whether or not a request with a key came since
        idempotency_keys.prune(settings, now)
    with session_scope(settings) as session:
        ids = due_requests(session)
    for request_id in ids:
        _each(settings, done.requests, lambda s, rid=request_id: _request(s, settings, rid, dry_run, now))
    with session_scope(settings) as session:
        quiet = quiet_wallets(session, settings, now)
    for wallet in quiet:
        _each(settings, done.dormant, lambda s, w=wallet: _dormant(s, settings, w, dry_run, now))
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
    return Erased(wallet=erased.wallet, records=erased.erased_records, decisions=erased.erased_decisions,
                  offers=erased.erased_offers, request=request_id)  # fmt: skip


def quiet_wallets(session: Session, settings: Settings, now: datetime) -> list[str]:
    """Wallets with live KYC records none of which was submitted or decided within the inactivity
    period: the only ones `_dormant` can find due (the rest of their activity is asked there)."""
    since = now - timedelta(days=settings.retention_inactive_days)
    latest = func.max(func.coalesce(KycRecord.decided_at, KycRecord.submitted_at))
    live = func.sum(case((KycRecord.erased_at.is_(None), 1), else_=0))
    return list(session.scalars(select(KycRecord.wallet).group_by(KycRecord.wallet)
                                .having(live > 0, latest <= since, func.max(KycRecord.submitted_at) <= since)
                                .order_by(KycRecord.wallet)))  # fmt: skip


def last_activity(session: Session, wallet: str) -> datetime | None:
    """The latest thing the wallet's person did with the platform (an expiry is the platform's)."""
    moments = [session.scalar(select(func.max(column)).where(key == wallet)) for column, key in (
        (KycRecord.submitted_at, KycRecord.wallet), (KycRecord.decided_at, KycRecord.wallet),
        (CreditDecision.created_at, CreditDecision.wallet), (CreditDecision.reviewed_at, CreditDecision.wallet),
        (LoanOffer.created_at, LoanOffer.borrower), (LoanOffer.accepted_at, LoanOffer.borrower),
        (User.last_login_at, User.wallet), (InvestmentRule.updated_at, InvestmentRule.wallet),
        (FundingMandateRow.created_at, FundingMandateRow.wallet),
    )]  # fmt: skip
    return max((as_utc(m) for m in moments if m is not None), default=None)


def dormant_since(session: Session, settings: Settings, wallet: str, now: datetime) -> datetime | None:
    """The wallet's last activity if the schedule erases the wallet whole now, else None. Erasure's
    guards and the AML period are `erase_dormant`'s (asked there again, under the rows' locks)."""
    last = last_activity(session, wallet)
    if last is None or aml_hold(session, settings, wallet, now) is not None:
        return None
    # Inactive for the period too, whatever the AML period: a customer who repaid is not erased
    # unasked the day after where the law keeps nothing (an AML period of 0 days).
    return last if last <= now - timedelta(days=settings.retention_inactive_days) else None


def _dormant(session: Session, settings: Settings, wallet: str, dry_run: bool, now: datetime) -> Erased | None:
    if (last := dormant_since(session, settings, wallet, now)) is None:
        return None
    live = list(session.scalars(select(KycRecord).where(KycRecord.wallet == wallet, KycRecord.erased_at.is_(None))
                                .order_by(KycRecord.id)))  # fmt: skip
    kept = denied_identity(live)  # their index stays, as the schedule keeps a rejection's on identity grounds
    if dry_run:
        if kept_because(session, settings, wallet, has_records=bool(live)) or scheduled_request(session, wallet):
            return None
        return Erased(wallet=wallet, records=[r.id for r in live], kept_index=sorted(kept),
                      decisions=[d.id for d in unbound_decisions(session, wallet)],
                      offers=[o.id for o in unaccepted_offers(session, wallet)], last_activity=last.isoformat())  # fmt: skip
    erased = erase_dormant(session, settings, wallet, DORMANT, now)
    if erased is None:
        return None
    return Erased(wallet=wallet, records=erased.erased_records, kept_index=sorted(kept & set(erased.erased_records)),
                  decisions=erased.erased_decisions, offers=erased.erased_offers, last_activity=last.isoformat())  # fmt: skip


def due_by_wallet(session: Session, settings: Settings, now: datetime) -> dict[str, tuple[list[str], list[str]]]:
    """What the schedule would erase now, by wallet: (record ids, decision ids)."""
    changed = select(KycEvent.record_id, func.max(KycEvent.at).label("at")).group_by(KycEvent.record_id).subquery()
    records = session.execute(select(KycRecord.wallet, KycRecord.id).join(changed, changed.c.record_id == KycRecord.id)
                              .where(KycRecord.status.in_([s.value for s in PAST_PURPOSE]), KycRecord.erased_at.is_(None),
                                     changed.c.at <= now - timedelta(days=settings.retention_rejected_days))
                              .order_by(KycRecord.wallet, KycRecord.id))  # fmt: skip
    final = ("decline", "approve")  # a referral still waiting for its underwriter is not done with
    taken = or_(and_(CreditDecision.decision.in_(final), CreditDecision.review.is_(None)), CreditDecision.review.in_(final))
    decisions = session.execute(select(CreditDecision.wallet, CreditDecision.id)
                                .where(taken, CreditDecision.erased_at.is_(None), CreditDecision.wallet.is_not(None), no_loan_made_from(),
                                       no_offer_accepted(),
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
                                                                  CreditDecision.erased_at.is_(None), no_loan_made_from(),
                                                                  no_offer_accepted())
                                     .with_for_update()))  # fmt: skip
    if not records and not decisions:
        return None
    offers = list(session.scalars(select(LoanOffer).where(LoanOffer.decision_id.in_([d.id for d in decisions]),
                                                          LoanOffer.status != OfferStatus.ACCEPTED)
                                  .order_by(LoanOffer.id).with_for_update()))  # fmt: skip
    kept = denied_identity(records)
    erased = Erased(wallet=wallet, records=[r.id for r in records], kept_index=sorted(kept), decisions=[d.id for d in decisions],
                    offers=[o.id for o in offers])  # fmt: skip
    if dry_run:
        return erased
    holders = [d for d in decisions if d.wrapped_key is not None]  # an underwriter's note on it
    entry, _ = erase_rows(session, settings, wallet, "system", records, holders, decisions, offers, WHY, kind="retention",
                          keeping_index=kept)  # fmt: skip
    audit(session, "system", "kyc.retention", wallet, {"wallet": wallet, "records": erased.records, "kept_index": erased.kept_index,
                                                       "decisions": erased.decisions, "offers": erased.offers,
                                                       "erasure": entry.id})  # fmt: skip
    return erased


def no_offer_accepted():
    """A decision no offer of which was accepted: one that was is a loan on its way (its createLoan in
    the outbox, or mined and not yet indexed), kept as the loan's."""
    return ~exists().where(LoanOffer.decision_id == CreditDecision.id, LoanOffer.status == OfferStatus.ACCEPTED)
