"""End-to-end traces for auditors: a loan, a transaction or an address, with the evidence.

A loan's trace puts side by side what each record says and checks that they agree: the chain's
events for the loan (from the index, each with its block and transaction) against the same logs
fetched again from the node, the index's loan row against LoanBook's stored loan and the terms of
its `LoanCreated` (their EIP-712 hash recomputed), the signed terms' hash against the offer the
platform made, the credit decision behind it (re-scored with the same
model version), the agreement document against its on-chain Merkle anchor and its figures against
the on-chain terms, the borrower's KYC
attestation, the outbox intent that sent `createLoan`, the audit-log entries on the way, and, for
the fundings the platform's keeper made for investors, the mandates they signed. The decision, the offer and the
agreement are looked up by the hashes the chain holds, not the index's copy of them. No personal
data appears: wallets, hashes, amounts and statuses only.

A transaction's trace checks that the node has its receipt and that the index holds its logs as
they are; an address's trace is its ledger of money in and out (backend/audit/ledger.py), its
notes and its attestation, held against its logs, `balanceOf` and KYCRegistry (address_chain.py)."""

from __future__ import annotations

import re
from datetime import UTC, datetime
from types import SimpleNamespace

from sqlalchemy import select
from sqlalchemy.orm import Session

from backend.anchoring.documents import by_hash, document_hash
from backend.anchoring.verification import verify_cid
from backend.audit import ledger as money
from backend.audit import log
from backend.audit.address_chain import address_checks
from backend.audit.integrity import parse_recorded_at
from backend.audit.log import recompute
from backend.audit.models import AuditEntry
from backend.audit.schemas import (
    AddressTracePublic,
    CheckPublic,
    EventPublic,
    LedgerEntryPublic,
    LoanTracePublic,
    MandateEvidencePublic,
    ReconciliationPublic,
    TxTracePublic,
)
from backend.chain import eip712
from backend.chain import mandates as fm
from backend.chain import repayment_mandates as rm
from backend.chain.deploy import deployed_addresses
from backend.chain.index_check import event_differences, receipt_events
from backend.chain.index_lag import index_lag
from backend.chain.indexer import CHECKPOINT
from backend.chain.kyc_reader import borrower_attestation_at
from backend.chain.loan_book import deadline_clock
from backend.chain.loan_check import ChainLoan, loan_before, loan_on_chain, row_differences, token_balances
from backend.chain.models import ChainEvent, IndexerCheckpoint, Intent, IntentStatus
from backend.chain.outbox import get_intent
from backend.chain.projection_models import (
    AttestationRow,
    EventSubjectRow,
    LoanRow,
    NoteBalanceRow,
)
from backend.config import Settings
from backend.content.store import get_content_store
from backend.errors import ChainUnavailable, ContentError, NotFound, ValidationFailed
from backend.identity.roles import checksum
from backend.lending.agreement import differences_from_chain
from backend.lending.models import FundingMandateRow, LoanOffer, RepaymentMandateRow
from backend.scoring.models import CreditDecision
from backend.scoring.service import loan_differences, prove_decision
from backend.servicing.channels import deliveries_of
from backend.servicing.collections import actions_of, case_log_altered
from backend.servicing.models import ServicingNotice
from backend.servicing.notices import audit_entry_of, audited
from backend.servicing.plans import plans_altered, plans_of
from backend.servicing.service import NOTES_READ, borrower_notices


def _event(ev: ChainEvent) -> EventPublic:
    return EventPublic(block_number=ev.block_number, block_hash=ev.block_hash, tx_hash=ev.tx_hash,
                       log_index=ev.log_index, block_timestamp=ev.block_timestamp, contract=ev.contract,
                       event=ev.event, args=ev.args)  # fmt: skip


def _loan_events(db: Session, loan_id: int) -> list[ChainEvent]:
    about = select(EventSubjectRow.event_id).where(EventSubjectRow.loan_id == loan_id)
    return list(db.scalars(select(ChainEvent).where(ChainEvent.id.in_(about))
                           .order_by(ChainEvent.block_number, ChainEvent.log_index)))  # fmt: skip


