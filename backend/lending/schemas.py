"""API schemas for offers and loans. Token amounts are integers in the loan currency's base units
(the stablecoin has `asset_decimals` decimals); `amount` on an offer is in whole units, as on the
application form. Each is typed with its unit (backend/units.py), which the OpenAPI document names."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from backend.bounds import AMOUNT_LIMIT
from backend.input_text import OneLine
from backend.scoring import policy
from backend.servicing.schemas import ServicingPublic
from backend.units import BaseUnits, MaybeBaseUnits, MaybeUnixSeconds, MaybeWholeTokens, UnixSeconds, WholeTokens

OfferState = Literal["offered", "expired", "superseded", "submitting", "created", "failed"]


class OfferCreate(BaseModel):
    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [
        {"decision_id": "0b9d2f4e-6c1a-4e8b-9f3d-2a7c5e1b8d60", "amount": 2500}]})  # fmt: skip

    decision_id: OneLine = Field(min_length=1, max_length=36, description="An approved credit decision of yours")
    amount: MaybeWholeTokens = Field(
        default=None,
        strict=True,
        ge=policy.MIN_AMOUNT,
        le=policy.MAX_AMOUNT,
        description="At most the amount applied for and the affordability limit (default: as applied)",
    )


class OfferAccept(BaseModel):
    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [{"signature": "0x" + "5a" * 64 + "1b"}]})

    signature: OneLine = Field(
        min_length=4, max_length=4000, description="0x-hex eth_signTypedData_v4 signature of `typed_data` by the borrower"
    )


class InstallmentPublic(BaseModel):
    number: int
    due_at: MaybeUnixSeconds = Field(description="Known once the loan is disbursed")
    amount: BaseUnits
    interest: BaseUnits
    principal: BaseUnits
    balance_after: BaseUnits


class PricePublic(BaseModel):
    quoted_apr_bps: int = Field(description="All-in APR the credit decision priced")
    interest_apr_bps: int = Field(description="The rate in the on-chain terms; interest goes to investors")
    origination_fee_bps: int = Field(
        description="The reserve fee for the loan's average life, prepaid at disbursal into the ReserveFund"
    )
    installment_amount: BaseUnits
    total_repayable: BaseUnits = Field(description="Sum of the scheduled installments when paid on time (total of "
                                       "payments)")  # fmt: skip
    amount_financed: BaseUnits = Field(description="What the borrower receives: the principal less the origination fee")
    finance_charge: BaseUnits = Field(description="total_repayable - amount_financed: the interest and the fee "
                                      "together")  # fmt: skip
    apr_actuarial_bps: int = Field(description="The APR of the cash flows by Regulation Z's actuarial method: the rate "
                                   "per installment period times the periods in a year, the fee included")
    aprc_bps: int = Field(description="The EU annual percentage rate of charge: the same cash flows' annual "
                          "effective rate")


class LoanTermsPublic(BaseModel):
    """The LoanTerms struct the borrower and the underwriter sign (EIP-712; `typed_data.message` holds
    the same in the contract's camelCase)."""

    borrower: str
    principal: BaseUnits
    apr_bps: int = Field(description="The interest APR, paid to the investors")
    installments: int
    installment_period: int = Field(description="Seconds between installments")
    funding_deadline: UnixSeconds
    origination_fee_bps: int
    agreement_hash: str = Field(description="keccak-256 of the agreement document (0x-hex)")
    decision_hash: str = Field(description="The credit decision's hash (0x-hex)")
    nonce: int
    deadline: UnixSeconds = Field(description="The signatures are void after it")


class OfferPublic(BaseModel):
    id: str
    created_at: datetime
    state: OfferState
    borrower: str
    decision_id: str
    decision_hash: str
    amount: WholeTokens = Field(description="The principal, as on the application; `terms.principal`, the price and "
                                "the schedule are in base units")
    asset_decimals: int
    price: PricePublic
    terms: LoanTermsPublic = Field(description="The LoanTerms the borrower and the underwriter sign")
    terms_hash: str = Field(description="EIP-712 struct hash; LoanBook emits it as termsHash")
    typed_data: dict[str, Any] = Field(description="Pass to eth_signTypedData_v4 as is")
    agreement_cid: str = Field(description="The agreement document (IPFS CID); its keccak-256 is agreementHash")
    schedule: list[InstallmentPublic]
    intent_status: str | None = Field(description="The createLoan transaction's outbox status, once accepted")
    error: str | None = Field(description="Why createLoan failed (decoded custom error), when it did")
    loan_id: int | None = Field(description="The on-chain loan, once indexed")


class LoanPublic(BaseModel):
    loan_id: int
    status: str
    grade: str | None = Field(description="The credit grade behind the loan, when this platform made the decision "
                              "(its stated purpose: the borrower profile, for investors deciding)")
    borrower: str
    principal: BaseUnits
    funded: BaseUnits
    remaining: BaseUnits = Field(description="Principal still open to investors while funding")
    apr_bps: int
    installments: int
    installment_period: int
    installment_amount: BaseUnits
    origination_fee_bps: int
    funding_deadline: UnixSeconds
    start_time: MaybeUnixSeconds
    principal_outstanding: BaseUnits
    terms_hash: str
    agreement_hash: str
    decision_hash: str
    block_number: int
    tx_hash: str


class LoanMarketPublic(BaseModel):
    """The loan's notes on the secondary market: the book now, and what traded (prices in basis
    points of the principal the notes stand for, as NoteMarket prices them)."""

    open_listings: int
    notes_offered: int
    best_ask_bps: int | None = Field(description="The lowest price asked by an open, unexpired listing")
    open_bids: int
    notes_wanted: int
    best_bid_bps: int | None = Field(description="The highest price offered by an open, unexpired bid")
    trades: int
    notes_traded: int
    last_price_bps: float | None = Field(description="What the last trade paid, in basis points of the principal "
                                         "its notes stood for then")  # fmt: skip
    last_trade_at: MaybeUnixSeconds = Field(description="Block time of the last trade")


class LoanDetailPublic(LoanPublic):
    agreement_cid: str | None = Field(description="Where the agreement document is stored, when this platform holds it")
    agreement_anchored: bool = Field(description="The agreement's hash is in an anchored Merkle root")
    schedule: list[InstallmentPublic]
    interest_paid: BaseUnits
    principal_paid: BaseUnits
    fees_paid: BaseUnits
    last_installment: int
    reserve_cover: BaseUnits
    recovered: BaseUnits
    servicing: ServicingPublic | None = Field(description="Where an active loan stood at the last servicing pass")
    market: LoanMarketPublic | None = Field(default=None, description="Its notes on the secondary market, once "
                                            "it is active (None before)")  # fmt: skip


class LoanListPublic(BaseModel):
    loans: list[LoanPublic]
    total: int


class WalletTxCreate(BaseModel):
    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [
        {"action": "repay", "amount": 135801862}, {"action": "fund", "amount": 500000000}, {"action": "claim"}]})  # fmt: skip

    action: Literal["fund", "disburse", "repay", "payoff", "claim", "refund"]
    amount: MaybeBaseUnits = Field(
        default=None,
        strict=True,
        gt=0,
        lt=AMOUNT_LIMIT,
        description="fund: required; repay: default what is due now; payoff (everything owed today, "
        "no prepayment penalty), disburse, claim, refund: ignored",
    )


