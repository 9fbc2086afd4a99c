"""Public disclosure figures. Amounts are in the loan token's base units (the stablecoin's
smallest unit, e.g. 10^-6 for a 6-decimal token), as on chain."""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel, ConfigDict, Field


class LoanCountsPublic(BaseModel):
    funding: int = 0
    active: int = 0
    repaid: int = 0
    defaulted: int = 0
    cancelled: int = 0


class DefaultsPublic(BaseModel):
    count: int
    principal_at_default: int = Field(description="Principal outstanding when the loans defaulted")
    reserve_cover: int = Field(description="Paid to investors from the reserve at default")
    recovered: int = Field(description="Collected from defaulted borrowers since")
    net_loss: int = Field(description="principal_at_default - reserve_cover - what of recovered went to investors, at "
                          "least 0 (recoveries repay the investors' debt - cover first, then the reserve's cover)")


class DelinquencyPublic(BaseModel):
    """Active loans past due at the last servicing pass (overdue counts and amounts, as P2P
    disclosure rules ask for)."""

    as_of: int | None = Field(description="Chain time of the last servicing pass (None: none yet)")
    loans_16_plus: int = Field(description="Active loans more than 15 days past due")
    principal_16_plus: int
    loans_91_plus: int = Field(description="Active loans more than 90 days past due")
    principal_91_plus: int
    amount_overdue: int = Field(description="Sum of what is due now on loans past due")


class RollRatePublic(BaseModel):
    """Of the installments loans fell behind on and that have since been settled one way or the
    other, the share that reached this aging bucket (or a later one) and ended in the loan's
    default: the platform's own book, shrunk towards a stated prior while it is young."""

    bucket: str = Field(description="grace, late_16_30, late_31_120 or defaultable")
    episodes: int = Field(description="Resolved late installments that reached this bucket or a later one")
    defaulted: int = Field(description="Of them, those the loan defaulted on")
    prior: float = Field(description="The rate assumed before the book has its own (worth 20 episodes)")
    rate: float = Field(description="(defaulted + prior x 20) / (episodes + 20), at least a less late bucket's rate: "
                        "the chance a loan in this bucket defaults on the installment it is behind on")


class ReserveStressPublic(BaseModel):
    """The reserve if defaults ran at a multiple of what each loan's PD now expects."""

    pd_multiple: float = Field(description="Each active loan's PD now times this (at most 1)")
    expected_claims: int = Field(description="What the reserve would be asked to pay: that many defaults x coverage "
                                 "ratio x principal outstanding")  # fmt: skip
    expected_cover_share: float = Field(description="The share of a default's principal investors could count on then: "
                                        "the coverage ratio x min(1, balance / expected_claims)")  # fmt: skip


class ReservePublic(BaseModel):
    """The risk reserve (ReserveFund), from its own events and LoanBook's: what went in, what it
    paid out, and how it compares with the expected loss on the loans outstanding."""

    deposits: int = Field(description="Deposited events")
    origination_fees: int = Field(description="Fees LoanBook paid in at disbursal (LoanDisbursed.originationFee)")
    cover_paid: int = Field(description="CoverPaid events: paid to investors of defaulted loans")
    cover_recouped: int = Field(default=0, description="CoverRecouped events (LoanBook): recoveries paid back to the "
                                "reserve once a defaulted loan's investors had recovered its debt less the cover")
    balance: int = Field(description="deposits + origination_fees + cover_recouped - cover_paid")
    expected_loss: int | None = Field(
        description="Sum over active loans of PD x LGD x principal outstanding, with each loan's PD now (its credit "
        "decision's, for the installments left or, when late, its bucket's roll rate: roll_rates); None when an "
        "active loan's decision is not held here"
    )
    coverage_of_expected_loss: float | None = Field(description="balance / expected_loss")
    coverage_ratio_bps: int | None = Field(default=None, description="The share of a defaulted loan's principal "
                                           "outstanding the reserve pays while its balance lasts (ReserveFund)")
    expected_claims: int | None = Field(default=None, description="Sum over active loans of PD x coverage ratio x "
                                        "principal outstanding: what the reserve is expected to pay")
    expected_cover_share: float | None = Field(default=None, description="The share of a default's principal outstanding "
                                               "investors can expect from the reserve: the coverage ratio x "
                                               "min(1, balance / expected_claims)")  # fmt: skip
    stress: list[ReserveStressPublic] = Field(default_factory=list, description="The same with defaults at 2x and 3x "
                                              "each loan's PD now: how far the reserve would stretch in a bad year")  # fmt: skip


class ConcentrationPublic(BaseModel):
    """How much of the principal outstanding a few borrowers owe (P2P disclosure rules ask for the
    largest borrower's and the ten largest borrowers' shares)."""

    largest_borrower_share: float | None = Field(description="None when nothing is outstanding")
    top10_borrowers_share: float | None