def _indexed_through(db: Session) -> int:
    cp = db.get(IndexerCheckpoint, CHECKPOINT)
    return cp.block_number if cp else -1


def _listed(found: list, limit: int = 20) -> str:
    """The differences, one after the other (the first `limit` of them, and how many more)."""
    shown = "; ".join(str(f) for f in found[:limit])
    return shown + (f"; and {len(found) - limit} more" if len(found) > limit else "")


def _chain_checks(db: Session, settings: Settings, loan_id: int, loan: LoanRow | None, rows: list[ChainEvent],
                  checks: list[CheckPublic]) -> ChainLoan | None:  # fmt: skip
    """Re-read the loan from the node at the chain's confirmed head, not at the block the index
    names (an index taken back and kept stopped agrees with the chain up to there), and hold the
    index against it: its row, its terms' hash and every event filed under it, as of the index's
    block; what the chain holds beyond it is named under `index_current`. None (and a failing
    check) when the node cannot be read. Without an index row the chain alone says whether the
    loan exists: a deleted row must not make a real loan read as unknown."""
    indexed = _indexed_through(db)
    try:
        lag = index_lag(settings, indexed)
        chain = loan_on_chain(settings, loan_id, max([lag.confirmed, indexed] + [r.block_number for r in rows]))
        # The row is the index's state at its own block; compare it with the chain's at that block.
        then = loan_before(settings, chain, indexed) if chain else None
    except ChainUnavailable as exc:
        if loan is None:
            raise ChainUnavailable(f"loan {loan_id} is not in the chain index, and the chain could not be read to ask "
                                   f"LoanBook: {exc.message}", loan_id=loan_id) from exc  # fmt: skip
        checks.append(CheckPublic(name="index_matches_chain", ok=False,
                                  detail=f"the chain could not be read, so the index is unchecked: {exc.message}"))  # fmt: skip
        return None
    if chain is None:
        if loan is None:
            raise NotFound(f"no loan {loan_id} on chain {settings.chain_id}: LoanBook has none (no LoanCreated for it), "
                           "nor has the chain index", loan_id=loan_id)  # fmt: skip
        checks.append(CheckPublic(name="index_matches_chain", ok=False, detail=(
            f"LoanBook has no loan {loan_id} (no LoanCreated for it on chain): the index's row is not the chain's")))  # fmt: skip
        checks.append(CheckPublic(name="events_match_chain", ok=False,
                                  detail=_listed(event_differences(rows, []))))  # fmt: skip
        return None
    differences = event_differences(rows, chain.events)
    pending = [d for d in differences if d.kind == "missing" and d.block_number > indexed]
    found = [d for d in differences if d not in pending]
    checks.append(CheckPublic(
        name="index_current", ok=lag.current,
        detail=lag.describe() + (f"; the chain has {len(pending)} events of the loan the index lacks yet: "
                                 f"{_listed(pending)}" if pending else ""),
    ))  # fmt: skip
    checks.append(_row_check(loan_id, loan, then, chain, indexed))
    problems = chain.terms_problems()
    checks.append(CheckPublic(
        name="terms_hash_recomputed", ok=not problems,
        detail=_listed(problems) if problems else f"the LoanCreated terms hash (EIP-712, recomputed here and by "
        f"LoanBook.hashLoanTerms) to the termsHash LoanBook stores, {chain.stored['termsHash']}",
    ))  # fmt: skip
    checks.append(CheckPublic(
        name="events_match_chain", ok=not found,
        detail=f"the index's events differ from the node's logs for the loan: {_listed(found)}" if found
        else f"{len(rows)} indexed events, each the node's log (transaction, log index, arguments) through block "
             f"{max(indexed, max((r.block_number for r in rows), default=indexed))}",
    ))  # fmt: skip
    return chain


