"""Public disclosure figures. Amounts are in the loan token's base units (the stablecoin's
smallest unit, e.g. 10^-6 for a 6-decimal token), as on chain.

Every description starts with where the figure comes from (`backend/disclosure/sources.py`;
`DisclosurePublic.sources` says it per figure in the output too):
- *chain events*: the platform contracts' events, which anyone can re-read from a node;
- *chain call*: a contract's view function at the figures' block, which anyone can repeat;
- *platform records*: tables only the platform holds (credit_decisions, servicing_states,
  servicing_notices), which an outsider cannot rebuild from the chain."""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel, ConfigDict, Field

from backend.input_text import OneLine
from backend.units import BaseUnits, MaybeBaseUnits, MaybeUnixSeconds, UnixSeconds


class LoanCountsPublic(BaseModel):
    """The number of loans in each status."""

    funding: int = 0
    active: int = 0
    repaid: int = Field(default=0, description="Number of loans paid off")
    defaulted: int = 0
    cancelled: int = 0


class DefaultsPublic(BaseModel):
    """Source: chain events (LoanDefaulted, LoanRecovery)."""

    count: int = Field(description="Loans LoanBook marked defaulted")
    fee_only: int = Field(default=0, description="Of them, the number of loans that had settled every installment and were marked "
                          "defaulted owing late fees only (no principal at default): defaults on chain, left out of "
                          "matured_defaulted and the roll rates, which count credit defaults")  # fmt: skip
    principal_at_default: BaseUnits = Field(description="Principal outstanding when the loans defaulted "
                                            "(LoanDefaulted)")  # fmt: skip
    reserve_cover: BaseUnits = Field(description="Paid to investors from the reserve at default (LoanDefaulted.cover)")
    recovered: BaseUnits = Field(description="Collected from defaulted borrowers since (LoanRecovery), whoever it went to: "
                                 "the investors until they have the debt less the cover, then the reserve (CoverRecouped)")
    gross_charge_off: BaseUnits = Field(default=0, description="Per defaulted loan, principal_at_default - recovered (at least "
                                        "0), summed: the principal lost before the reserve's cover, which origination fees "
                                        "(the borrowers' own money) fund")  # fmt: skip
    net_loss: BaseUnits = Field(description="Per defaulted loan, principal_at_default - reserve_cover - what of recovered "
                                "went to investors (at least 0), summed: what investors bore after the reserve")  # fmt: skip


class DelinquencyPublic(BaseModel):
    """Active loans past due (overdue counts and amounts, as P2P disclosure rules ask for). Source: platform
    records (servicing_states, the last servicing pass) for the live figures; chain call (LoanBook.amountDue
    at the month's last block) in a monthly report."""

    as_of: MaybeUnixSeconds = Field(description="Chain time of the lateness read (the last servicing pass; None: none "
                                    "yet)")  # fmt: skip
    loans_16_plus: int = Field(description="Active loans more than 15 days past due")
    principal_16_plus: BaseUnits
    loans_91_plus: int = Field(description="Active loans more than 90 days past due")
    principal_91_plus: BaseUnits
    amount_overdue: BaseUnits = Field(description="Sum of what is due now on loans past due")


class ForbearancePublic(BaseModel):
    """Active loans under a hardship plan on track (forbearance): their reminders and the platform's own
    default wait while the borrower pays the plan's smaller amounts, so their lateness is held rather than
    cured. Disclosed beside the delinquency it would otherwise flatter. Source: platform records
    (hardship_plans, agreed by two staff) judged against chain events (the repayments)."""

    as_of: UnixSeconds = Field(description="Time the plans were judged at: live, the later of the wall clock and the "
                               "index's latest block (as a plan's agreement is timed); in a report, the month's last block")
    loans: int = Field(description="Active loans whose plan, agreed by as_of, was on track then")
    principal: BaseUnits = Field(description="Their principal outstanding")
    share_of_outstanding: float | None = Field(description="principal / principal outstanding on active loans")
    loans_16_plus: int = Field(description="Of them, those more than 15 days past due on the loan's own schedule")


