"""The end of a record: expiry (a sweep the scheduler calls) and erasure (crypto-shredding).

Erasure deletes the record's wrapped data key and its blind index. The ciphertexts stay: without
the key they are noise. The status history stays (it holds no personal data in clear), and the
on-chain commitment stays: it is a salted hash whose salt was inside the shredded record, so it
reveals nothing. The wallet's attestation is revoked. Other rows holding personal data about the
wallet under their own data keys (the collections case log's notes on its loans, underwriters'
review notes on its credit decisions: `crypto/holders.py`) are shredded in the same transaction,
and its notices' delivery failure reasons are cleared.

The wallet's credit decisions that no loan was made from lose their inputs (its declared finances)
and wallet; a loan's decision stays, as its terms' proof (`erasure_scope.py`). The checks' messages
(a watch-list match describes the person) are dropped from the record and its history, codes kept.

Backups are not reached at once: one taken before the erasure still holds the wrapped data key,
and the master key still unwraps it. Two things close that. Each erasure goes into the erasure log
kept beside the master keys (`erasures.py`), naming the rows it erases, written before the erasure
commits; a restore replays it (`erasure_replay.py`, and refuses to run without it), so a restore does
not bring the data back. And the backup worker rotates the master key
after erasures and deletes the old one once no kept backup predates the rotation
(`backend/backup/shredding.py`): from then on, within backup_keep x backup_interval_hours of the
erasure (14 days by default), every copy of those backups is noise for the erased person.

Erasure waits while the wallet is the borrower of an open loan (funding, active, or defaulted
with money still to recover): identifying a debtor is a legal obligation of the lender until
the debt is settled (GDPR art. 17(3)(b) and (e)), and collections need it. It also waits while the
wallet holds a staff role: the four-eyes rules know a staff wallet's person by its records' blind
index (backend/identity/persons.py), and an erased one would make the wallet a stranger to the
person's other wallets.

Once no debt is open, a wallet that borrowed or invested still keeps its data for the AML
record-keeping period after the relationship ended: a request then is scheduled, not refused, and
carried out when due by the retention worker (`erasure_requests.py`, `erase_scheduled`).
`erase_rows` is the one path every erasure takes, the retention schedule's too (`retention.py`; a
wallet gone dormant is erased whole, as on request, by `erase_dormant`).
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from backend import idempotency_keys
from backend.anchoring.content_erasure import erase_agreements
from backend.chain.projection_models import LoanRow
from backend.config import Settings
from backend.errors import Conflict, NotFound
from backend.identity.audit_trail import audit
from backend.identity.checks.origin import forget_origins
from backend.identity.checks.reasons import Code, Disposition, Reason
from backend.identity.crypto.holders import shred
from backend.identity.kyc import attestation, erasure_requests
from backend.identity.kyc.erasure_lock import hold_erasures
from backend.identity.kyc.erasure_scope import (
    clear_decision,
    denied_identity,
    holder_ids,
    repair_log,
    rows_about,
    shred_records,
    still_there,
    unaccepted_offers,
    unbound_decisions,
)
from backend.identity.kyc.erasures import Entry, log_erasure
from backend.identity.kyc.history import transition
from backend.identity.kyc.relationship import aml_hold
from backend.identity.kyc.status import Status
from backend.identity.models import ErasureRequest, KycRecord, utcnow
from backend.identity.roles import GRANTABLE, roles_of
from backend.identity.schemas import ErasurePublic, ErasureScheduledPublic
from backend.lending.mandates import withdraw_for_erasure
from backend.lending.models import LoanOffer
from backend.lending.offers import offers_in_flight
from backend.scoring.models import CreditDecision
from backend.servicing.channels import forget_failures

OPEN_LOAN_STATUSES = ("funding", "active", "defaulted")


def kept_because(session: Session, settings: Settings, wallet: str, has_records: bool) -> Conflict | None:
    """Why `wallet`'s personal data must be kept now, or None (erasure's guards; the replay of an
    erasure whose outcome the log does not know asks them too)."""
    borrowed = session.scalars(select(LoanRow).where(LoanRow.borrower == wallet, LoanRow.status.in_(OPEN_LOAN_STATUSES))
                               .order_by(LoanRow.loan_id))  # fmt: skip
    open_loans = [loan.loan_id for loan in borrowed if loan.owes]
    if in_flight := offers_in_flight(session, wallet):
        return Conflict(f"offer {in_flight[0].id} of this wallet is becoming a loan on-chain: personal data is kept while "
                        "it borrows", offer_id=in_flight[0].id)  # fmt: skip
    if open_loans:
        listed = ", ".join(str(i) for i in open_loans)
        return Conflict(
            f"personal data is kept while this wallet borrows in open loans ({listed}): "
            "the lender must be able to identify a debtor until the debt is settled",
            loan_ids=open_loans,
        )
    if has_records and (staff := sorted(roles_of(session, settings, wallet) & GRANTABLE)):
        return Conflict(f"personal data is kept while this wallet holds a staff role ({', '.join(staff)}): it is how the "
                        "four-eyes rules know its person; revoke the role first", roles=staff)  # fmt: skip
    return None


def erase_wallet(session: Session, settings: Settings, wallet: str, actor: str) -> ErasurePublic | ErasureScheduledPublic:
    """A request to erase `wallet`'s personal data: erased now, or scheduled while the AML period runs."""
    records = _live_records(session, wallet)
    if refused := kept_because(session, settings, wallet, has_records=bool(records)):
        raise refused
    scope = _scope(session, wallet)
    if not records and not any(scope):
        repair_log(session, settings, wallet)
        raise NotFound("no KYC data to erase for this wallet")
    if (hold := aml_hold(session, settings, wallet)) is not None:
        withdraw_for_erasure(session, wallet, actor)  # restricted meanwhile: auto-invest would only prolong it
        return erasure_requests.schedule(session, wallet, actor, hold)
    return _erase(session, settings, wallet, actor, records, scope)


