"""What an erasure of a wallet reaches, by row: shared by the erasure itself, its replay after a
restore, and the log's repair and settling (`erasures.py` names these rows in its entries).

Credit decisions: an application's inputs are the applicant's declared finances. A decision no
loan was made from loses its inputs and its wallet with the wallet's personal data, and whatever
would give them back (`clear_decision`): its `input_hash` (an unsalted keccak of the inputs, whose
closed choices are few enough to try them all) and its salt, and of its outputs all but the score,
grade, PD and decision (the quote and the reasons describe the finances). Those and any review stay,
unlinked, as the record of a decision taken; it can no longer be proven, and says so. The wallet's
loan offers never accepted are deleted (`unaccepted_offers`): each names the wallet, its decision
and the exact amount and term. An accepted offer is a loan's, and holds erasure off until the
chain index has the loan (`offers_in_flight`). One a loan was made from stays
whole: the loan's on-chain terms carry its decision hash, which only the inputs prove
(`backend/scoring/service.py` prove_decision); keeping the record of a credit decision for the
loan's life and the retention after it is the lender's legal obligation (GDPR art. 17(3)(b)), and
erasure waits anyway while the loan is open. Its underwriter's note is shredded all the same."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import exists, select
from sqlalchemy.orm import Session

from backend.chain.projection_models import LoanRow
from backend.config import Settings
from backend.db.session import session_scope
from backend.identity.checks.reasons import Code, Disposition, Reason
from backend.identity.crypto.holders import WrappedKeyHolder, key_holders, shred
from backend.identity.kyc.contact_history import set_indexes
from backend.identity.kyc.erasures import Entry, log_committed, read_log
from backend.identity.kyc.history import transition
from backend.identity.kyc.status import Status
from backend.identity.models import KycRecord
from backend.lending.models import LoanOffer, OfferStatus
from backend.scoring.models import CreditDecision

# What an erased decision keeps of its outputs: the decision taken, not the finances behind it.
KEPT_OUTPUTS = ("score", "grade", "pd", "decision")


def rows_about(session: Session, wallet: str, until: datetime | None = None) -> list[WrappedKeyHolder]:
    """Rows holding a live data key over personal data about `wallet` (made up to `until`)."""
    found = []
    for holder in key_holders():
        if (about := holder.about(wallet)) is None:
            continue
        query = select(holder).where(about, holder.wrapped_key.is_not(None))
        if until is not None:
            query = query.where(holder.created_at <= until)
        found += session.scalars(query.with_for_update())
    return found


def holder_ids(rows: list[WrappedKeyHolder]) -> dict[str, list]:
    ids: dict[str, list] = {}
    for row in rows:
        ids.setdefault(type(row).__tablename__, []).append(row.id)
    return ids


def holders_named(session: Session, entry: Entry) -> list[WrappedKeyHolder]:
    """The rows an entry names that still hold their data key, and are still about its wallet and
    made by its time: an id alone is not stable. After a restore from a backup older than the
    erasure, a database hands the erased rows' ids out again (SQLite's max+1, PostgreSQL's sequences
    reset past the restored rows) to rows about other people, which a later replay of the entry
    would otherwise shred."""
    rows = []
    for holder in key_holders():
        if ids := entry.holders.get(holder.__tablename__):
            query = select(holder).where(holder.id.in_(ids), holder.wrapped_key.is_not(None))
            if (about := holder.about(entry.wallet)) is not None:  # the rows wallet-only entries reach
                query = query.where(about, holder.created_at <= entry.erased_at)
            rows += session.scalars(query.with_for_update())
    return rows


def no_loan_made_from():
    return ~exists().where(LoanRow.decision_hash == CreditDecision.decision_hash)


def unbound_decisions(session: Session, wallet: str) -> list[CreditDecision]:
    """The wallet's credit decisions no loan was made from."""
    return list(session.scalars(select(CreditDecision).where(CreditDecision.wallet == wallet, CreditDecision.erased_at.is_(None),
                                                             no_loan_made_from()).with_for_update()))  # fmt: skip


def decisions_named(session: Session, ids: list[str]) -> list[CreditDecision]:
    """The decisions an entry names that still hold their inputs (and still back no loan)."""
    if not ids:
        return []
    return list(session.scalars(select(CreditDecision).where(CreditDecision.id.in_(ids), CreditDecision.erased_at.is_(None),
                                                             no_loan_made_from()).with_for_update()))  # fmt: skip