class WalletCallPublic(BaseModel):
    to: str
    data: str
    value: str = "0x0"
    description: str

    @classmethod
    def of(cls, calls: Iterable[Any]) -> list[WalletCallPublic]:
        """The wallet calls (`chain.wallet_calls.WalletCall`: to, data, description) as the API gives them."""
        return [cls(to=c.to, data=c.data, description=c.description) for c in calls]


class WalletTxPublic(BaseModel):
    """Send these, in order, from the signed-in wallet (eth_sendTransaction); nothing is signed here."""

    loan_id: int | None = Field(description="None for an action over several loans")
    action: str
    amount: BaseUnits
    transactions: list[WalletCallPublic]


class PositionPublic(BaseModel):
    loan_id: int
    status: str
    grade: str | None = Field(description="From the credit decision behind the loan, when this platform made it")
    apr_bps: int
    notes: int = Field(description="LoanBook notes held (1 note = 1 base unit of principal funded)")
    share_of_loan: float
    exposure: BaseUnits = Field(description="At stake now: committed while funding, outstanding principal share once "
                                "active")  # fmt: skip
    refundable: BaseUnits = Field(description="Funded into a loan that missed its funding deadline: the investor's to "
                                  "take back")  # fmt: skip
    claimable: BaseUnits = Field(description="Repayments (and reserve cover) received for these notes and not yet "
                                 "claimed")  # fmt: skip
    listed: int = Field(default=0, description="Of these notes, offered for sale on the secondary market")
    bid_now: int = Field(default=0, description="Of these notes, how many other wallets' open bids would take now")
    sell_now: BaseUnits = Field(default=0, description="What selling those into the best bids would pay now (rounded down "
                                "per bid, as NoteMarket pays): the position's value to leave it today")  # fmt: skip
    days_past_due: int | None = Field(default=None, description="How late the loan was at the last servicing pass "
                                      "(active loans)")  # fmt: skip
    bucket: str | None = Field(default=None, description="Its aging bucket then: current, grace, late_16_30, "
                               "late_31_120 or defaultable")  # fmt: skip
    pd_now: float | None = Field(default=None, description="The chance the loan defaults from where it stands: the PD "
                                 "of the loan's grade, which priced it, while it funds, the part of it left in its remaining installments "
                                 "once active, and when late its bucket's roll rate first (disclosure roll_rates). "
                                 "None when no credit decision of this platform is behind the loan")  # fmt: skip
    expected_loss: MaybeBaseUnits = Field(default=None, description="pd_now x LGD x exposure: the loss to expect over the "
                                          "rest of the loan's life before the reserve's cover")  # fmt: skip
    fair_value: MaybeBaseUnits = Field(default=None, description="What the notes of an active loan are worth now: their "
                                       "expected repayments (defaults at pd_now, recovery after the reserve's cover) "
                                       "discounted at the loan's own rate, as the market's fair price. None without a "
                                       "credit decision of this platform behind the loan")  # fmt: skip
    expected_loss_after_cover: MaybeBaseUnits = Field(default=None, description="pd_now x what a default costs the "
                                                      "investors after the risk reserve's expected cover (LGD less "
                                                      "disclosure reserve.expected_cover_share when the coverage "
                                                      "ratio is at most the LGD) x exposure")  # fmt: skip