def _row_check(loan_id: int, loan: LoanRow | None, then: ChainLoan | None, chain: ChainLoan, indexed: int) -> CheckPublic:
    """`index_matches_chain`: the index's loan row against LoanBook at the index's own block."""
    if loan is None and then is None:  # created past the index's block: `index_current` judges the wait
        return CheckPublic(name="index_matches_chain", ok=True, detail=(
            f"not indexed yet: LoanBook created loan {loan_id} at block {chain.created.block_number}, after the "
            f"index's block {indexed}"))  # fmt: skip
    if loan is None:
        return CheckPublic(name="index_matches_chain", ok=False, detail=(
            f"the index has no row for loan {loan_id}; LoanBook has it (LoanCreated at block "
            f"{chain.created.block_number}, tx {chain.created.tx_hash}, within the index's block {indexed})"))  # fmt: skip
    differ = row_differences(loan, then) if then else [f"LoanBook had no loan {loan_id} at block {indexed}, "
                                                        "the index's block"]  # fmt: skip
    return CheckPublic(
        name="index_matches_chain", ok=not differ,
        detail=f"the index's loan row differs from LoanBook.loan({loan_id}) and its LoanCreated at block "
               f"{then.block if then else indexed}, the index's block: {_listed(differ)}" if differ
        else f"the index's loan row is LoanBook.loan({loan_id}) and its LoanCreated terms at block {then.block}",
    )  # fmt: skip


def _agreement_terms(settings: Settings, chain: ChainLoan, cid: str | None) -> CheckPublic:
    """The agreement document's figures against the on-chain terms (its hash only proves the
    borrower signed over these bytes)."""
    agreement_hash = "0x" + chain.terms.agreement_hash.hex()
    try:
        data = get_content_store(settings).get(cid) if cid else None
    except ContentError as exc:
        data, why = None, exc.message
    else:
        why = "the agreement document is not held here"
    if data is not None and document_hash(data) != agreement_hash:
        data, why = None, "the stored bytes are not the agreement the terms name (see agreement_anchored)"
    if data is None:
        return CheckPublic(name="agreement_matches_terms", ok=False, detail=why)
    t = chain.terms
    differ = differences_from_chain(
        data, borrower=t.borrower, chain_id=chain.domain.chain_id, loan_book=chain.domain.address,
        asset=chain.domain.asset, principal=t.principal, interest_apr_bps=t.apr_bps, installments=t.installments,
        installment_period=t.installment_period, installment_amount=int(chain.stored["installmentAmount"]),
        origination_fee_bps=t.origination_fee_bps, funding_deadline=t.funding_deadline,
        decision_hash="0x" + t.decision_hash.hex(),
    )  # fmt: skip
    return CheckPublic(
        name="agreement_matches_terms", ok=not differ,
        detail=f"the agreement document says otherwise than the on-chain terms: {_listed(differ)}" if differ
        else "the agreement's parties, ledger, terms, cost of credit and decision are the on-chain terms'",
    )  # fmt: skip


