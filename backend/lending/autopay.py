"""Autopay without custody: the borrower signs a repayment mandate for one loan once (EIP-712, its
own wallet) and approves the RepaymentAgent; the platform's keeper
(`backend/lending/autopay_keeper.py`) then has the agent pay each installment as it falls due,
from the borrower's wallet straight into LoanBook. The agent pays only what LoanBook bills, never
ahead of the schedule, never above the mandate's cap per payment (up to it when more is due), and keeps nothing; withdrawing
the mandate stops the keeper at once, and cancelling it on chain makes the agent refuse it."""

from __future__ import annotations

import secrets
from datetime import UTC, datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from backend import audit
from backend.chain import mandates as fm
from backend.chain import repayment_mandates as rm
from backend.chain.loan_book import deadline_clock, loan_book_domain
from backend.chain.models import ChainEvent
from backend.chain.outbox import withdraw_pending
from backend.chain.projection_models import LoanRow
from backend.config import Settings
from backend.db.base import as_utc
from backend.errors import Conflict, Forbidden, NotFound, ValidationFailed
from backend.lending.autopay_schemas import (
    AutopayCancelPublic,
    AutopayDraftCreate,
    AutopayDraftPublic,
    AutopayPaymentPublic,
    AutopayPublic,
    AutopaySign,
    AutopayTerms,
)
from backend.lending.mandates import (
    check_keeper_and_expiry,
    for_update,
    given_before,
    renewable,
    renewed_or_none,
    resent,
)
from backend.lending.models import MandateStatus, RepaymentMandateRow
from backend.lending.schemas import WalletCallPublic
from backend.servicing.notices import money

DAY = 86_400
KEY_PREFIX = "autopay:"  # the keeper's outbox keys


def _borrowers_active_loan(db: Session, wallet: str, loan_id: int) -> LoanRow:
    loan = db.get(LoanRow, loan_id)
    if loan is None:
        raise NotFound(f"no loan {loan_id} in the chain index", loan_id=loan_id)
    if loan.borrower.lower() != wallet.lower():
        raise Forbidden(f"loan {loan_id}'s autopay is its borrower's to set", loan_id=loan_id)
    if loan.status != "active":
        raise Conflict(f"loan {loan_id} is {loan.status}: autopay pays active loans", status=loan.status)
    return loan


def active_autopay(db: Session, loan_id: int, now: int, *, lock: bool = False) -> RepaymentMandateRow | None:
    """The loan's mandate the keeper may use at `now`; locked (`for_update`) to withdraw or renew it."""
    query = select(RepaymentMandateRow).where(RepaymentMandateRow.loan_id == loan_id, RepaymentMandateRow.expiry > now,
                                              RepaymentMandateRow.status == MandateStatus.ACTIVE)  # fmt: skip
    return db.scalar(for_update(db, query, RepaymentMandateRow) if lock else query)


def _no_active(db: Session, loan_id: int, now: int, *, lock: bool = False) -> RepaymentMandateRow | None:
    return renewed_or_none(active_autopay(db, loan_id, now, lock=lock), now, f"loan {loan_id}'s autopay")


def draft_autopay(db: Session, settings: Settings, wallet: str, loan_id: int, request: AutopayDraftCreate) -> AutopayDraftPublic:
    """The mandate that pays the loan's installments, ready for the borrower's wallet to sign, and
    the approval the agent needs to take them."""
    loan = _borrowers_active_loan(db, wallet, loan_id)
    now = deadline_clock(settings)
    _no_active(db, loan_id, now)
    cap = request.max_per_payment or 2 * loan.installment_amount
    if cap < loan.installment_amount:
        raise ValidationFailed(f"max_per_payment: at least one installment, "
                               f"{money(loan.installment_amount, loan_book_domain(settings).asset_decimals)} tokens",
                               field="max_per_payment", installment=loan.installment_amount)  # fmt: skip
    domain, view = loan_book_domain(settings), rm.AgentView(settings, wallet)
    mandate = rm.RepaymentMandate(payer=wallet, executor=fm.executor_address(settings), loan_id=loan_id,
                                  max_per_payment=cap, expiry=now + request.days * DAY, salt=secrets.randbits(64))  # fmt: skip
    # Enough for every installment left, each with a late fee at worst (the cap bounds each payment anyway).
    needed = (loan.installments - loan.installments_settled) * loan.installment_amount * 21 // 20
    approve = [view.approve(needed)] if view.allowance() < needed else []
    return AutopayDraftPublic(mandate=AutopayTerms(**mandate.to_json()),
                              mandate_hash=_hex(rm.digest(mandate, domain.chain_id, view.agent.address)),
                              typed_data=rm.typed_data(mandate, domain.chain_id, view.agent.address),
                              transactions=WalletCallPublic.of(approve))  # fmt: skip