class PortfolioPublic(BaseModel):
    wallet: str
    positions: list[PositionPublic]
    loans_at_risk: int = Field(description="Positions in funding or active loans")
    exposure: BaseUnits
    largest_share: float = Field(description="The largest position's share of exposure")
    hhi: float = Field(description="Herfindahl-Hirschman index of exposure shares (1 = a single loan)")
    effective_loans: float = Field(description="1 / HHI: the number of equal loans with the same concentration")
    exposure_by_grade: dict[str, int]
    expected_loss: BaseUnits = Field(default=0, description="Sum of the positions' expected losses (exposure in unrated "
                                     "loans, see exposure_by_grade, is not in it)")  # fmt: skip
    expected_loss_after_cover: BaseUnits = Field(default=0, description="The same after the risk reserve's expected "
                                                 "cover")  # fmt: skip
    fair_value: BaseUnits = Field(default=0, description="Sum of the positions' fair values (notes of rated active "
                                  "loans)")  # fmt: skip
    refundable: BaseUnits = Field(description="Sum of the positions' refundable amounts (action `refund`)")
    claimable: BaseUnits = Field(description="Sum of the positions' claimable amounts (`POST /api/v1/portfolio/claim`)")
    open_bids: int = Field(default=0, description="The wallet's open bids for notes of active loans")
    bid_commitment: BaseUnits = Field(default=0, description="What those bids would pay if all were hit; the money stays "
                                      "in the wallet until a seller takes one")  # fmt: skip
    net_annual_return: float | None = Field(
        default=None, description="XIRR of the wallet's cash flows with LoanBook and NoteMarket and of the notes "
        "given or received (at the principal outstanding they stood for then), what it holds valued today (outstanding "
        "principal of active notes, refundable, claimable); after defaults. None: under 30 days of history, or no rate")
    warnings: list[str]