def erase_scheduled(session: Session, settings: Settings, request: ErasureRequest,
                    now: datetime | None = None) -> ErasurePublic | None:  # fmt: skip
    """Carry out a scheduled request if it is due `now` (None: not yet, its due date brought up to
    date; or nothing was left to erase, and it is closed)."""
    records = _live_records(session, request.wallet)
    if kept_because(session, settings, request.wallet, has_records=bool(records)):
        request.erase_after = None  # a loan taken meanwhile: due once the AML period after it has passed
        return None
    if (hold := aml_hold(session, settings, request.wallet, now)) is not None:
        request.erase_after = hold.erase_after
        return None
    scope = _scope(session, request.wallet)
    if not records and not any(scope):  # erased meanwhile (an admin's erasure after the period)
        erasure_requests.close(session, request.wallet, None, utcnow())
        return None
    return _erase(session, settings, request.wallet, "system", records, scope, request=request)


def erase_dormant(session: Session, settings: Settings, wallet: str, why: str, now: datetime | None = None) -> ErasurePublic | None:
    """The retention schedule's erasure of a whole wallet gone dormant (`retention.py` decides that):
    erasure's own path, unless a guard holds now (an open debt, a staff role, the AML period, or a
    request already scheduled, which the worker carries out when due). None: kept, or nothing left."""
    records = _live_records(session, wallet)
    if kept_because(session, settings, wallet, has_records=bool(records)) or aml_hold(session, settings, wallet, now) \
            or erasure_requests.scheduled_request(session, wallet) is not None:  # fmt: skip
        return None
    scope = _scope(session, wallet)
    if not records and not any(scope):
        return None
    # The schedule's erasure, as `retention._retain`'s: a rejection on identity grounds keeps its index
    # (this pass runs first, and reaches it first on a book older than the inactivity period).
    return _erase(session, settings, wallet, "system", records, scope, why=why, action="kyc.retention",
                  keeping_index=denied_identity(records))  # fmt: skip


def _hold_acceptances(session: Session, wallet: str) -> None:
    """Wait for, then keep out until the commit, an acceptance of the wallet's offer (its lock by
    name, `offers._lock_person`; SQLite: the write lock, before anything is read). Otherwise an
    erasure reading while an acceptance is uncommitted finds no offer in flight, erases the wallet
    and clears (or deletes) the very decision and offer its createLoan is making a loan from. The
    mandate keeper takes the same lock to queue a funding (`erasure_lock.py`): an erasure reading
    while the funding is uncommitted would find the wallet investing nothing and erase it, the
    funding landing after, in the name of an investor no one can identify."""
    hold_erasures(session, [wallet], KycRecord)


def _live_records(session: Session, wallet: str) -> list[KycRecord]:
    _hold_acceptances(session, wallet)
    return list(session.scalars(select(KycRecord).where(KycRecord.wallet == wallet, KycRecord.erased_at.is_(None)).with_for_update()))