def sign_autopay(db: Session, settings: Settings, wallet: str, loan_id: int, request: AutopaySign) -> AutopayPublic:
    """Records the borrower's signed mandate; the keeper pays the next installment with it. The same
    one sent again while in use (a retry of the PUT) is answered with it, nothing written."""
    mandate = rm.RepaymentMandate(**request.mandate.model_dump())
    loan = _borrowers_active_loan(db, wallet, loan_id)
    now = deadline_clock(settings)
    domain, agent = loan_book_domain(settings), rm.AgentView(settings, wallet).agent.address
    mandate_hash = _hex(rm.digest(mandate, domain.chain_id, agent))
    given = db.get(RepaymentMandateRow, mandate_hash)
    if given is not None and (given.loan_id, given.payer.lower()) == (loan_id, wallet.lower()) and resent(given, request.signature, now):
        return _public(db, settings, given)
    if mandate.payer != wallet:
        raise Forbidden(f"the mandate is {mandate.payer}'s: sign your own", payer=mandate.payer)
    if mandate.loan_id != loan_id:
        raise ValidationFailed(f"loan_id: the mandate pays loan {mandate.loan_id}, not {loan_id}", field="loan_id")
    check_keeper_and_expiry(settings, mandate.executor, mandate.expiry, now)
    if mandate.max_per_payment < loan.installment_amount:
        raise ValidationFailed(f"max_per_payment: at least one installment, "
                               f"{money(loan.installment_amount, loan_book_domain(settings).asset_decimals)} tokens",
                               field="max_per_payment")  # fmt: skip
    signature = bytes.fromhex(request.signature.removeprefix("0x"))
    if not rm.payer_signed(settings, mandate, domain.chain_id, agent, signature):
        raise ValidationFailed(f"signature: not {wallet}'s over this mandate", field="signature")
    if given is not None:
        raise given_before(given, now)
    ending = _no_active(db, loan_id, now, lock=True)
    if ending is not None:  # renewed: the keeper pays with the new one from now on
        _stop(db, ending, wallet, "autopay.renew", "the borrower renewed autopay")
    row = RepaymentMandateRow(mandate_hash=mandate_hash, loan_id=loan_id, payer=wallet, status=MandateStatus.ACTIVE,
                              chain_id=domain.chain_id, agent=agent, mandate=mandate.to_json(), expiry=mandate.expiry,
                              signature=request.signature.lower())  # fmt: skip
    db.add(row)
    db.flush()
    audit.record(db, actor=wallet, action="autopay.sign", subject=f"loan:{loan_id}", payload=mandate.to_json())
    return _public(db, settings, row)


def get_autopay(db: Session, settings: Settings, wallet: str, loan_id: int, staff: bool = False) -> AutopayPublic:
    """The loan's active autopay mandate, or else its latest; its borrower's (and staff's) to read."""
    loan = db.get(LoanRow, loan_id)
    if loan is None:
        raise NotFound(f"no loan {loan_id} in the chain index", loan_id=loan_id)
    if not staff and loan.borrower.lower() != wallet.lower():
        raise Forbidden(f"loan {loan_id}'s autopay is for its borrower (and staff)", loan_id=loan_id)
    row = active_autopay(db, loan_id, deadline_clock(settings)) or db.scalar(
        select(RepaymentMandateRow).where(RepaymentMandateRow.loan_id == loan_id)
        .order_by(RepaymentMandateRow.created_at.desc()).limit(1))  # fmt: skip
    if row is None:
        raise NotFound(f"loan {loan_id} has no autopay", loan_id=loan_id)
    return _public(db, settings, row)