Grade = Literal["A", "B", "C", "D", "E", "F", "G"]


class LoanFilter(BaseModel):
    """Which open loans an investor wants: all of them unless narrowed."""

    model_config = ConfigDict(extra="forbid")

    grades: list[Grade] | None = Field(default=None, description="Only loans priced at these grades")
    min_apr_bps: int | None = Field(default=None, strict=True, ge=0, le=10_000, description="Only loans paying at "
                                    "least this APR")  # fmt: skip
    max_installments: int | None = Field(default=None, strict=True, ge=1, le=360, description="Only loans at most "
                                         "this long")  # fmt: skip


class PlanCreate(LoanFilter):
    amount: BaseUnits = Field(strict=True, gt=0, lt=AMOUNT_LIMIT, description="To invest")
    max_per_loan: MaybeBaseUnits = Field(default=None, strict=True, gt=0, lt=AMOUNT_LIMIT, description="Cap per loan, "
                                         "counting notes already held")  # fmt: skip


class InvestmentRuleCreate(LoanFilter):
    """A standing instruction: tell me of every new loan like this, and fund `per_loan` in each
    with one click. Non-custodial: the platform never moves the money; the investor's wallet does."""

    per_loan: BaseUnits = Field(strict=True, gt=0, lt=AMOUNT_LIMIT, description="To hold in each matching loan")


class InvestmentRulePublic(InvestmentRuleCreate):
    wallet: str
    updated_at: datetime
    matching_now: list[int] = Field(description="Open loans that match and hold less than per_loan of your notes")


class AllocationPublic(BaseModel):
    loan_id: int
    amount: BaseUnits
    apr_bps: int


class PlanPublic(BaseModel):
    amount: BaseUnits
    allocated: BaseUnits
    unallocated: BaseUnits = Field(description="What no open loan could take under the rules")
    allocations: list[AllocationPublic]
    transactions: list[WalletCallPublic] = Field(description="Send in order from your wallet")


class StatementLinePublic(BaseModel):
    """One movement between the wallet and LoanBook, with the event that proves it."""

    timestamp: MaybeUnixSeconds = Field(description="Block time")
    block_number: int
    tx_hash: str
    log_index: int
    loan_id: int
    kind: Literal["fund", "refund", "claim", "purchase", "sale", "notes_in", "notes_out"]
    cash: BaseUnits = Field(description="Into the wallet (negative: out of it)")
    notes: int = Field(description="Change in the loan's notes held (1 note = 1 base unit of principal)")


class EarningsPublic(BaseModel):
    """What the wallet's notes earned (accrual basis, by the time of the borrower's payment, not
    of the claim), in base units."""

    interest: BaseUnits = 0
    late_fees: BaseUnits = 0
    principal: BaseUnits = Field(default=0, description="Principal repaid to the notes: capital back, not income")
    cover: BaseUnits = Field(default=0, description="Paid by the risk reserve when a loan defaulted: capital back")
    recovered: BaseUnits = Field(default=0, description="Collected from the borrower after a default")
    written_off: BaseUnits = Field(default=0, description="Principal outstanding at a default less the reserve's cover")
    market_result: BaseUnits = Field(default=0, description="Sales above / purchases below the notes' principal outstanding "
                                                      "(negative: a premium paid or a discount given); a purchase's as "
                                                      "the principal bought comes back")  # fmt: skip
    net_return: BaseUnits = Field(default=0, description="interest + late_fees + recovered + market_result - "
                                  "written_off")  # fmt: skip