class RollRatePublic(BaseModel):
    """Of the installments loans fell behind on and that have since been settled one way or the
    other, the share that reached this aging bucket (or a later one) and ended in the loan's
    default: the platform's own book, shrunk towards a stated prior while it is young. Source: platform
    records (servicing_notices: only late installments a servicing pass noticed count as episodes) and chain
    events (the defaults)."""

    bucket: str = Field(description="grace, late_16_30, late_31_120 or defaultable")
    episodes: int = Field(description="Resolved late installments that reached this bucket or a later one")
    defaulted: int = Field(description="Of them, those the loan defaulted on")
    prior: float = Field(description="The rate assumed before the book has its own (worth 20 episodes)")
    rate: float = Field(description="(defaulted + prior x 20) / (episodes + 20), at least a less late bucket's rate: "
                        "the chance a loan in this bucket defaults on the installment it is behind on")


class ReserveStressPublic(BaseModel):
    """The reserve if defaults ran at a multiple of what each loan's PD now expects."""

    pd_multiple: float = Field(description="Each active loan's PD now times this (at most 1)")
    expected_claims: BaseUnits = Field(description="What the reserve would be asked to pay: that many defaults x each "
                                       "loan's claim (coverage ratio x principal outstanding, at most the balance)")  # fmt: skip
    expected_cover_share: float = Field(description="The share of a default's principal investors could count on then: "
                                        "min(balance, expected_claims) / the principal expected to default")  # fmt: skip


class ReserveOutflowPublic(BaseModel):
    """A payment out of the ReserveFund (CoverPaid) that no LoanBook default explains. Source: chain events."""

    loan_id: int = Field(description="The loan id the payment named")
    to: str = Field(description="Who received it (CoverPaid.loanBook)")
    amount: BaseUnits
    tx_hash: str
    block_number: int
    log_index: int
    timestamp: MaybeUnixSeconds
    reason: str = Field(description="Why it is not investor cover: no LoanBook default of that loan, paid to someone "
                        "else, outside the default's transaction, or not the cover LoanDefaulted stated")  # fmt: skip


