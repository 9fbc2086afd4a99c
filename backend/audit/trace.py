"""End-to-end traces for auditors: a loan, a transaction or an address, with the evidence.

A loan's trace puts side by side what each record says and checks that they agree: the chain's
events for the loan (from the index, each with its block and transaction), the signed terms'
hash against the offer the platform made, the credit decision behind it (re-scored with the same
model version), the agreement document against its on-chain Merkle anchor, the borrower's KYC
attestation, the outbox intent that sent `createLoan`, the audit-log entries on the way, and, for
the fundings the platform's keeper made for investors, the mandates they signed. No personal data
appears: wallets, hashes, amounts and statuses only."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

from backend.anchoring.documents import by_hash
from backend.anchoring.verification import verify_cid
from backend.audit.models import AuditEntry
from backend.audit.schemas import (
    AddressTracePublic,
    CheckPublic,
    EventPublic,
    LoanTracePublic,
    MandateEvidencePublic,
    TxTracePublic,
)
from backend.chain import eip712
from backend.chain import mandates as fm
from backend.chain import repayment_mandates as rm
from backend.chain.loan_book import deadline_clock
from backend.chain.models import ChainEvent, Intent
from backend.chain.outbox import get_intent
from backend.chain.projection_models import (
    AttestationRow,
    EventSubjectRow,
    FundingRow,
    LoanRow,
    NoteBalanceRow,
    RepaymentRow,
)
from backend.config import Settings
from backend.errors import NotFound, ValidationFailed
from backend.identity.roles import checksum
from backend.lending.models import FundingMandateRow, LoanOffer, RepaymentMandateRow
from backend.scoring.service import prove_decision
from backend.servicing.collections import actions_of, case_log_altered
from backend.servicing.service import borrower_notices


def _event(ev: ChainEvent) -> EventPublic:
    return EventPublic(block_number=ev.block_number, block_hash=ev.block_hash, tx_hash=ev.tx_hash,
                       log_index=ev.log_index, block_timestamp=ev.block_timestamp, contract=ev.contract,
                       event=ev.event, args=ev.args)  # fmt: skip


def _loan_events(db: Session, loan_id: int) -> list[EventPublic]:
    about = select(EventSubjectRow.event_id).where(EventSubjectRow.loan_id == loan_id)
    events = db.scalars(select(ChainEvent).where(ChainEvent.id.in_(about))
                        .order_by(ChainEvent.block_number, ChainEvent.log_index))  # fmt: skip
    return [_event(ev) for ev in events]


def _audit_entries(db: Session, subjects: list[str]) -> list[dict]:
    rows = db.scalars(select(AuditEntry).where(AuditEntry.subject.in_(subjects)).order_by(AuditEntry.seq))
    return [{"seq": e.seq, "action": e.action, "subject": e.subject, "actor": e.actor, "recorded_at": e.recorded_at,
             "entry_hash": e.entry_hash} for e in rows]  # fmt: skip


def trace_loan(db: Session, settings: Settings, loan_id: int) -> LoanTracePublic:
    loan = db.get(LoanRow, loan_id)
    if loan is None:
        raise NotFound(f"no loan {loan_id} in the chain index", loan_id=loan_id)
    events = _loan_events(db, loan_id)
    created_in = next((e.tx_hash for e in events if e.event == "LoanCreated"), None)
    checks: list[CheckPublic] = []
    offer = db.scalar(select(LoanOffer).where(LoanOffer.terms_hash == loan.terms_hash))
    intent = get_intent(db, offer.intent_key) if offer and offer.intent_key else None
    checks.append(CheckPublic(
        name="terms_match_offer", ok=offer is not None,
        detail=f"offer {offer.id} signed these terms" if offer else "no offer of this platform has these terms",
    ))  # fmt: skip
    if intent is not None:
        checks.append(CheckPublic(name="created_by_platform_tx", ok=intent.tx_hash == created_in,
                                  detail=f"outbox intent {intent.key} sent {intent.tx_hash}; LoanCreated in {created_in}"))  # fmt: skip
    decision = None
    try:
        decision = prove_decision(db, loan.decision_hash)
        checks.append(CheckPublic(name="decision_reproduced", ok=decision.verified,
                                  detail=f"model {decision.decision.model_version}: {decision.decision.decision}"))  # fmt: skip
    except (NotFound, ValidationFailed):
        checks.append(CheckPublic(name="decision_reproduced", ok=False, detail="no credit decision with this hash here"))
    document = by_hash(db, loan.agreement_hash)
    agreement = verify_cid(db, settings, document.cid) if document and document.cid else None
    checks.append(CheckPublic(
        name="agreement_anchored", ok=agreement is not None and agreement.status == "verified",
        detail=agreement.reason if agreement else "the agreement document is not held here",
    ))  # fmt: skip
    attestation = db.get(AttestationRow, loan.borrower)
    checks.append(CheckPublic(
        name="borrower_attested", ok=attestation is not None and not attestation.revoked,
        detail=f"KYC level {attestation.level} until {attestation.expires_at}" if attestation else "no attestation indexed",
    ))  # fmt: skip
    entries, altered = case_log_altered(db, loan_id)
    checks.append(CheckPublic(
        name="case_log_matches_audit_log", ok=not altered,
        detail=f"case-log entries {altered} differ from what the audit log recorded" if altered
        else f"{entries} case-log entries, each as the audit log recorded it" if entries else "no case-log entries",
    ))  # fmt: skip
    mandates = _mandates(db, settings, events, checks)
    notices = borrower_notices(db, loan_id)
    if loan.status == "defaulted":
        # Before a loan is declared in default its borrower must have been told it could be.
        told = next((n for n in notices if n.kind == "default"), None)
        checks.append(CheckPublic(
            name="default_noticed", ok=told is not None,
            detail=f"the borrower was told on {told.created_at:%Y-%m-%d} that installment {told.installment} left the "
                   "loan open to default" if told else "no default notice to the borrower is recorded here",
        ))  # fmt: skip
    subjects = [f"loan:{loan_id}"] + ([f"offer:{offer.id}", f"decision:{offer.decision_id}"] if offer else [])
    return LoanTracePublic(
        loan_id=loan_id, status=loan.status, borrower=loan.borrower, terms_hash=loan.terms_hash,
        decision_hash=loan.decision_hash, agreement_hash=loan.agreement_hash, offer_id=offer.id if offer else None,
        create_intent=intent.key if intent else None, events=events, decision=decision,
        agreement=agreement, audit_entries=_audit_entries(db, subjects), checks=checks,
        case_log=actions_of(db, settings, [loan_id], lambda: deadline_clock(settings)).get(loan_id, []) if entries else [],
        mandates=mandates, notices=notices,
        consistent=all(c.ok for c in checks),
    )  # fmt: skip


def _mandates(db: Session, settings: Settings, events: list[EventPublic], checks: list[CheckPublic]) -> list[MandateEvidencePublic]:
    """The mandates behind the loan's mandated fundings and autopay payments, each checked: held
    here, its stored bounds hashing to the digest the contract used, and signed by its signer."""
    evidence = []
    # check, its event, where the mandate is kept, its struct and document, who signs it (the
    # agent it was signed for is the one its row recorded, on the chain it recorded)
    for name, event, model, struct, document_of, signer_field in (
        ("mandated_fundings_authorized", "MandateUsed", FundingMandateRow, fm.FundingMandate, fm.typed_data, "investor"),
        ("autopay_payments_authorized", "PaidWithMandate", RepaymentMandateRow, rm.RepaymentMandate, rm.typed_data, "payer"),
    ):  # fmt: skip
        hashes = sorted({e.args["mandateHash"] for e in events if e.event == event})
        if not hashes:
            continue
        unproven = []
        for mandate_hash in hashes:
            row = db.get(model, mandate_hash)
            if row is None:
                unproven.append(mandate_hash)
                continue
            mandate = struct(**row.mandate)
            signer = getattr(mandate, signer_field)
            document = document_of(mandate, row.chain_id, row.agent)
            if "0x" + eip712.digest_of(document).hex() != mandate_hash or not eip712.signed(
                    settings, signer, document, bytes.fromhex(row.signature[2:])):  # fmt: skip
                unproven.append(mandate_hash)
            evidence.append(MandateEvidencePublic(mandate_hash=mandate_hash, investor=signer, mandate=row.mandate,
                                                  signature=row.signature))  # fmt: skip
        checks.append(CheckPublic(
            name=name, ok=not unproven,
            detail=f"mandates {unproven} are not held here as their signers signed them" if unproven
            else f"{len(hashes)} mandates, each held here as its signer signed it",
        ))  # fmt: skip
    return evidence


def trace_tx(db: Session, tx_hash: str) -> TxTracePublic:
    tx_hash = tx_hash.lower()  # both tables store hashes as lower-case hex: the indexes serve equality
    events = [_event(e) for e in db.scalars(select(ChainEvent).where(ChainEvent.tx_hash == tx_hash)
                                             .order_by(ChainEvent.log_index))]  # fmt: skip
    intent = db.scalar(select(Intent).where(Intent.tx_hash == tx_hash))
    if not events and intent is None:
        raise NotFound(f"transaction {tx_hash} is neither indexed nor sent by this platform", tx_hash=tx_hash)
    return TxTracePublic(tx_hash=tx_hash, events=events, intent_key=intent.key if intent else None,
                         intent_status=intent.status if intent else None,
                         function=f"{intent.contract}.{intent.function}" if intent else None)  # fmt: skip


def trace_address(db: Session, address: str) -> AddressTracePublic:
    wallet = checksum(address)
    attestation = db.get(AttestationRow, wallet)
    return AddressTracePublic(
        address=wallet,
        attestation_level=attestation.level if attestation and not attestation.revoked else 0,
        loans_as_borrower=list(db.scalars(select(LoanRow.loan_id).where(LoanRow.borrower == wallet).order_by(LoanRow.loan_id))),
        notes={loan_id: balance for loan_id, balance in
               db.execute(select(NoteBalanceRow.loan_id, NoteBalanceRow.balance).where(NoteBalanceRow.holder == wallet))},
        funded=sum(r.amount for r in db.scalars(select(FundingRow).where(FundingRow.investor == wallet, FundingRow.kind == "fund"))),
        repaid=sum(r.amount for r in db.scalars(select(RepaymentRow).where(RepaymentRow.payer == wallet))),
        transactions=sorted(set(db.scalars(select(EventSubjectRow.tx_hash).where(EventSubjectRow.address == wallet)))),
    )  # fmt: skip
