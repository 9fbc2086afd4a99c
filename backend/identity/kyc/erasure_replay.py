"""Re-applying the erasure log to a restored database (a backup may predate erasures).

Only what each entry names is erased again: a record the wallet made after its erasure (it came
back and verified again) is that person's live data, and stays. A line from before entries named
their rows reaches the wallet's rows made up to its `erased_at`.

An entry the log marks committed was erased for real, with erasure's guards checked at the time:
it is re-applied whatever the restored database says (a backup from before the loan that held it
off was repaid still must not bring it back). An entry rolled back is skipped. An entry without an
outcome may or may not have committed: the person did ask to be erased, so it is re-applied, but
only where erasure's guards allow it now (no open loan, no offer in flight, no staff role);
otherwise it is skipped and named in the report, for the operator to settle by hand.

The chain needs nothing: the attestations were revoked at the time (an unresolved entry's too,
if it committed; if it did not, the wallet's attestation stands and is revoked when the operator
erases it again)."""

from __future__ import annotations

from dataclasses import dataclass, field

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from backend import idempotency_keys
from backend.anchoring.content_erasure import erase_agreements
from backend.config import Settings
from backend.identity.audit_trail import audit
from backend.identity.crypto.holders import shred
from backend.identity.kyc.erasure_scope import (
    clear_decision,
    decisions_named,
    holders_named,
    offers_named,
    rows_about,
    shred_records,
)
from backend.identity.kyc.erasures import Entry, ErasureLog
from backend.identity.kyc.lifecycle import kept_because
from backend.identity.models import KycOrigin, KycRecord, utcnow
from backend.lending.models import LoanOffer
from backend.scoring.models import CreditDecision
from backend.servicing.models import ServicingNotice

WHY = "erasure re-applied after a restore (data key destroyed)"


@dataclass
class Replayed:
    erased: int = 0  # records and notes shredded again
    decisions: int = 0  # credit decisions' applications cleared again
    offers: int = 0  # offers never accepted deleted again
    skipped: list[str] = field(default_factory=list)  # entries held off by erasure's guards, why


def replay_erasures(session: Session, settings: Settings, log: ErasureLog) -> Replayed:
    result = Replayed()
    for entry in log.entries:
        if entry.standing:
            _replay(session, settings, entry, result)
    if result.erased or result.decisions or result.offers:
        audit(session, "system", "kyc.erase.replay", "erasure-log", {"shredded": result.erased, "decisions": result.decisions,
                                                                     "offers": result.offers})  # fmt: skip
    return result


def _replay(session: Session, settings: Settings, entry: Entry, result: Replayed) -> None:
    if entry.names_rows:
        records = list(session.scalars(select(KycRecord).where(KycRecord.id.in_(entry.records), KycRecord.erased_at.is_(None))
                                       .with_for_update()))  # fmt: skip
        holders = holders_named(session, entry)
        decisions = decisions_named(session, entry.cleared.get(CreditDecision.__tablename__, []))
        offers = offers_named(session, entry.cleared.get(LoanOffer.__tablename__, []))
    else:
        records = list(session.scalars(select(KycRecord).where(KycRecord.wallet == entry.wallet, KycRecord.erased_at.is_(None),
                                                               KycRecord.submitted_at <= entry.erased_at).with_for_update()))  # fmt: skip
        holders, decisions, offers = rows_about(session, entry.wallet, until=entry.erased_at), [], []
    if not (records or holders or decisions or offers):
        return
    if entry.outcome is None and (held := kept_because(session, settings, entry.wallet, has_records=bool(records))):
        result.skipped.append(f"erasure {entry.id} of {entry.wallet} ({entry.erased_at.isoformat()}, outcome unknown) not "
                              f"re-applied: {held}")  # fmt: skip
        return
    now = utcnow()
    shred_records(session, records, WHY, "system", now, keeping_index=set(entry.kept_index))
    for row in holders:
        shred(row)
    for decision in decisions:
        clear_decision(decision, now)
    for offer in offers:
        session.delete(offer)
    erase_agreements(session, settings, [o.agreement_hash for o in offers], now)
    result.erased += len(records) + len(holders)
    result.decisions += len(decisions)
    result.offers += len(offers)
    if entry.kind is not None:  # the retention schedule reached the rows it names, nothing else of the wallet's
        return
    # What else the erasure cleared by wallet, up to its time: a later origin or failure is the live data's.
    session.execute(KycOrigin.__table__.delete().where(KycOrigin.wallet == entry.wallet, KycOrigin.seen_at <= entry.erased_at))
    idempotency_keys.forget(session, entry.wallet, until=entry.erased_at)
    session.execute(update(ServicingNotice).where(ServicingNotice.recipient == entry.wallet,
                                                  ServicingNotice.created_at <= entry.erased_at)
                    .values(email_error=None, sms_error=None).execution_options(synchronize_session=False))  # fmt: skip