class EarningLinePublic(BaseModel):
    """The wallet's part of one loan event."""

    timestamp: MaybeUnixSeconds
    block_number: int
    tx_hash: str
    log_index: int
    loan_id: int
    kind: Literal["payment", "prepayment", "default", "recovery", "sale"]
    interest: BaseUnits
    late_fees: BaseUnits
    principal: BaseUnits
    cover: BaseUnits
    recovered: BaseUnits
    written_off: BaseUnits
    market_result: BaseUnits


class StatementLoanPublic(BaseModel):
    loan_id: int
    status: str
    grade: str | None
    funded: BaseUnits = Field(description="Paid in during the period")
    refunded: BaseUnits = Field(description="Taken back during the period (the loan missed its funding deadline)")
    collected: BaseUnits = Field(description="Repayments and reserve cover claimed during the period")
    bought: BaseUnits = Field(description="Paid for notes bought on the secondary market during the period")
    sold: BaseUnits = Field(description="Received for notes sold on the secondary market during the period")
    net_cash: BaseUnits = Field(description="refunded + collected + sold - funded - bought")
    notes_held: int = Field(description="Now, not at the period's end")
    claimable: BaseUnits = Field(description="Now: received for these notes and not yet claimed")
    earnings: EarningsPublic


class StatementPublic(BaseModel):
    """Read from the platform's chain index, not from the node (the claimable amounts are LoanBook's):
    the statement takes the index on trust. The address trace (`GET /api/v1/audit/trace/address/
    {wallet}`, `loanchain audit trace address`) holds these lines' rows against the node's logs
    (`projections_match_chain`, `events_match_chain`) and the notes against `LoanBook.balanceOf`; the
    earnings rest on each loan's events too, which the loan's trace holds against the node."""

    wallet: str
    period_start: MaybeUnixSeconds = Field(description="Inclusive; None: from the first block")
    period_end: MaybeUnixSeconds = Field(description="Exclusive; None: up to the last indexed block")
    decimals: int = Field(description="The loan token's decimals, for reading the base-unit amounts")
    lines: list[StatementLinePublic]
    loans: list[StatementLoanPublic]
    funded: BaseUnits
    refunded: BaseUnits
    collected: BaseUnits
    bought: BaseUnits
    sold: BaseUnits
    net_cash: BaseUnits = Field(description="Sum of the lines' cash: the wallet's net token flow with LoanBook and "
                                "NoteMarket")  # fmt: skip
    earnings: EarningsPublic = Field(description="What the notes earned in the period, whether claimed or not")
    earning_lines: list[EarningLinePublic]
    years: list[int] = Field(description="Calendar years (UTC, block time) with any movement or earning, newest "
                             "first, whatever the period: the years a statement can be asked for")


class LoanStatementLinePublic(BaseModel):
    """One movement on a loan's debt, with the LoanBook event that proves it (base units)."""

    timestamp: MaybeUnixSeconds = Field(description="Block time")
    block_number: int
    tx_hash: str
    log_index: int
    kind: Literal["disbursed", "late_fee", "payment", "prepayment", "paid_off", "defaulted", "recovery"]
    installment: int | None = Field(default=None, description="payment: the installment it went to; late_fee: charged "
                                    "through this one; paid_off: installments paid")  # fmt: skip
    cash: BaseUnits = Field(default=0, description="To the borrower (disbursed, net of the fee); negative: paid in")
    origination_fee: BaseUnits = 0
    late_fee_charged: BaseUnits = 0
    late_fee_paid: BaseUnits = 0
    interest_paid: BaseUnits = 0
    principal_paid: BaseUnits = 0
    principal_outstanding: MaybeBaseUnits = Field(default=None, description="The balance after this line, where it "
                                                  "tells it")  # fmt: skip
    reserve_cover: BaseUnits = Field(default=0, description="defaulted: what the risk reserve paid the investors")
    charged_at_default: BaseUnits = Field(default=0, description="defaulted: interest and late fees owed at default, folded "
                                          "into the debt (LoanBook's event gives their sum, not the two apart)")
    recoverable: MaybeBaseUnits = Field(default=None, description="defaulted, recovery: what is still owed after it")
    payer: str | None = Field(default=None, description="Who paid (anyone may pay a loan)")