def _attestation_checks(db: Session, settings: Settings, chain: ChainLoan | None, borrower: str) -> list[CheckPublic]:
    """`borrower_attested`: KYCRegistry's attestation as LoanBook found it when it created the loan,
    read at the LoanCreated block (at the confirmed head, said so, from a node that keeps no state
    that old): at least LoanBook's borrower level then, not revoked (revoking deletes it: level 0),
    expiring after the creation block's time. `attestation_matches_chain`: the index's row against
    the registry at the index's block, apart, since the index is not what LoanBook checked."""
    if chain is None:
        return [CheckPublic(name="borrower_attested", ok=False,
                            detail="the chain could not be read, so KYCRegistry is unasked (see index_matches_chain)")]  # fmt: skip
    created, note = chain.created, ""
    try:
        then, required = borrower_attestation_at(settings, borrower, created.block_number)
    except ChainUnavailable as old:
        try:
            then, required = borrower_attestation_at(settings, borrower, chain.block)
        except ChainUnavailable as exc:
            return [CheckPublic(name="borrower_attested", ok=False, detail=f"KYCRegistry could not be read: {exc.message}")]
        note = (f" (read at block {chain.block}, the confirmed head: the node keeps no state of block "
                f"{created.block_number}, {old.message})")  # fmt: skip
    problems = []
    if then.level == 0:
        problems.append("KYCRegistry holds no attestation of the borrower (never given, or revoked)")
    elif then.level < required:
        problems.append(f"level {then.level} is below LoanBook's borrower level {required}")
    if then.level and then.expires_at <= created.block_timestamp:
        problems.append(f"it expired at {then.expires_at}, not after the loan's creation at {created.block_timestamp}")
    said = (f"KYCRegistry at block {chain.block if note else created.block_number}: level {then.level} until "
            f"{then.expires_at}, commitment {then.commitment}; LoanBook's borrower level {required}, loan created at "
            f"{created.block_timestamp}{note}")  # fmt: skip
    checks = [CheckPublic(name="borrower_attested", ok=not problems,
                          detail=f"{_listed(problems)}: {said}" if problems else said)]  # fmt: skip
    indexed = _indexed_through(db)
    row = db.get(AttestationRow, borrower)
    try:
        now, _ = borrower_attestation_at(settings, borrower, indexed) if indexed >= 0 else (None, 0)
    except ChainUnavailable as exc:
        return checks + [CheckPublic(name="attestation_matches_chain", ok=False,
                                     detail=f"KYCRegistry could not be read at the index's block {indexed}: {exc.message}")]  # fmt: skip
    index = (0, None, None) if row is None or row.revoked else (row.level, row.expires_at, row.commitment.lower())
    chain_says = (0, None, None) if now is None or now.level == 0 else (now.level, now.expires_at, now.commitment)
    differ = [f"{name}: index {a!r}, chain {b!r}" for name, a, b in zip(("level", "expires_at", "commitment"), index,
                                                                         chain_says) if a != b]  # fmt: skip
    checks.append(CheckPublic(
        name="attestation_matches_chain", ok=not differ,
        detail=f"the index's attestation of the borrower differs from KYCRegistry at block {indexed}, the index's "
               f"block: {_listed(differ)}" if differ
        else f"the index's attestation of the borrower is KYCRegistry's at block {indexed}, the index's block",
    ))  # fmt: skip
    return checks


def _default_noticed(db: Session, loan_id: int, defaulted_at: int | None) -> CheckPublic:
    """Before a loan is declared in default its borrower must have been told it could be: by a
    notice whose audit entry recomputes to it (a row alone could be written in later, with any
    date) and was recorded before the LoanDefaulted block's time."""
    told = list(db.scalars(select(ServicingNotice).where(ServicingNotice.loan_id == loan_id, ServicingNotice.kind == "default",
                                                         ServicingNotice.recipient == ServicingNotice.borrower)
                           .order_by(ServicingNotice.id)))  # fmt: skip
    if not told:
        return CheckPublic(name="default_noticed", ok=False, detail="no default notice to the borrower is recorded here")
    why = []
    for notice in told:
        entry = audit_entry_of(db, notice)
        if entry is None and not audited(db, notice):
            given = notice.created_at.replace(tzinfo=notice.created_at.tzinfo or UTC)
            if defaulted_at is None or given.timestamp() < defaulted_at:
                return CheckPublic(name="default_noticed", ok=True, detail=(
                    f"the borrower was told on {given:%Y-%m-%d} that installment {notice.installment} left the loan open "
                    "to default, as the platform's own record says: the notice was given before notices were "
                    "audit-logged (migration 0038), so no audit entry proves its date"))  # fmt: skip
        if entry is None:
            why.append(f"the default notice of installment {notice.installment} dated {notice.created_at:%Y-%m-%d} is "
                       "not in the audit log: no entry recomputes to it (written in or edited since it was given)")
            continue
        recorded = parse_recorded_at(entry.recorded_at)
        if recorded is None or recompute(entry) != entry.entry_hash:  # its time is only as good as its hash
            why.append(f"the audit entry {entry.seq} of the default notice of installment {notice.installment} does not "
                       "recompute to its own hash: edited since it was appended (`loanchain audit verify` names it)")
            continue
        if defaulted_at is not None and recorded.timestamp() >= defaulted_at:
            why.append(f"the default notice of installment {notice.installment} was recorded (audit entry {entry.seq}, "
                       f"{entry.recorded_at}) after the default, declared at "
                       f"{datetime.fromtimestamp(defaulted_at, UTC):%Y-%m-%dT%H:%M:%SZ}")  # fmt: skip
            continue
        return CheckPublic(name="default_noticed", ok=True, detail=(
            f"the borrower was told on {recorded:%Y-%m-%d} that installment {notice.installment} left the loan open to "
            f"default (audit entry {entry.seq}, recorded before the LoanDefaulted block){_delivered(db, notice)}"))  # fmt: skip
    return CheckPublic(name="default_noticed", ok=False, detail=_listed(why))