class ReservePublic(BaseModel):
    """The risk reserve (ReserveFund): what went in and out by its own events and LoanBook's, its real
    balance at the figures' block, and how it compares with the expected loss on the loans outstanding."""

    deposits: BaseUnits = Field(description="Source: chain events. Deposited events")
    origination_fees: BaseUnits = Field(description="Source: chain events. Fees LoanBook paid in at disbursal "
                                        "(LoanDisbursed.originationFee)")  # fmt: skip
    cover_recouped: BaseUnits = Field(default=0, description="Source: chain events. CoverRecouped (LoanBook): recoveries paid "
                                      "back to the reserve once a defaulted loan's investors had recovered its debt less the "
                                      "cover")  # fmt: skip
    cover_paid: BaseUnits = Field(description="Source: chain events. Cover paid to investors of defaulted loans: CoverPaid "
                                  "events paid to LoanBook in the transaction of its LoanDefaulted for that loan, for the "
                                  "cover it states")  # fmt: skip
    unexplained_outflows: list[ReserveOutflowPublic] = Field(
        default_factory=list, description="Source: chain events. Every other CoverPaid: money that left the reserve "
        "without a LoanBook default to explain it")  # fmt: skip
    unexplained_outflow_total: BaseUnits = Field(default=0, description="Source: chain events. The sum of "
                                                 "unexplained_outflows")  # fmt: skip
    balance_from_events: BaseUnits = Field(default=0, description="Source: chain events. deposits + origination_fees + "
                                           "cover_recouped - cover_paid - unexplained_outflow_total")  # fmt: skip
    balance_on_chain: MaybeBaseUnits = Field(default=None, description="Source: chain call. ReserveFund.balance() at "
                                             "as_of_block, what it pays cover from; None when the node could not be asked")
    balance_difference: MaybeBaseUnits = Field(default=None, description="balance_on_chain - balance_from_events: money "
                                               "that reached (or left) the reserve outside its evented paths, e.g. a plain "
                                               "token transfer; None when the balance was not read")  # fmt: skip
    balance: BaseUnits = Field(description="The balance the figures below use: balance_on_chain when read, else "
                               "balance_from_events (balance_source says which)")  # fmt: skip
    balance_source: str = Field(default="chain events", description="'chain call' or 'chain events'")
    expected_loss: MaybeBaseUnits = Field(
        description="Source: platform records (credit_decisions: grade and model, whose grade PD priced the loan; "
        "servicing_states, servicing_notices: lateness and roll rates). Sum over active loans of PD x LGD x principal "
        "outstanding, with each loan's PD now (the PD of the loan's grade, which priced it, for the installments left "
        "or, when late, its bucket's roll rate: roll_rates); None when an active loan's decision or its model is not "
        "held here"
    )
    coverage_of_expected_loss: float | None = Field(
        description="Source: as expected_loss. The share of the expected loss the balance could meet: sum over active "
        "loans of PD x min(LGD x principal outstanding, balance) (no one default can take more than the whole balance), "
        "at most the balance, over expected_loss; at most 1, and not cover for any one default (largest_claim_coverage)")
    coverage_ratio_bps: int | None = Field(default=None, description="Source: chain events (CoverageRatioSet). The share of a defaulted loan's principal "
                                           "outstanding the reserve pays while its balance lasts (ReserveFund)")
    expected_claims: MaybeBaseUnits = Field(default=None, description="Source: as expected_loss. Sum over active loans of PD x the loan's claim, "
                                            "coverage ratio x principal outstanding but at most the balance "
                                            "(ReserveFund.coverageFor): what the reserve is expected to be asked to pay")
    expected_cover_share: float | None = Field(default=None, description="Source: as expected_loss. The share of a default's principal outstanding "
                                               "investors can expect from the reserve: min(balance, expected_claims) / "
                                               "sum over active loans of PD x principal outstanding; at most the "
                                               "coverage ratio")  # fmt: skip
    largest_claim: MaybeBaseUnits = Field(default=None, description="Source: chain events. The coverage ratio x the "
                                          "largest principal outstanding of an active loan: what its default would "
                                          "claim; None with no active loan or no ratio")  # fmt: skip
    largest_claim_coverage: float | None = Field(default=None, description="Source: chain events (and the balance's). "
                                                 "balance / largest_claim: below 1, the share of that claim the whole "
                                                 "balance would pay")  # fmt: skip
    stress: list[ReserveStressPublic] = Field(default_factory=list, description="Source: as expected_loss. The same with defaults at 2x and 3x "
                                              "each loan's PD now: how far the reserve would stretch in a bad year")  # fmt: skip


class ConcentrationPublic(BaseModel):
    """How much of the principal outstanding a few borrowers owe (P2P disclosure rules ask for the
    largest borrower's and the ten largest borrowers' shares)."""

    largest_borrower_share: float | None = Field(description="None when nothing is outstanding")
    top10_borrowers_share: float | None


class GradeOutcomePublic(BaseModel):
    """Disbursed loans of one credit grade and how they did. Source: platform records (credit_decisions: the
    grade of the decision behind each loan) and chain events (amounts, defaults, dates)."""

    grade: str = Field(description="A-G; 'unrated' when the decision was not made here; 'unverified' when its record "
                       "no longer hashes to the decision hash in the loan's on-chain terms")
    loans: int = Field(description="Disbursed loans of the grade, however young")
    principal_originated: BaseUnits
    principal_at_default: BaseUnits
    default_rate: float = Field(description="principal_at_default / principal_originated, over every disbursed loan "
                                "however young and weighted by what was left at default: not comparable with a PD "
                                "(use matured_default_rate)")  # fmt: skip
    matured_loans: int = Field(default=0, description="Disbursed loans whose last installment fell due more than 120 "
                               "days (LoanBook's default threshold) before the figures' time: each has had its whole "
                               "term and the time to be marked defaulted")  # fmt: skip
    matured_defaulted: int = Field(default=0, description="Of the matured loans, those LoanBook marked defaulted with "
                                   "an installment unsettled (credit defaults, as a PD and the roll rates count them)")
    matured_fee_only_defaults: int = Field(default=0, description="Of the matured loans, the number of those "
                                           "marked defaulted owing late fees only, every installment settled: not in matured_defaulted")
    matured_default_rate: float | None = Field(default=None, description="matured_defaulted / matured_loans (a count "
                                               "over loans that ran their course, like a PD); None before any matured")


