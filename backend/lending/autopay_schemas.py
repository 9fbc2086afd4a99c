"""API schemas for autopay: a repayment mandate the borrower signs once, under which the
platform's keeper pays each installment from the borrower's wallet as it falls due."""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel, ConfigDict, Field

from backend.lending.schemas import WalletCallPublic
from backend.units import BaseUnits, MaybeBaseUnits, MaybeUnixSeconds, UnixSeconds


class AutopayDraftCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    max_per_payment: MaybeBaseUnits = Field(default=None, strict=True, gt=0, lt=2**128,
                                            description="Most one payment may take (default: two installments)")  # fmt: skip
    days: int = Field(default=400, strict=True, ge=2, le=15_000, description="How long the mandate may be used")


class AutopayTerms(BaseModel):
    """The `RepaymentMandate` struct, as signed (snake case)."""

    model_config = ConfigDict(extra="forbid")

    payer: str = Field(pattern=r"^0x[0-9a-fA-F]{40}$")
    executor: str = Field(pattern=r"^0x[0-9a-fA-F]{40}$", description="The platform's keeper: the outbox's account")
    loan_id: int = Field(strict=True, gt=0)
    max_per_payment: BaseUnits = Field(strict=True, gt=0, lt=2**128)
    expiry: UnixSeconds = Field(strict=True, gt=0, lt=2**40)
    salt: int = Field(strict=True, ge=0, lt=2**256)


class AutopayDraftPublic(BaseModel):
    """Sign `typed_data` with the wallet (`eth_signTypedData_v4`), send `mandate` and the signature
    back (PUT /api/v1/loans/{id}/autopay), and send `transactions` (the agent's allowance)."""

    mandate: AutopayTerms
    mandate_hash: str
    typed_data: dict
    transactions: list[WalletCallPublic] = Field(description="An approval letting the repayment agent take the "
                                                 "installments left, when it may take less")  # fmt: skip


class AutopaySign(BaseModel):
    model_config = ConfigDict(extra="forbid")

    mandate: AutopayTerms
    signature: str = Field(pattern=r"^0x(?:[0-9a-fA-F]{2})+$", max_length=2 + 2 * 4096)  # whole bytes: an odd digit is a 422


class AutopayPaymentPublic(BaseModel):
    amount: BaseUnits
    block_number: int
    tx_hash: str
    timestamp: MaybeUnixSeconds


class AutopayPublic(BaseModel):
    mandate_hash: str
    status: str = Field(description="active; cancelled (withdrawn); expired")
    mandate: AutopayTerms
    expires_at: datetime
    payments: list[AutopayPaymentPublic] = Field(description="Each payment under it, from the chain index")
    warnings: list[str] = Field(default_factory=list, description="Why the next installment could not be paid now, if so")
    cancel_transactions: list[WalletCallPublic] = Field(
        default_factory=list, description="Withdrawn here but still usable on chain: send these to end it for good"
    )
    renewable: bool = Field(default=False, description="In use and in its last week: a new mandate may take over")
    created_at: datetime


class AutopayCancelPublic(BaseModel):
    mandate_hash: str
    transactions: list[WalletCallPublic]