def _delivered(db: Session, notice: ServicingNotice) -> str:
    """How the notice left beyond the app, as its delivery entries prove (`channels.deliveries_of`)."""
    said = [f"{'e-mail' if channel == 'email' else 'text message'} on {sent:%Y-%m-%d}"
            + (f" (audit entry {seq})" if seq is not None else ", by the notice's row only: no audit entry proves it")
            for channel, sent, seq in deliveries_of(db, notice)]  # fmt: skip
    return "; sent by " + " and ".join(said) if said else "; in the app only: no e-mail or text message was sent"


def _audit_entries(db: Session, subjects: list[str]) -> list[dict]:
    rows = db.scalars(select(AuditEntry).where(AuditEntry.subject.in_(subjects)).order_by(AuditEntry.seq))
    return [{"seq": e.seq, "action": e.action, "subject": e.subject, "actor": e.actor, "recorded_at": e.recorded_at,
             "entry_hash": e.entry_hash} for e in rows]  # fmt: skip


def _terms_match_decision(db: Session, chain: ChainLoan | None, loan: LoanRow | None, decision_hash: str) -> CheckPublic:
    """The loan's terms as the chain holds them (the index's copy when the chain cannot be read)
    against what the decision fixed: a loan carrying a decision's hash is priced by it only if it
    lends what was decided, to whom, at its price, over its term."""
    terms = chain.as_row() if chain else {k: getattr(loan, k, None) for k in (
        "borrower", "terms_hash", "principal", "apr_bps", "installments", "origination_fee_bps")}  # fmt: skip
    rows = db.scalars(select(CreditDecision).where(CreditDecision.decision_hash == decision_hash,
                                                   CreditDecision.erased_at.is_(None))
                      .order_by(CreditDecision.created_at)).all()  # fmt: skip
    differences = loan_differences(db, list(rows), SimpleNamespace(**terms))
    return CheckPublic(name="terms_match_decision", ok=not differences,
                       detail=_listed(differences) if differences else "the loan lends what the decision decided, to "
                       "its applicant, at its price and over its term")  # fmt: skip