def _scope(session: Session, wallet: str) -> tuple[list, list[CreditDecision], list[LoanOffer]]:
    return rows_about(session, wallet), unbound_decisions(session, wallet), unaccepted_offers(session, wallet)


def erase_rows(session: Session, settings: Settings, wallet: str, actor: str, records: list[KycRecord], holders: list,
               decisions: list[CreditDecision], offers: list[LoanOffer], why: str, kind: str | None = None,
               keeping_index: frozenset[str] = frozenset()) -> tuple[Entry, list[str]]:  # fmt: skip
    """Erase exactly these rows of `wallet`: logged first (fsynced: an erasure never commits unlogged,
    and a restore replays it), then attestations revoked, data keys shredded, applications cleared,
    offers deleted, and their agreement documents' bytes (once committed: `content_erasure.py`).
    Returns the log entry and the revocations queued."""
    now = utcnow()
    cleared = {table: rows for table, rows in ((CreditDecision.__tablename__, [d.id for d in decisions]),
                                               (LoanOffer.__tablename__, [o.id for o in offers])) if rows}  # fmt: skip
    entry = log_erasure(session, settings, wallet, now, [r.id for r in records], holder_ids(holders), cleared,
                        lambda e: still_there(settings, e), kind=kind, kept_index=sorted(keeping_index))  # fmt: skip
    revocations = []
    for record in records:
        if record.status == Status.APPROVED and (key := attestation.revoke(session, settings, record)):
            revocations.append(key)
    shred_records(session, records, why, actor, now, keeping_index=keeping_index)
    for row in holders:
        shred(row)
    for decision in decisions:
        clear_decision(decision, now)
    for offer in offers:
        session.delete(offer)
    erase_agreements(session, settings, [o.agreement_hash for o in offers], now)
    return entry, revocations


def _erase(session: Session, settings: Settings, wallet: str, actor: str, records: list[KycRecord], scope: tuple,
           request: ErasureRequest | None = None, why: str | None = None, action: str = "kyc.erase",
           keeping_index: frozenset[str] = frozenset()) -> ErasurePublic:  # fmt: skip
    holders, decisions, offers = scope
    # First, before anything audited: the mandate rows are locked after the erasure lock, as the keeper does.
    withdraw_for_erasure(session, wallet, actor)
    why = why or ("personal data erased on request (data key destroyed)" if request is None else
                  "personal data erased on request, once the AML record-keeping period had passed (data key destroyed)")  # fmt: skip
    entry, revocations = erase_rows(session, settings, wallet, actor, records, holders, decisions, offers, why,
                                    keeping_index=keeping_index)  # fmt: skip
    forget_origins(session, wallet)
    forget_failures(session, wallet)
    idempotency_keys.forget(session, wallet)  # each names a record of the wallet and hashes what it declared
    erasure_requests.close(session, wallet, entry.id, entry.erased_at)
    ids, erased_decisions, erased_offers = [r.id for r in records], [d.id for d in decisions], [o.id for o in offers]
    asked = {"request": request.id, "requested_by": request.requested_by} if request is not None else {}
    audit(session, actor, action, wallet, {"wallet": wallet, "records": ids, "revocations": revocations, "notes": len(holders),
                                           "decisions": erased_decisions, "offers": erased_offers, "erasure": entry.id,
                                           **asked})  # fmt: skip
    return ErasurePublic(wallet=wallet, erased_records=ids, revocations=revocations, erased_notes=len(holders),
                         erased_decisions=erased_decisions, erased_offers=erased_offers)


def expire_due(session: Session, settings: Settings, now: datetime | None = None) -> list[str]:
    """Mark approved records past their expiry as expired and revoke their attestations."""
    now = now or utcnow()
    due = list(
        session.scalars(
            select(KycRecord).where(KycRecord.status == Status.APPROVED, KycRecord.expires_at <= now).with_for_update()
        )
    )
    for record in due:
        expired = Reason(Code.EXPIRED, "the verification reached its expiry date", Disposition.DECISION)
        transition(session, record, Status.EXPIRED, [*(Reason.from_dict(r) for r in record.reasons), expired], now=now)
        revocation = attestation.revoke(session, settings, record)
        audit(session, "system", "kyc.expire", record.id, {"record_id": record.id, "wallet": record.wallet, "revocation": revocation})
    return [r.id for r in due]
