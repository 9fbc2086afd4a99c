"""Public shapes of the audit log (API, CLI --json)."""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from backend.anchoring.schemas import VerificationPublic
from backend.audit.verify import AuditReport
from backend.input_text import Note
from backend.scoring.schemas import DecisionProofPublic
from backend.servicing.schemas import CollectionActionPublic, HardshipPlanPublic, NoticePublic
from backend.units import BaseUnits, MaybeBaseUnits, MaybeUnixSeconds


class AuditEntryPublic(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    seq: int
    prev_hash: str
    entry_hash: str
    actor: str
    action: str
    subject: str
    payload_hash: str
    # A string, not a datetime: entry_hash commits to these very characters (microseconds always
    # written), which an auditor re-hashes, and a tampered row's text need not parse at all.
    recorded_at: str = Field(json_schema_extra={"format": "date-time"},
                             description="ISO 8601 in UTC, as hashed into entry_hash (character for character)")


class IssuePublic(BaseModel):
    kind: str
    seq: int
    detail: str
    review: AlertReviewPublic | None = Field(default=None, description="The review, once a person has made it")


class CheckpointPublic(BaseModel):
    seq: int
    entry_hash: str
    status: str
    detail: str
    review: AlertReviewPublic | None = Field(default=None, description="The review, once a person has made it")
    block_number: int | None = None
    tx_hash: str | None = None
    block_time: datetime | None = Field(default=None, description="When the anchor's block was made")


class AuditReportPublic(BaseModel):
    ok: bool
    entries: int
    head_seq: int | None
    first_issue: IssuePublic | None
    issues: list[IssuePublic]
    checkpoints: list[CheckpointPublic]
    last_verified_anchor_seq: int | None

    @classmethod
    def of(cls, report: AuditReport) -> AuditReportPublic:
        issues = [IssuePublic(kind=i.kind, seq=i.seq, detail=i.detail) for i in report.issues]
        return cls(
            ok=report.ok, entries=report.entries, head_seq=report.head_seq, first_issue=issues[0] if issues else None,
            issues=issues, checkpoints=[CheckpointPublic(**vars(c)) for c in report.checkpoints],
            last_verified_anchor_seq=report.last_verified_anchor_seq,
        )  # fmt: skip


# --- traces (backend/audit/trace.py) ------------------------------------------------------


class EventPublic(BaseModel):
    block_number: int
    block_hash: str
    tx_hash: str
    log_index: int
    block_timestamp: MaybeUnixSeconds
    contract: str
    event: str
    args: dict


class CheckPublic(BaseModel):
    name: str
    ok: bool
    detail: str
    review: AlertReviewPublic | None = Field(default=None, description="The review, once a person has made it")


class MandateEvidencePublic(BaseModel):
    """A signer's authority for what the platform's keeper did with its money: a funding mandate
    (an investor's, checkable against `FundingAgent.hashFundingMandate`) or an autopay mandate (a
    payer's, against `RepaymentAgent.hashRepaymentMandate`), as signed, with the signature."""

    mandate_hash: str
    investor: str = Field(description="Who signed it: the investor (funding) or the payer (autopay)")
    mandate: dict
    signature: str


class LoanTracePublic(BaseModel):
    loan_id: int
    status: str
    borrower: str
    terms_hash: str
    decision_hash: str
    agreement_hash: str
    read_at_block: int | None = Field(default=None, description="The block the loan was re-read from the chain at, "
                                      "and its status, borrower and hashes read from: the chain's confirmed head "
                                      "(latest − confirmations), or the index's block if that is later (None: the "
                                      "chain could not be read)")  # fmt: skip
    offer_id: str | None = Field(description="The platform offer whose signed terms these are")
    create_intent: str | None = Field(description="The outbox intent that sent createLoan")
    events: list[EventPublic] = Field(description="Every LoanBook, NoteMarket and agent event about the loan the index "
                                      "holds, in chain order (`events_match_chain` holds them against the node)")  # fmt: skip
    decision: DecisionProofPublic | None = Field(description="The decision proof, when the decision is recorded here")
    agreement: VerificationPublic | None = Field(description="The agreement document against its on-chain anchor")
    audit_entries: list[dict] = Field(description="Audit-log entries about the loan, its offer and its decision")
    case_log: list[CollectionActionPublic] = Field(description="The collections case log, newest first, notes opened "
                                                   "(None once erased)")  # fmt: skip
    plans: list[HardshipPlanPublic] = Field(default_factory=list, description="Its hardship plans, newest first, each "
                                            "judged by the chain's repayments now (`plans_match_audit_log` holds "
                                            "each against the entries of its proposal and decision)")
    mandates: list[MandateEvidencePublic] = Field(
        default_factory=list, description="The signed mandates under which the platform's keeper funded or repaid the loan"
    )
    notices: list[NoticePublic] = Field(default_factory=list, description="What the borrower was told about the loan "
                                        "and when (reminders, late and default notices), oldest first")  # fmt: skip
    checks: list[CheckPublic]
    consistent: bool = Field(description="Every check passed")


class TxTracePublic(BaseModel):
    tx_hash: str
    events: list[EventPublic] = Field(description="The transaction's events as the index holds them")
    intent_key: str | None = Field(description="The outbox intent, when the platform sent it")
    intent_status: str | None
    function: str | None
    block_number: int | None = Field(default=None, description="Where the node says it was mined (None: not mined)")
    checks: list[CheckPublic] = Field(default_factory=list, description="receipt_on_chain: the node has its receipt; "
                                      "events_match_chain: the indexed events are its logs as they are")  # fmt: skip
    consistent: bool = Field(default=True, description="Every check passed")


class LedgerEntryPublic(BaseModel):
    """One movement of the loan asset into or out of the address, from the event that made it."""

    kind: str = Field(description="funded, refunded, claimed, disbursed (net, to the borrower), origination_fee, "
                      "repaid, recovered (paid on a defaulted loan), reserve_cover, cover_recouped (LoanBook to the "
                      "reserve), reserve_deposit, note_purchase, note_sale")  # fmt: skip
    direction: Literal["in", "out", "withheld"] = Field(description="withheld: kept back from what the address "
                                                        "received (a borrower's origination fee), never in its wallet")  # fmt: skip
    amount: BaseUnits
    counterparty: str = Field(description="Who paid it (in) or was paid (out)")
    loan_id: int | None
    via: str | None = Field(description="The agent contract that carried it out for the address (autopay, funding "
                            "mandates), which is the payer the LoanBook event names")  # fmt: skip
    event: str = Field(description="Contract.Event it is read from")
    block_number: int
    tx_hash: str
    log_index: int
    block_timestamp: MaybeUnixSeconds


class ReconciliationPublic(BaseModel):
    """A platform contract's ledger against its balance of the asset: exact, as every transfer a
    platform contract makes has its event; any difference moved without one (e.g. a plain transfer)."""

    contract: str
    block_number: int = Field(description="The index's block: the ledger holds every event up to it")
    expected: BaseUnits = Field(description="Money in minus money out, by its events")
    balance: MaybeBaseUnits = Field(description="balanceOf at that block (None: the chain could not be read)")
    difference: MaybeBaseUnits = Field(description="balance - expected")
    ok: bool
    detail: str


class AddressTracePublic(BaseModel):
    """An address as the chain index has it, every part held against the node (`checks`)."""

    address: str
    attestation_level: int = Field(description="KYC level the index holds for it (0: none or revoked); "
                                   "`attestation_matches_chain` holds it against KYCRegistry")  # fmt: skip
    loans_as_borrower: list[int]
    notes: dict[int, int] = Field(description="Loan id -> notes held, as the index has them; `notes_match_chain` holds "
                                  "them against LoanBook.balanceOf")  # fmt: skip
    funded: BaseUnits = Field(description="Everything this address put into loans (0 for a platform contract)")
    repaid: BaseUnits = Field(description="Everything this address paid towards loans, by autopay too (0 for a "
                              "platform contract)")  # fmt: skip
    ledger: list[LedgerEntryPublic] = Field(default_factory=list, description="Every movement of the loan asset into "
                                            "or out of the address through the platform's contracts, in chain order, "
                                            "from the index (`events_match_chain` holds its events against the node)")  # fmt: skip
    totals: dict[str, int] = Field(default_factory=dict, description="Ledger kind -> sum")
    total_in: BaseUnits = 0
    total_out: BaseUnits = 0
    reconciliation: ReconciliationPublic | None = Field(default=None, description="For the contracts the asset passes "
                                                        "through (LoanBook, ReserveFund, NoteMarket and the agents)")  # fmt: skip
    transactions: list[str] = Field(description="Transactions whose platform events name this address or move its "
                                    "money")  # fmt: skip
    checks: list[CheckPublic] = Field(default_factory=list, description=(
        "index_current: the index is within LOANCHAIN_INDEX_STALE_AFTER of the chain's confirmed head (the address's "
        "logs it lacks yet named); events_match_chain: the events filed under the address and those behind its ledger "
        "are the node's logs (read by topic: an edited row altered, a dropped one missing, an invented one extra); "
        "projections_match_chain: its rows of chain_fundings, chain_market_trades, chain_note_transfers (the investor "
        "statement's lines) and its loans as borrower are what those logs make; notes_match_chain: each note balance "
        "is LoanBook.balanceOf(address, loanId) and attestation_matches_chain: the attestation is "
        "KYCRegistry.attestationOf(address), both at the index's block"))  # fmt: skip
    consistent: bool = Field(default=True, description="Every check passed (and the reconciliation, for a platform "
                             "contract)")  # fmt: skip


class AlertReviewCreate(BaseModel):
    """A person's conclusion on an alert: nothing wrong (cleared), or taken further (escalated)."""

    model_config = ConfigDict(extra="forbid")

    decision: Literal["cleared", "escalated"]
    note: Note = Field(min_length=3, max_length=1000, description="Why: what was looked at and found")


class AlertReviewPublic(BaseModel):
    decision: str
    note: str | None = Field(default=None, description="What the reviewer looked at and found; None once erased with "
                             "the personal data of the loan's borrower, or withheld")  # fmt: skip
    note_withheld: bool = Field(default=False, description="The note exists but is shown only to a recent sign-in "
                                "(LOANCHAIN_FRESH_SIGN_IN_MAX_AGE): sign in again to read it")  # fmt: skip
    reviewer: str
    reviewed_at: datetime


class AlertPublic(BaseModel):
    """A note movement, loan, role change, pause, reserve payment or credit application that a
    monitoring rule flags for a person to review (backend/audit/monitoring.py)."""

    key: str = Field(description="Names the alert across reads: a hash of its rule, loan and transactions")
    rule: str = Field(description="round_trip, cycle, off_market_price, large_gift, structured_gifts, "
                      "first_payment_default, early_payment_default, related_party_funding, role_change, pause, "
                      "reserve_outflow, promise_chain, answers_changed, collection_wallet or fair_lending")  # fmt: skip
    loan_id: int | None = Field(description="The loan, or the loan id a reserve payment named; None for a role "
                                "change, a pause, structured gifts of several loans, changed answers or a fair-lending flag")  # fmt: skip
    wallets: list[str] = Field(description="The wallets involved: from, to (a trade: seller, buyer; a loan: its "
                               "borrower; a cycle: each in turn; changed answers: the applicant's; a collection "
                               "wallet: it (passed on in pieces: each wallet that got one), the borrower, then the other "
                               "persons' borrowers that passed money to it)")
    tx_hashes: list[str]
    timestamp: MaybeUnixSeconds = Field(description="Block time of the (last) movement")
    amount: int = Field(description="Value at stake, base units: notes moved back (round_trip), the gap to the "
                        "principal outstanding (off_market_price), the principal outstanding moved (large_gift), the "
                        "loan's principal (first_payment_default, early_payment_default), what the related wallet funded "
                        "(related_party_funding), what left the reserve (reserve_outflow), what the chained promise named "
                        "(promise_chain), the notes moved back (cycle), the principal outstanding the gifts stood for "
                        "together (structured_gifts), what the borrower passed on (collection_wallet), 0 (role_change, "
                        "pause, answers_changed, fair_lending: the points are in the detail)")  # fmt: skip
    detail: str
    decision_ids: list[str] = Field(default_factory=list, description="The credit decisions an alert is about, "
                                    "earlier first (answers_changed); empty for the others")
    review: AlertReviewPublic | None = Field(default=None, description="The review, once a person has made it")