def trace_loan(db: Session, settings: Settings, loan_id: int, with_notes: bool = True,
               reader: str = "cli") -> LoanTracePublic:  # fmt: skip
    """Everything about one loan, held against the chain; its case-log notes withheld (marked) unless
    `with_notes`, and opened, one audit entry names `reader` (notes tell of health and jobs: who read
    whose is recorded, as the collections queue records it)."""
    loan = db.get(LoanRow, loan_id)
    rows = _loan_events(db, loan_id)
    events = [_event(e) for e in rows]
    checks: list[CheckPublic] = []
    chain = _chain_checks(db, settings, loan_id, loan, rows, checks)
    # What the chain says wherever it could be read; the index's copy otherwise (and a failed check).
    facts = chain.as_row() if chain else {k: getattr(loan, k) for k in ("status", "borrower", "terms_hash",
                                                                         "decision_hash", "agreement_hash")}  # fmt: skip
    created_in = chain.created.tx_hash if chain else next((e.tx_hash for e in events if e.event == "LoanCreated"), None)
    offer = db.scalar(select(LoanOffer).where(LoanOffer.terms_hash == facts["terms_hash"]))
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
        decision = prove_decision(db, facts["decision_hash"])
        checks.append(CheckPublic(name="decision_reproduced", ok=decision.hash_intact and decision.reproduced is True,
                                  detail=f"model {decision.decision.model_version}: {decision.decision.decision}"))  # fmt: skip
        checks.append(_terms_match_decision(db, chain, loan, facts["decision_hash"]))
    except (NotFound, ValidationFailed):
        checks.append(CheckPublic(name="decision_reproduced", ok=False, detail="no credit decision with this hash here"))
    document = by_hash(db, facts["agreement_hash"])
    agreement = verify_cid(db, settings, document.cid) if document and document.cid else None
    checks.append(CheckPublic(
        name="agreement_anchored", ok=agreement is not None and agreement.status == "verified",
        detail=agreement.reason if agreement else "the agreement document is not held here",
    ))  # fmt: skip
    if chain is not None:
        checks.append(_agreement_terms(settings, chain, document.cid if document else None))
    checks += _attestation_checks(db, settings, chain, facts["borrower"])
    entries, altered = case_log_altered(db, loan_id)
    checks.append(CheckPublic(
        name="case_log_matches_audit_log", ok=not altered,
        detail=f"case-log entries {altered} differ from what the audit log recorded" if altered
        else f"{entries} case-log entries, each as the audit log recorded it" if entries else "no case-log entries",
    ))  # fmt: skip
    planned, plans_off = plans_altered(db, loan_id)
    checks.append(CheckPublic(
        name="plans_match_audit_log", ok=not plans_off,
        detail=f"hardship plans {plans_off} differ from what the audit log recorded (terms, proposer, decision or "
        "who decided)" if plans_off else f"{planned} hardship plans, each as proposed and decided in the audit log"
        if planned else "no hardship plans",
    ))  # fmt: skip
    mandates = _mandates(db, settings, events, checks)
    notices = borrower_notices(db, loan_id)
    if facts["status"] == "defaulted":
        defaulted = next((e for e in (chain.events if chain else rows) if e.event == "LoanDefaulted"), None)
        checks.append(_default_noticed(db, loan_id, defaulted.block_timestamp if defaulted else None))
    subjects = [f"loan:{loan_id}"] + ([f"offer:{offer.id}", f"decision:{offer.decision_id}"] if offer else [])
    case_log = actions_of(db, settings, [loan_id], lambda: deadline_clock(settings), with_notes).get(loan_id, []) if entries else []
    if any(action.note is not None for action in case_log):
        # Subject apart from `loan:<id>`, as the queue's: the case-log check counts that subject's entries.
        log.record(db, actor=reader, action=NOTES_READ, subject="collections:trace", payload={"loan_ids": [loan_id]})
    return LoanTracePublic(
        loan_id=loan_id, status=facts["status"], borrower=facts["borrower"], terms_hash=facts["terms_hash"],
        decision_hash=facts["decision_hash"], agreement_hash=facts["agreement_hash"],
        read_at_block=chain.block if chain else None, offer_id=offer.id if offer else None,
        create_intent=intent.key if intent else None, events=events, decision=decision,
        agreement=agreement, audit_entries=_audit_entries(db, subjects), checks=checks,
        case_log=case_log, plans=plans_of(db, settings, loan_id) if planned else [],
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


TX_HASH = re.compile(r"0x[0-9a-fA-F]{64}")


def tx_hash_of(text: str) -> str:
    """A transaction hash as both tables store it (lower-case hex: their indexes serve equality), or
    ValidationFailed (422): anything else never reaches the database, nor is echoed back."""
    if not TX_HASH.fullmatch(text):
        raise ValidationFailed("tx_hash: not a transaction hash (0x and 64 hex digits)", field="tx_hash")
    return text.lower()


def trace_tx(db: Session, settings: Settings, tx_hash: str) -> TxTracePublic:
    tx_hash = tx_hash_of(tx_hash)
    rows = list(db.scalars(select(ChainEvent).where(ChainEvent.tx_hash == tx_hash).order_by(ChainEvent.log_index)))
    intent = db.scalar(select(Intent).where(Intent.tx_hash == tx_hash))
    try:
        receipt = receipt_events(settings, tx_hash)
    except ChainUnavailable as exc:
        if not rows and intent is None:  # nothing here knows it and the node cannot be asked: no verdict
            raise ChainUnavailable(f"transaction {tx_hash} is neither indexed nor sent by this platform, and the chain "
                                   f"could not be read to ask for it: {exc.message}", tx_hash=tx_hash) from exc  # fmt: skip
        receipt = exc
    if not rows and intent is None and receipt[0] is None:
        # Only the node's word makes a transaction unknown: deleted index rows must not.
        raise NotFound(f"no such transaction on chain {settings.chain_id}: {tx_hash} (nor is it indexed or sent by "
                       "this platform)", tx_hash=tx_hash)  # fmt: skip
    checks, block = _receipt_checks(db, settings, tx_hash, rows, intent, receipt)
    return TxTracePublic(tx_hash=tx_hash, events=[_event(e) for e in rows], intent_key=intent.key if intent else None,
                         intent_status=intent.status if intent else None,
                         function=f"{intent.contract}.{intent.function}" if intent else None, block_number=block,
                         checks=checks, consistent=all(c.ok for c in checks))  # fmt: skip


def _receipt_checks(db: Session, settings: Settings, tx_hash: str, rows: list[ChainEvent], intent: Intent | None,
                    read: tuple[dict | None, list[ChainEvent]] | ChainUnavailable) -> tuple[list[CheckPublic], int | None]:  # fmt: skip
    """The node's receipt exists (when anything says the transaction was mined) and the index
    holds its logs as they are (`read`: what `receipt_events` gave, or why the node could not say)."""
    if isinstance(read, ChainUnavailable):
        return [CheckPublic(name="receipt_on_chain", ok=False, detail=f"the chain could not be read: {read.message}")], None
    receipt, logs = read
    if receipt is None:
        if rows:
            detail = f"the node has no such mined transaction, yet the index holds {len(rows)} events of it"
        elif intent.status in (IntentStatus.MINED, IntentStatus.CONFIRMED):
            detail = f"the node has no such mined transaction, yet the outbox marks it {intent.status}"
        else:
            return [CheckPublic(name="receipt_on_chain", ok=True, detail=f"not mined (outbox: {intent.status})")], None
        return [CheckPublic(name="receipt_on_chain", ok=False, detail=detail)], None
    block = receipt["blockNumber"]
    checks = [CheckPublic(name="receipt_on_chain", ok=True, detail=f"mined in block {block}, "
                          + ("succeeded" if receipt["status"] == 1 else "reverted (no logs)"))]  # fmt: skip
    indexed = _indexed_through(db)
    if block > indexed and not rows:
        try:
            lag = index_lag(settings, indexed)
        except ChainUnavailable as exc:
            return checks + [CheckPublic(name="events_match_chain", ok=False,
                                         detail=f"the chain's head could not be read: {exc.message}")], block  # fmt: skip
        checks.append(CheckPublic(name="events_match_chain", ok=lag.current,
                                  detail=f"not indexed yet: {lag.describe()}"))  # fmt: skip
        return checks, block
    found = event_differences(rows, logs)
    checks.append(CheckPublic(
        name="events_match_chain", ok=not found,
        detail=(f"the index lacks all {len(logs)} logs of this mined transaction: " if not rows
                else "the index differs from the receipt's logs: ") + _listed(found) if found
        else f"{len(rows)} indexed events, each a log of the receipt as it is" if rows
        else "the receipt has no log of a contract this platform follows: the index rightly holds none",
    ))  # fmt: skip
    return checks, block


def trace_address(db: Session, settings: Settings, address: str) -> AddressTracePublic:
    """An address's ledger, loans, notes, attestation and transactions from the index, each held
    against the node (backend/audit/address_chain.py)."""
    wallet = checksum(address, field="address")
    attestation = db.get(AttestationRow, wallet)
    platform = {name: checksum(a) for name, a in deployed_addresses(settings).items()}
    through = _indexed_through(db)
    entries = money.ledger(money.movements(money.events_touching(db, wallet, platform, through), platform), wallet)
    totals: dict[str, int] = {}
    for e in entries:
        totals[e.kind] = totals.get(e.kind, 0) + e.movement.amount
    holder = next((n for n, a in platform.items() if a == wallet and n in money.HOLDERS), None)
    filed = select(EventSubjectRow.event_id).where(EventSubjectRow.address == wallet)
    named = list(db.scalars(select(ChainEvent).where(ChainEvent.id.in_(filed))
                            .order_by(ChainEvent.block_number, ChainEvent.log_index)))  # fmt: skip
    reconciliation = _reconcile(settings, holder, wallet, money.holdings(entries), through) if holder else None
    checks = address_checks(db, settings, wallet, platform, holder, named, entries, through)
    return AddressTracePublic(
        address=wallet,
        attestation_level=attestation.level if attestation and not attestation.revoked else 0,
        loans_as_borrower=list(db.scalars(select(LoanRow.loan_id).where(LoanRow.borrower == wallet).order_by(LoanRow.loan_id))),
        notes={loan_id: balance for loan_id, balance in
               db.execute(select(NoteBalanceRow.loan_id, NoteBalanceRow.balance).where(NoteBalanceRow.holder == wallet))},
        funded=totals.get("funded", 0) if holder is None else 0,
        repaid=(totals.get("repaid", 0) + totals.get("recovered", 0)) if holder is None else 0,
        ledger=[_entry(e) for e in entries], totals=totals,
        total_in=sum(e.movement.amount for e in entries if e.direction == "in"),
        total_out=sum(e.movement.amount for e in entries if e.direction == "out"),
        reconciliation=reconciliation,
        transactions=sorted({e.tx_hash for e in named} | {e.movement.event.tx_hash for e in entries}),
        checks=checks,
        consistent=all(c.ok for c in checks) and (reconciliation is None or reconciliation.ok),
    )  # fmt: skip


def _entry(e: money.Entry) -> LedgerEntryPublic:
    m, ev = e.movement, e.movement.event
    return LedgerEntryPublic(kind=e.kind, direction=e.direction, amount=m.amount, counterparty=e.counterparty,
                             loan_id=m.loan_id, via=m.via, event=f"{ev.contract}.{ev.event}", block_number=ev.block_number,
                             tx_hash=ev.tx_hash, log_index=ev.log_index, block_timestamp=ev.block_timestamp)  # fmt: skip


def _reconcile(settings: Settings, name: str, wallet: str, expected: int, block: int) -> ReconciliationPublic:
    """A platform contract's ledger against what it holds of the asset at the index's block."""
    try:
        balance = token_balances(settings, [wallet], block)[wallet]
    except ChainUnavailable as exc:
        return ReconciliationPublic(contract=name, block_number=block, expected=expected, balance=None, difference=None,
                                    ok=False, detail=f"the chain could not be read: {exc.message}")  # fmt: skip
    gap = balance - expected
    return ReconciliationPublic(
        contract=name, block_number=block, expected=expected, balance=balance, difference=gap, ok=gap == 0,
        detail=f"{name} holds exactly what its events say it must at block {block}" if gap == 0
        else f"{name} holds {balance:,} at block {block}, its events account for {expected:,}: {gap:+,} moved "
             "without an event of the platform (a plain transfer, or a flow this ledger does not know)",
    )  # fmt: skip