class LoanStatementPublic(BaseModel):
    """A loan's statement for its borrower: opening balance, every movement, closing balance."""

    loan_id: int
    borrower: str
    status: str
    principal: BaseUnits
    apr_bps: int
    installments: int
    period_start: MaybeUnixSeconds = Field(description="Inclusive; None: from the loan's start")
    period_end: MaybeUnixSeconds = Field(description="Exclusive; None: up to the last indexed block")
    decimals: int = Field(description="The loan token's decimals, for reading the base-unit amounts")
    opening_principal: BaseUnits
    closing_principal: BaseUnits
    opening_recoverable: BaseUnits = Field(description="Owed on the defaulted loan at the period's start (0 if not "
                                           "defaulted)")  # fmt: skip
    closing_recoverable: BaseUnits
    received: BaseUnits = Field(description="Paid out to the borrower in the period, net of the origination fee")
    paid: BaseUnits = Field(description="Paid in on the loan in the period (payments, prepayments, recoveries)")
    origination_fee: BaseUnits
    late_fee_charged: BaseUnits
    late_fee_paid: BaseUnits
    interest_paid: BaseUnits
    principal_paid: BaseUnits
    charged_at_default: BaseUnits = Field(description="Interest and late fees owed at default, folded into the debt")
    recovered: BaseUnits = Field(description="Paid on the debt after default: LoanBook does not split a recovery into "
                                 "interest, late fees and principal, so it is not in interest_paid or principal_paid")
    lines: list[LoanStatementLinePublic]


class BorrowingPublic(BaseModel):
    """What the ledger shows of a wallet's borrowing here, which a new application is checked
    against (whole tokens, rounded up)."""

    open_loans: int = Field(description="Loans being funded, active or defaulted: declare at least this many")
    monthly_debt_with_us: WholeTokens = Field(description="What those loans take a month: declare at least this much")
    owed: WholeTokens = Field(description="Principal owed on them (a loan being funded counts in full)")
    cap: WholeTokens = Field(description="What one borrower may owe at once")
    headroom: WholeTokens = Field(description="What the cap leaves to borrow now")
    owing_defaulted: list[int] = Field(description="Defaulted loans still owed on: no new loan until settled")


class BorrowerProfilePublic(BaseModel):
    """A loan's borrower as investors may see it: banded application facts and the credit decision
    the loan was priced on; never who the borrower is, the amounts it declared, or its assets (nor
    the exact score, PD or debt-service ratio, from which they can be worked back)."""

    loan_id: int
    grade: str = Field(description="The credit grade; the loan is priced on the grade's PD, not the applicant's own")
    pd_low: float = Field(description="The lowest calibrated probability of default of the grade")
    pd_high: float = Field(description="The highest calibrated probability of default of the grade")
    purpose: str
    term_months: int
    monthly_income_band: str = Field(description="Net monthly income, as a band the applicant picked")
    employment_length: str
    housing: str
    credit_history: str
    existing_loans_with_us: int
    debt_service_ratio_band: str | None = Field(
        description="Monthly debt payments with this loan's installment, over the income band's lower edge, as a "
        'band: "under 20%", "20-30%", "30-35%" or "over 35%" (None: an income band starting at 0)'
    )
    debt_service_ratio_cap: float = Field(description="The most the affordability rule allows")
    score_reasons: list[str] = Field(
        description="Of what lowered the score most, in plain language, the reasons about facts shown here "
        "(never about the checking account, savings, guarantors, property or other instalment plans)"
    )
    decided_at: datetime
