"""API schemas for servicing. Amounts are in the loan token's base units; times in Unix seconds."""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from backend.bounds import AMOUNT_LIMIT
from backend.input_text import Note
from backend.units import BaseUnits, MaybeBaseUnits, MaybeUnixSeconds, UnixSeconds


class ServicingPublic(BaseModel):
    bucket: str = Field(description="current, grace, late_16_30, late_31_120 or defaultable")
    days_past_due: int
    installments_paid: int = Field(description="Number of installments paid")
    due_now: BaseUnits = Field(description="What brings the loan up to date: fees, the oldest unpaid installment and "
                               "any later one whose due date has come")  # fmt: skip
    payoff: BaseUnits
    next_due_date: UnixSeconds
    defaultable_at: UnixSeconds
    as_of: UnixSeconds = Field(description="Chain time of the last servicing pass")


class BucketPublic(BaseModel):
    bucket: str
    loans: int
    principal_outstanding: BaseUnits
    due_now: BaseUnits


class AgingPublic(BaseModel):
    as_of: MaybeUnixSeconds
    buckets: list[BucketPublic]
    delinquent_share: float | None = Field(description="Share of outstanding principal 16+ days past due")


class NoticePublic(BaseModel):
    loan_id: int
    installment: int
    kind: str = Field(description="To a borrower: due_soon, overdue, late, collections, default, defaulted, not_funded, not_disbursed, "
                      "autopay_short, autopay_ending, released, hardship_plan or plan_broken (installment: the plan's id); "
                      "to an investor: refund_due, loan_late, loan_defaulted, loan_repaid, loan_match, mandate_funded, "
                      "mandate_ending (loan 0: about no one loan), bid_at_risk, listing_sold or bid_filled")
    due_date: UnixSeconds
    amount: BaseUnits
    message: str
    created_at: datetime
    emailed_at: datetime | None = Field(description="When it was e-mailed too (None: in-app only so far)")


class CollectionActionCreate(BaseModel):
    """One entry in a late loan's case log. A promise to pay names the amount and within how many
    days; nothing else carries them."""

    model_config = ConfigDict(extra="forbid")

    kind: Literal["contacted", "no_answer", "promise_to_pay", "dispute", "hardship", "note"]
    note: Note = Field(min_length=3, max_length=1000, description="What was done or said; sealed at rest and shredded "
                      "when the borrower's personal data is erased")  # fmt: skip
    promised_amount: MaybeBaseUnits = Field(default=None, strict=True, gt=0, lt=AMOUNT_LIMIT, description="promise_to_pay: what the borrower promises")
    promised_in_days: int | None = Field(default=None, strict=True, ge=1, le=60, description="promise_to_pay: by "
                                         "when, in days")  # fmt: skip

    @model_validator(mode="after")
    def _promise_fields(self) -> CollectionActionCreate:
        promised = (self.promised_amount, self.promised_in_days)
        if self.kind == "promise_to_pay" and None in promised:
            raise ValueError("promised_amount and promised_in_days: a promise to pay names both")
        if self.kind != "promise_to_pay" and promised != (None, None):
            raise ValueError("promised_amount and promised_in_days: only a promise_to_pay carries them")
        return self


class HardshipCreate(BaseModel):
    """A borrower telling the lender it cannot pay as agreed, before or while it is late."""

    model_config = ConfigDict(extra="forbid")

    note: Note = Field(min_length=3, max_length=1000, description="What happened and what the borrower could pay")


class CollectionActionPublic(BaseModel):
    id: int
    loan_id: int
    kind: str
    note: str | None = Field(description="None once the borrower's personal data was erased (the note's key shredded), "
                             "or while withheld")  # fmt: skip
    note_withheld: bool = Field(default=False, description="The note exists but is shown only to a recent sign-in "
                                "(LOANCHAIN_FRESH_SIGN_IN_MAX_AGE): sign in again to read it")  # fmt: skip
    actor: str
    chain_time: UnixSeconds
    promised_amount: MaybeBaseUnits
    promised_by: MaybeUnixSeconds
    promise_status: str | None = Field(description="promise_to_pay: pending, kept (the chain shows that much paid "
                                       "since), or broken (not by the date)")  # fmt: skip
    paid_since: MaybeBaseUnits = Field(description="promise_to_pay: what the borrower paid since the promise")
    warning: str | None = Field(default=None, description="Set on a promise_to_pay just recorded whose amount does "
                                "not bring the loan up to date: paid, it will not move the default date")  # fmt: skip


class HardshipPlanCreate(BaseModel):
    """A hardship plan's terms: `periods` payments of `installment_amount`, one every `period_days`
    from its confirmation. Another person than its proposer confirms it."""

    model_config = ConfigDict(extra="forbid")

    installment_amount: BaseUnits = Field(strict=True, gt=0, lt=AMOUNT_LIMIT, description="What the borrower pays "
                                          "each period")  # fmt: skip
    period_days: int = Field(strict=True, ge=7, le=31, description="Days in a period")
    periods: int = Field(strict=True, ge=1, le=12, description="How many periods the plan runs")


