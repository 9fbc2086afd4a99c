"""API schemas for funding mandates: a standing instruction the investor lets the platform's
keeper carry out, within bounds the investor signs and the FundingAgent enforces. Amounts in base units."""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel, ConfigDict, Field

from backend.lending.schemas import WalletCallPublic
from backend.units import BaseUnits, UnixSeconds


class MandateDraftCreate(BaseModel):
    """What the investor chooses beyond its standing instruction: how much in all, for how long,
    and the highest APR (a risk ceiling) it lets the keeper fund."""

    model_config = ConfigDict(extra="forbid")

    budget: BaseUnits = Field(strict=True, gt=0, lt=2**128, description="Most the keeper may fund in all under this "
                              "mandate")  # fmt: skip
    days: int = Field(default=90, strict=True, ge=1, le=365, description="How long the mandate may be used")
    max_apr_bps: int = Field(default=10_000, strict=True, ge=0, le=10_000, description="Only loans paying at most "
                             "this APR")  # fmt: skip


class MandateTerms(BaseModel):
    """The `FundingMandate` struct, as signed (snake case; the contract's field names in camel case)."""

    model_config = ConfigDict(extra="forbid")

    investor: str = Field(pattern=r"^0x[0-9a-fA-F]{40}$")
    executor: str = Field(pattern=r"^0x[0-9a-fA-F]{40}$", description="The platform's keeper: the outbox's account")
    per_loan: BaseUnits = Field(strict=True, gt=0, lt=2**128)
    budget: BaseUnits = Field(strict=True, gt=0, lt=2**128)
    min_apr_bps: int = Field(strict=True, ge=0, le=10_000)
    max_apr_bps: int = Field(strict=True, ge=0, le=10_000)
    max_installments: int = Field(strict=True, ge=1, le=360)
    max_term: int = Field(strict=True, ge=1, lt=2**32, description="Only loans whose term (installments x "
                          "installment period) is at most this many seconds")
    expiry: UnixSeconds = Field(strict=True, gt=0, lt=2**40, description="The last second it may be used")
    salt: int = Field(strict=True, ge=0, lt=2**256)


class MandateDraftPublic(BaseModel):
    """Sign `typed_data` with the wallet (`eth_signTypedData_v4`), then send `mandate` and the
    signature back (PUT /api/v1/portfolio/rule/mandate)."""

    mandate: MandateTerms
    mandate_hash: str = Field(description="The EIP-712 digest: the mandate's id on chain")
    typed_data: dict
    transactions: list[WalletCallPublic] = Field(
        description="Send these from the wallet too (an approval letting LoanBook take up to the budget, when it may "
        "take less; the funding agent's authorization on LoanBook, the first time): without them the keeper can fund "
        "nothing"
    )
    warnings: list[str] = Field(default_factory=list, description="How thinly the budget can spread, when too thin")


class MandateSign(BaseModel):
    """`mandate` exactly as the draft gave it, with the wallet's eth_signTypedData_v4 signature of its typed data."""

    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [{
        "mandate": {"investor": "0x70997970C51812dc3A010C7d01b50e0d17dc79C8",
                    "executor": "0xf39Fd6e51aad88F6F4ce6aB8827279cffFb92266", "per_loan": 100000000,
                    "budget": 1000000000, "min_apr_bps": 800, "max_apr_bps": 10000, "max_installments": 36,
                    "max_term": 93312000, "expiry": 1775000000, "salt": 4242},
        "signature": "0x" + "5a" * 64 + "1b"}]})  # fmt: skip

    mandate: MandateTerms
    signature: str = Field(pattern=r"^0x(?:[0-9a-fA-F]{2})+$", max_length=2 + 2 * 4096)  # whole bytes: an odd digit is a 422


class MandateFundingPublic(BaseModel):
    """One funding under the mandate, as the agent's `MandateUsed` event recorded it."""

    loan_id: int
    amount: BaseUnits
    block_number: int
    tx_hash: str
    released: bool = Field(False, description="The loan was cancelled and refunded, and what the mandate funded into it "
                           "went back to its budget (`MandateReleased`): no longer in `spent`")


class MandatePublic(BaseModel):
    mandate_hash: str
    status: str = Field(description="active: the keeper uses it; cancelled: withdrawn (cancel it on chain too); "
                        "expired: past its expiry, nothing more can be funded with it")
    mandate: MandateTerms
    expires_at: datetime
    spent: BaseUnits = Field(description="What the agent has funded under it, less what cancelled and refunded loans gave "
                             "back (`released` fundings); its whole budget once cancelled on chain")
    left: BaseUnits = Field(description="budget - spent")
    fundings: list[MandateFundingPublic] = Field(description="Each funding under it, from the chain index")
    created_at: datetime
    warnings: list[str] = Field(default_factory=list, description="Why the keeper cannot fund a full ticket now, if so")
    cancel_transactions: list[WalletCallPublic] = Field(
        default_factory=list,
        description="Withdrawn here but still usable on chain (not cancelled there, not expired): send these from "
        "the wallet to end it for good",
    )
    renewable: bool = Field(default=False, description="In use and in its last week: a new mandate may take over")


class MandateCancelPublic(BaseModel):
    """The keeper stopped using the mandate at once; send `transactions` from the wallet to end it
    on chain too (the agent then refuses it whoever asks) and, with no other mandate in use, take
    back the agent's authorization."""

    mandate_hash: str
    transactions: list[WalletCallPublic]