def clear_decision(decision: CreditDecision, now: datetime) -> None:
    decision.inputs, decision.wallet, decision.erased_at = {}, None, now
    decision.input_hash = decision.salt = None
    decision.outputs = {key: decision.outputs[key] for key in KEPT_OUTPUTS if key in decision.outputs}


def unaccepted_offers(session: Session, wallet: str) -> list[LoanOffer]:
    """The wallet's offers that never became a loan (offered, or superseded by a newer one)."""
    return list(session.scalars(select(LoanOffer).where(LoanOffer.borrower == wallet, LoanOffer.status != OfferStatus.ACCEPTED)
                                .with_for_update()))  # fmt: skip


def offers_named(session: Session, ids: list[str]) -> list[LoanOffer]:
    """The offers an entry names that are still there (and still not accepted)."""
    if not ids:
        return []
    return list(session.scalars(select(LoanOffer).where(LoanOffer.id.in_(ids), LoanOffer.status != OfferStatus.ACCEPTED)
                                .with_for_update()))  # fmt: skip


def without_detail(reason: dict) -> dict:
    return {"code": reason["code"], "message": "", "disposition": reason["disposition"]}


def denied_identity(records: list[KycRecord]) -> frozenset[str]:
    """Of `records`, those rejected on identity grounds (`DENIED_IDENTITY`): the retention schedule,
    its dormancy pass too, keeps their blind index, so the ID still waits for two admins on any wallet."""
    return frozenset(r.id for r in records if r.status == Status.REJECTED
                     and any(x["code"] == Code.DENIED_IDENTITY for x in r.reasons))  # fmt: skip


def shred_records(session: Session, records: list[KycRecord], why: str, actor: str, now: datetime,
                  keeping_index: frozenset[str] | set[str] = frozenset()) -> None:  # fmt: skip
    """Shred the records; those in `keeping_index` keep their blind index (the retention schedule's
    rejections on identity grounds: `retention.py`)."""
    for record in records:
        shred(record)
        if record.id not in keeping_index:
            record.blind_index = None
        set_indexes(record, None)  # its phone, e-mail and address no longer match anyone's
        record.erased_at = now
        # A check's message can describe the person (a watch-list match names the entry and that the
        # birth date agrees): erased with the data; the code and its disposition stay as the record.
        for event in record.events:
            event.reasons = [without_detail(r) for r in event.reasons]
        kept = [Reason.from_dict(without_detail(r)) for r in record.reasons]
        transition(session, record, Status.ERASED, [*kept, Reason(Code.ERASED, why, Disposition.DECISION)], actor=actor, now=now)


def still_live(session: Session, entry: Entry) -> bool:
    """Does anything the entry names still hold personal data?"""
    records = session.scalar(select(KycRecord.id).where(KycRecord.id.in_(entry.records), KycRecord.erased_at.is_(None)).limit(1))
    cleared = entry.cleared.get(CreditDecision.__tablename__, [])
    offers = entry.cleared.get(LoanOffer.__tablename__, [])
    return bool(records or holders_named(session, entry) or decisions_named(session, cleared) or offers_named(session, offers))


def still_there(settings: Settings, entry: Entry) -> bool:
    """After an erasure's rollback, in a fresh transaction: is what it names all there still?"""
    with session_scope(settings) as session:
        return still_live(session, entry)


def repair_log(session: Session, settings: Settings, wallet: str) -> None:
    """An erasure found nothing left to erase: if the log lacks the wallet's erased records (an
    append lost before entries were written ahead of the commit), log them now as committed."""
    log = read_log(settings)
    entries = [e for e in (log.entries if log else []) if e.wallet == wallet and e.standing]
    logged = {r for e in entries for r in e.records}
    latest_legacy = max((e.erased_at for e in entries if not e.names_rows), default=None)
    missing = [r for r in session.scalars(select(KycRecord).where(KycRecord.wallet == wallet, KycRecord.erased_at.is_not(None)))
               if r.id not in logged and not (latest_legacy and r.submitted_at <= latest_legacy)]  # fmt: skip
    if missing:
        at = max(r.erased_at for r in missing)
        log_committed(settings, Entry(wallet=wallet, erased_at=at, records=[r.id for r in missing]))


def settle_erasures(session: Session, settings: Settings) -> int:
    """Mark committed the entries without an outcome whose erasure the database shows done."""
    log = read_log(settings)
    settled = 0
    for entry in log.entries if log else []:
        if entry.outcome is None and not still_live(session, entry):
            log_committed(settings, entry)
            settled += 1
    return settled