class HardshipPlanPublic(BaseModel):
    id: int
    loan_id: int
    installment_amount: BaseUnits
    period_days: int
    periods: int
    proposed_by: str
    proposed_at: UnixSeconds = Field(description="Chain time")
    decision: str | None = Field(description="confirmed or rejected; None while proposed (or lapsed)")
    decided_by: str | None
    decided_at: MaybeUnixSeconds = Field(description="Chain time; a confirmed plan starts then")
    status: Literal["proposed", "lapsed", "rejected", "on_track", "broken", "completed"] = Field(
        description="Judged by the chain's repayments since the plan started: on_track while every period ended so "
        "far was paid for (reminders, texts and the platform's own default wait), broken at the first one that was not, "
        "completed once its last period ended or all of it was paid; a proposal nobody decides lapses")
    paid_since: MaybeBaseUnits = Field(description="Repaid since the plan started")
    owed_by_now: MaybeBaseUnits = Field(description="on_track: what the plan asks to have been paid by next_end")
    next_end: MaybeUnixSeconds = Field(description="on_track: the end of the period running now")
    broken_at: MaybeUnixSeconds = Field(description="broken: the end of the period it fell short at")
    ends_at: MaybeUnixSeconds = Field(description="Confirmed: the end of its last period")


class AgreedPlanPublic(BaseModel):
    """A hardship plan agreed on a loan, as its borrower reads it (which staff proposed and
    confirmed it is theirs and the auditors' to know, not in here)."""

    id: int
    loan_id: int
    installment_amount: BaseUnits = Field(description="What the plan asks each period")
    period_days: int
    periods: int
    agreed_at: UnixSeconds = Field(description="Chain time of its confirmation: the plan starts then")
    status: Literal["on_track", "broken", "completed"] = Field(
        description="on_track while every period ended so far was paid for (no reminders, no default by the "
        "platform), broken at the first that was not, completed once its last period ended or all of it was paid")
    paid_since: BaseUnits = Field(description="Repaid since the plan started")
    owed_by_now: MaybeBaseUnits = Field(description="on_track: what the plan asks to have been paid by next_end")
    next_end: MaybeUnixSeconds = Field(description="on_track: the end of the period running now")
    broken_at: MaybeUnixSeconds = Field(description="broken: the end of the period it fell short at")
    ends_at: UnixSeconds = Field(description="The end of its last period")


class CollectionItemPublic(BaseModel):
    loan_id: int
    borrower: str
    bucket: str = Field(description="late_16_30, late_31_120, defaultable, or defaulted (recovering)")
    days_past_due: int | None = Field(description="None once defaulted")
    amount_owed: BaseUnits = Field(description="Due now; for a defaulted loan, what is still recoverable")
    notices: list[str] = Field(description="Kinds of notice already given")
    default_status: str | None = Field(description="Outbox status of markDefault, once queued")
    actions: list[CollectionActionPublic] = Field(default_factory=list, description="The case log, newest first")
    awaiting_answer: bool = Field(default=False, description="Its borrower's hardship request awaits staff's answer "
                                  "(reminders, texts and the automatic default wait, up to LOANCHAIN_SERVICING_HARDSHIP_HOLD_DAYS)")
    dispute_open: bool = Field(default=False, description="A dispute staff have not answered (contacted, promise_to_pay): "
                               "reminders, texts and the automatic default wait, as for a hardship request")
    plan: HardshipPlanPublic | None = Field(default=None, description="Its hardship plan proposed (for another person "
                                            "to confirm) or on track, else its latest agreed plan if that broke")


class PassReportPublic(BaseModel):
    as_of: int
    loans: int
    buckets: dict[str, int]
    notices_created: int = Field(description="To borrowers and investors")
    investor_notices: int = 0
    defaults_queued: int
    cancels_queued: int = 0
    disbursals_queued: int = 0


class ReleasePublic(BaseModel):
    """A borrower's release letter: the document that says nothing more is owed on the loan."""

    loan_id: int
    outcome: Literal["paid_in_full", "settled_after_default"]
    cid: str = Field(description="Where the letter is stored (IPFS CID); check it under Verify")
    doc_hash: str = Field(description="keccak-256 of the letter's bytes, anchored on-chain in a Merkle root")
    anchored: bool = Field(description="Its anchoring batch is on-chain")
    letter: dict = Field(description="The letter itself (canonical JSON: what the chain says of the loan)")


class NoticePreferencesUpdate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    email: bool = Field(strict=True, description="Notices by e-mail too (those about money owed late or in default "
                        "always are)")  # fmt: skip
    sms: bool = Field(strict=True, description="Payment notices by text message too")


class NoticePreferencesPublic(BaseModel):
    email: bool
    sms: bool
    always_by_email: list[str] = Field(description="Notice kinds e-mailed whatever the preference: the lender must "
                                       "give them in writing")  # fmt: skip