class VintagePublic(BaseModel):
    """The loans paid out in one month and how they have done as they aged."""

    vintage: str = Field(description="YYYY-MM of disbursal (UTC)")
    loans: int
    principal_originated: BaseUnits
    principal_repaid: BaseUnits
    repaid_loans: int = Field(description="Number of its loans paid off")
    defaulted_loans: int = Field(description="Marked defaulted by LoanBook, fee-only defaults included")
    fee_only_defaults: int = Field(default=0, description="Of them, the number of loans marked defaulted owing late "
                                   "fees only (every installment settled)")
    principal_at_default: BaseUnits
    default_rate: float = Field(description="principal_at_default / principal_originated, so far")
    net_loss_rate: float = Field(description="Principal at default less reserve cover and the investors' recoveries, "
                                 "over principal originated, so far")  # fmt: skip
    months_on_book: int = Field(description="How many 30-day months since its first loan was paid out have begun")
    complete_months: int = Field(default=0, description="How many 30-day months on book every loan of the vintage "
                                 "has completed (since its last loan was paid out): the curve's points up to it are "
                                 "final, later ones partial")  # fmt: skip
    cumulative_default_rate: list[float] = Field(
        description="Principal at default within months on book 1, 2, ... (cumulative) over principal originated: "
        "the vintage curve, one entry a month on book begun; the entries after complete_months are partial (some "
        "loans, for the last entry perhaps all, have not completed that month): compare vintages up to it only"
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
    volume: BaseUnits = Field(description="Paid for notes on the secondary market, all time")
    average_price_bps: float | None = Field(description="volume / the principal outstanding the notes traded stood for "
                                            "when they traded, in basis points (NoteMarket's prices)")  # fmt: skip


class DisclosurePublic(BaseModel):
    """Unless a field says otherwise, its source is chain events."""

    as_of_block: int | None = Field(description="The index is complete up to this block (None: not indexed yet)")
    as_of_block_hash: str | None
    loans: LoanCountsPublic
    principal_originated: BaseUnits = Field(description="Principal of every loan that was disbursed")
    principal_outstanding: BaseUnits = Field(description="Principal still owed on active loans")
    principal_repaid: BaseUnits
    interest_paid: BaseUnits
    late_fees_paid: BaseUnits
    investors: int = Field(description="Distinct wallets that funded a loan that was paid out or bought notes on the "
                           "secondary market (funding refunded from a cancelled loan, or still funding, does not count)")
    borrowers: int = Field(description="Distinct wallets that received at least one loan")
    concentration: ConcentrationPublic
    by_grade: list[GradeOutcomePublic]
    vintages: list[VintagePublic] = Field(default_factory=list, description="By month of disbursal, the oldest first")
    defaults: DefaultsPublic
    default_rate: float | None = Field(description="defaults.principal_at_default / principal_originated (every loan "
                                       "ever disbursed, however young): lifetime, not annualised")  # fmt: skip
    net_loss_rate: float | None = Field(
        description="defaults.net_loss / principal_originated: what investors bore after the reserve's cover (itself "
        "funded by borrowers' origination fees), over the lifetime principal of every loan ever disbursed, however "
        "young: not annualised, and diluted while the book grows; read it beside gross_charge_off_rate"
    )
    average_principal_outstanding: MaybeBaseUnits = Field(
        default=None, description="Principal outstanding on disbursed loans, averaged over time from the first "
        "disbursal to the figures' time (each loan from its disbursal until paid down, repaid or defaulted); None "
        "before any time has passed")  # fmt: skip
    gross_charge_off_rate: float | None = Field(
        default=None, description="Annualised: defaults.gross_charge_off / average_principal_outstanding / years from "
        "the first disbursal to the figures' time (= charge-offs per principal-year outstanding). Gross of the "
        "reserve's cover; None before any principal was outstanding")  # fmt: skip
    delinquency: DelinquencyPublic
    forbearance: ForbearancePublic | None = Field(default=None, description="None in monthly reports published "
                                                  "before it was disclosed (2026-12-03)")
    roll_rates: list[RollRatePublic] = Field(default_factory=list)
    reserve: ReservePublic
    market: MarketActivityPublic
    sources: dict[str, str] = Field(default_factory=dict, description="Where each figure comes from: 'chain events', "
                                    "'chain call' (a contract asked at as_of_block) or 'platform records: <tables>' "
                                    "(held only by the platform: an outsider cannot rebuild them from the chain)")


class PeriodFlowsPublic(BaseModel):
    """What happened within a period, from the chain events stamped in it (amounts in base units)."""

    start: UnixSeconds = Field(description="First second of the period (block time)")
    end: UnixSeconds = Field(description="First second after it")
    complete: bool = Field(default=True, description="False for the month so far: the index has not passed its end")
    as_of: MaybeUnixSeconds = Field(default=None, description="Block time the flows are counted to (its events included): "
                                    "the index's latest block's for the month so far, end once the month is over")
    as_of_block: int | None = Field(default=None, description="The index's latest block, for the month so far; None "
                                    "once the month is over (every event stamped in it is counted)")
    loans_disbursed: int
    principal_disbursed: BaseUnits
    origination_fees: BaseUnits = Field(description="Paid into the ReserveFund at disbursal")
    principal_repaid: BaseUnits = Field(description="Scheduled and early repayments of principal")
    interest_paid: BaseUnits
    late_fees_paid: BaseUnits
    loans_repaid: int = Field(description="Number of loans paid off in full")
    defaults: int
    principal_at_default: BaseUnits
    reserve_cover: BaseUnits
    recovered: BaseUnits = Field(description="Paid on defaulted loans (LoanRecovery)")
    cover_recouped: BaseUnits = Field(default=0, description="Of recovered, what went back to the ReserveFund once the "
                                      "loans' investors had recovered their debt less the cover (CoverRecouped)")
    trades: int = Field(description="Secondary-market trades")
    trade_volume: BaseUnits = Field(description="What buyers paid in them")


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


class MissingReportPublic(BaseModel):
    """A month that has ended and has no report yet."""

    period: str = Field(description="YYYY-MM")
    reason: str = Field(description="Why the servicing worker could not publish it when it last tried (e.g. a node "
                        "without the month-end state: an archive node is needed), or that it has not tried yet")
    last_tried: datetime | None = Field(description="When the worker last failed to publish it (None: not tried)")


class PeriodAnchorPublic(BaseModel):
    doc_hash: str = Field(description="The report the anchor binds the month to (keccak256 of its bytes)")
    block_number: int
    tx_hash: str
    root: str
    forged: bool = Field(default=False, description="Its root does not commit to its uri: not a binding, a forgery")


class ReportBindingPublic(BaseModel):
    """Whether a report is the one the chain binds its month to (backend/disclosure/report_binding.py)."""

    period: str
    status: str = Field(description="bound: the only report the chain binds the month to | replaced: the chain binds "
                        "the month to another report, or to more than one | pending: its binding is queued, not on "
                        "chain yet | unbound: published before reports were bound to their month, not bound yet")
    ok: bool = Field(description="False only when replaced: pending and unbound say nothing against the report")
    reason: str
    doc_hash: str = Field(description="keccak256 of the report judged")
    loan_tape_hash: str | None = Field(default=None, description="The loan tape the report names (so binds too)")
    source: str = Field(description="Where the anchors were read: the node, or the platform's chain index")
    anchors: list[PeriodAnchorPublic] = Field(description="Every anchor naming the month, in chain order")


class DisclosurePublish(BaseModel):
    model_config = ConfigDict(extra="forbid")

    period: OneLine = Field(description="A month that has ended on chain, YYYY-MM; its figures are read as of its last block",
                        examples=["2026-10"])