def withdraw_autopay(db: Session, settings: Settings, wallet: str, loan_id: int) -> AutopayCancelPublic:
    """Stops the keeper paying with the loan's mandate now (a payment it queued and the outbox has
    not signed never goes out), and gives the wallet transaction that ends it on chain."""
    row = active_autopay(db, loan_id, deadline_clock(settings), lock=True)
    if row is None or row.payer.lower() != wallet.lower():
        raise NotFound(f"{wallet} has no active autopay on loan {loan_id}", loan_id=loan_id)
    _stop(db, row, wallet, "autopay.withdraw", "the borrower withdrew autopay")
    return AutopayCancelPublic(mandate_hash=row.mandate_hash,
                               transactions=WalletCallPublic.of([rm.AgentView(settings, wallet).cancel(mandate_of(row))]))  # fmt: skip


def _stop(db: Session, row: RepaymentMandateRow, wallet: str, action: str, why: str) -> None:
    """The keeper uses the mandate no more: a payment it queued and the outbox has not signed never goes out."""
    row.status, row.cancelled_at = MandateStatus.CANCELLED, datetime.now(UTC)
    dropped = withdraw_pending(db, f"{KEY_PREFIX}{row.mandate_hash}:", why)
    audit.record(db, actor=wallet, action=action, subject=f"loan:{row.loan_id}",
                 payload={"mandate_hash": row.mandate_hash, "queued_payments_dropped": dropped})  # fmt: skip
    db.flush()  # before a renewal's new row: one active mandate per loan at every moment


def mandate_of(row: RepaymentMandateRow) -> rm.RepaymentMandate:
    return rm.RepaymentMandate(**row.mandate)


def _payments(db: Session, mandate_hash: str) -> list[AutopayPaymentPublic]:
    events = db.scalars(select(ChainEvent).where(ChainEvent.contract == "RepaymentAgent", ChainEvent.event == "PaidWithMandate")
                        .order_by(ChainEvent.block_number, ChainEvent.log_index))  # fmt: skip
    return [AutopayPaymentPublic(amount=int(e.args["amount"]), block_number=e.block_number, tx_hash=e.tx_hash,
                                 timestamp=e.block_timestamp) for e in events if e.args["mandateHash"] == mandate_hash]  # fmt: skip


def short_message(takeable: int, due: int, decimals: int) -> str:
    return (f"the repayment agent can take only {money(takeable, decimals)} from your wallet (balance or allowance), "
            f"less than the {money(due, decimals)} due: add money or approve more before the due date")  # fmt: skip


def _public(db: Session, settings: Settings, row: RepaymentMandateRow) -> AutopayPublic:
    mandate = mandate_of(row)
    now = deadline_clock(settings)
    live = row.expiry > now
    view = rm.AgentView(settings, row.payer)
    unfinished = row.status == MandateStatus.CANCELLED and live and not view.cancelled(row.mandate_hash)
    warnings = []
    if row.status == MandateStatus.ACTIVE and live:
        loan = db.get(LoanRow, row.loan_id)
        due = loan.installment_amount if loan is not None and loan.status == "active" else 0
        takeable = view.takeable() if due else 0
        if due and takeable < due:  # the view at hand, not a second one
            warnings = [short_message(takeable, due, loan_book_domain(settings).asset_decimals)]
    return AutopayPublic(mandate_hash=row.mandate_hash, status=row.status if live else "expired",
                         mandate=AutopayTerms(**row.mandate), expires_at=datetime.fromtimestamp(row.expiry, UTC),
                         payments=_payments(db, row.mandate_hash), warnings=warnings,
                         cancel_transactions=WalletCallPublic.of([view.cancel(mandate)]) if unfinished else [],
                         renewable=renewable(row.status, row.expiry, now), created_at=as_utc(row.created_at))  # fmt: skip


def _hex(digest: bytes) -> str:
    return "0x" + digest.hex()