class GradeOutcomePublic(BaseModel):
    """Disbursed loans of one credit grade and how they did (from the decision behind each loan)."""

    grade: str = Field(description="A-G, or 'unrated' when the decision was not made here")
    loans: int
    principal_originated: int
    principal_at_default: int
    default_rate: float = Field(description="principal_at_default / principal_originated")


class VintagePublic(BaseModel):
    """The loans paid out in one month and how they have done as they aged."""

    vintage: str = Field(description="YYYY-MM of disbursal (UTC)")
    loans: int
    principal_originated: int
    principal_repaid: int
    repaid_loans: int = Field(description="Paid off")
    defaulted_loans: int
    principal_at_default: int
    default_rate: float = Field(description="principal_at_default / principal_originated, so far")
    net_loss_rate: float = Field(description="Principal at default less reserve cover and the investors' recoveries, "
                                 "over principal originated, so far")  # fmt: skip
    months_on_book: int = Field(description="How many 30-day months since its first loan was paid out have begun")
    cumulative_default_rate: list[float] = Field(
        description="Principal at default within months on book 1, 2, ... (cumulative) over principal originated: "
        "the vintage curve, one entry a month on book"
    )


class MarketActivityPublic(BaseModel):
    open_listings: int = Field(description="Open offers of notes of active loans")
    notes_offered: int = Field(description="Notes in those offers")
    open_bids: int = Field(default=0, description="Open bids for notes of active loans")
    notes_wanted: int = Field(default=0, description="Notes those bids still want")
    trades: int = Field(description="Trades on the secondary market (listings taken, bids hit, crossed orders "
                        "matched), all time")  # fmt: skip
    matched: int = Field(default=0, description="Of those, crossed listings and bids matched by the keeper")
    notes_traded: int
    volume: int = Field(description="Paid for notes on the secondary market, all time")
    average_price_bps: float | None = Field(description="volume / notes traded, in basis points of face value")


class DisclosurePublic(BaseModel):
    as_of_block: int | None = Field(description="The index is complete up to this block (None: not indexed yet)")
    as_of_block_hash: str | None
    loans: LoanCountsPublic
    principal_originated: int = Field(description="Principal of every loan that was disbursed")
    principal_outstanding: int = Field(description="Principal still owed on active loans")
    principal_repaid: int
    interest_paid: int
    late_fees_paid: int
    investors: int = Field(description="Distinct wallets that funded a loan or bought notes on the secondary market")
    borrowers: int = Field(description="Distinct wallets that received at least one loan")
    concentration: ConcentrationPublic
    by_grade: list[GradeOutcomePublic]
    vintages: list[VintagePublic] = Field(default_factory=list, description="By month of disbursal, the oldest first")
    defaults: DefaultsPublic
    default_rate: float | None = Field(description="principal_at_default / principal_originated")
    net_loss_rate: float | None = Field(
        description="net_loss / principal_originated: the bad-debt rate investors bore after the reserve"
    )
    delinquency: DelinquencyPublic
    roll_rates: list[RollRatePublic] = Field(default_factory=list)
    reserve: ReservePublic
    market: MarketActivityPublic


class PeriodFlowsPublic(BaseModel):
    """What happened within a period, from the chain events stamped in it (amounts in base units)."""

    start: int = Field(description="First second of the period (block time, UTC)")
    end: int = Field(description="First second after it")
    loans_disbursed: int
    principal_disbursed: int
    origination_fees: int = Field(description="Paid into the ReserveFund at disbursal")
    principal_repaid: int = Field(description="Scheduled and early repayments of principal")
    interest_paid: int
    late_fees_paid: int
    loans_repaid: int = Field(description="Loans paid off in full")
    defaults: int
    principal_at_default: int
    reserve_cover: int
    recovered: int = Field(description="Paid on defaulted loans (LoanRecovery)")
    cover_recouped: int = Field(default=0, description="Of recovered, what went back to the ReserveFund once the "
                                "loans' investors had recovered their debt less the cover (CoverRecouped)")
    trades: int = Field(description="Secondary-market trades")
    trade_volume: int = Field(description="What buyers paid in them")


class DisclosureReportPublic(BaseModel):
    """A month's published figures: the document's CID and hash (anchored on-chain)."""

    period: str = Field(description="YYYY-MM")
    cid: str
    doc_hash: str = Field(description="keccak256 of the document's bytes, the value anchored on-chain")
    as_of_block: int | None = Field(description="The figures are as of this indexed block")
    loan_tape_cid: str = Field(description="The loan-level CSV published with it (its hash is in the report)")
    published_at: datetime
    anchor_tx: str | None = Field(description="The transaction that anchored it (None until its batch is on-chain)")
    verify_url: str


class DisclosurePublish(BaseModel):
    model_config = ConfigDict(extra="forbid")

    period: str = Field(description="A month that has ended on chain, YYYY-MM; its figures are read as of its last block",
                        examples=["2026-10"])
