"""The keeper that pays installments under borrowers' autopay mandates.

Each pass, for every active, unexpired repayment mandate of an active loan, it reads what LoanBook
bills now (`amountDue`) and, within a day of the oldest unpaid due date (or after it), has the
RepaymentAgent pay it with `payWithMandate` through the outbox, up to the mandate's cap (the agent
pays `min(due, cap)`, which LoanBook applies oldest installment first), once the payer's wallet can
cover that. A payment the wallet cannot cover is not queued; one capped below what is due is, and
the rest waits for the next passes. Either way the borrower is told once per installment why
autopay did not pay all that is due (`autopay_short`), and the due-date reminders go on as for any loan. Keys name the mandate and the due date and digest the facts checked (attempts counted,
at most 3 on the same facts); while a payment is in flight, or mined beyond what the index has
read, the keeper waits. The agent checks every bound on chain: this keeper can only do less."""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache

from sqlalchemy import select
from sqlalchemy.orm import Session

from backend import audit
from backend.chain import repayment_mandates as rm
from backend.chain.keeping import next_attempt_key, none_queued_since, queued_so_far, waits_for_index
from backend.chain.loan_book import deadline_clock, loan_book_domain
from backend.chain.outbox import enqueue
from backend.chain.projection_models import LoanRow
from backend.chain.wallet_calls import LoanBookWallet
from backend.config import Settings
from backend.lending.autopay import KEY_PREFIX, mandate_of, short_message
from backend.lending.mandates import any_active, queue_under_active
from backend.lending.models import MandateStatus, RepaymentMandateRow
from backend.servicing.notices import add_notice, day, money

LEAD = 86_400  # the keeper pays in the last day before the due date (the agent allows three)
EXPIRY_MARGIN = 300


@dataclass(frozen=True)
class Payment:
    mandate_hash: str
    loan_id: int
    payer: str
    amount: int
    due_date: int
    key: str


def plan_payments(db: Session, settings: Settings, now: int) -> list[Payment]:
    """The payments the active mandates call for now, each one the chain would accept as far as can be read."""
    rows = db.execute(select(RepaymentMandateRow, LoanRow).join(LoanRow, LoanRow.loan_id == RepaymentMandateRow.loan_id)
                      .where(RepaymentMandateRow.status == MandateStatus.ACTIVE, LoanRow.status == "active",
                             RepaymentMandateRow.expiry > now + EXPIRY_MARGIN)
                      .order_by(RepaymentMandateRow.created_at))  # fmt: skip
    decimals = cache(lambda: loan_book_domain(settings).asset_decimals)  # only when there is something to say
    payments = []
    for row, loan in rows:
        mandate = mandate_of(row)
        due, _, due_date = LoanBookWallet(settings, row.payer).standing(loan.loan_id)
        if due == 0 or now + LEAD < due_date:
            continue
        view = rm.AgentView(settings, row.payer)
        if view.cancelled(row.mandate_hash):
            continue
        takeable = view.takeable()
        amount = min(due, mandate.max_per_payment)  # what the agent pays: up to the cap, oldest installment first
        if takeable < amount:
            _tell_short(db, loan, due, due_date, decimals(), short_message(takeable, amount, decimals()))
            continue
        if amount < due:
            cap = money(amount, decimals())
            _tell_short(db, loan, due, due_date, decimals(), f"it is more than your autopay's cap of {cap} a payment, so "
                        f"autopay pays {cap} now, the oldest installment first, and the rest at its next passes, up to "
                        "the cap each time (sign a new mandate with a higher cap to catch up at once)",
                        then="Pay the rest yourself to catch up sooner.")  # fmt: skip
        if key := next_attempt_key(db, f"{KEY_PREFIX}{row.mandate_hash}:{due_date}:", (due, takeable)):
            payments.append(Payment(row.mandate_hash, loan.loan_id, row.payer, amount, due_date, key))
    return payments


def _tell_short(db: Session, loan: LoanRow, due: int, due_date: int, decimals: int, why: str,
                then: str = "It tries again at every pass; or pay it yourself.") -> None:  # fmt: skip
    """Once per installment: autopay cannot pay all that is due, and why."""
    installment = max((due_date - (loan.start_time or 0)) // loan.installment_period, 1)
    message = f"Autopay could not pay all the {money(due, decimals)} of loan {loan.loan_id} due on {day(due_date)}: {why}. {then}"
    add_notice(db, loan, installment, "autopay_short", due_date, due, message)


def pay_by_mandates(db: Session, settings: Settings) -> list[Payment]:
    """Queue a `payWithMandate` for every installment the active mandates call for; those queued."""
    if not any_active(db, RepaymentMandateRow):
        return []
    seen = queued_so_far(db, KEY_PREFIX)
    if waits_for_index(db, KEY_PREFIX):
        return []

    def queue(row: RepaymentMandateRow, payment: Payment) -> None:
        enqueue(db, key=payment.key, contract="RepaymentAgent", function="payWithMandate",
                args=[list(mandate_of(row).as_tuple()), row.signature], settings=settings)  # fmt: skip
        audit.record(db, actor="mandate-keeper", action="autopay.pay", subject=f"loan:{payment.loan_id}",
                     payload={"mandate_hash": payment.mandate_hash, "amount": payment.amount, "due_date": payment.due_date})  # fmt: skip

    payments = plan_payments(db, settings, deadline_clock(settings))[: settings.mandate_keeper_max_per_pass]
    if not payments or not none_queued_since(db, KEY_PREFIX, seen):  # a round overlapping this one queued first
        return []
    return queue_under_active(db, RepaymentMandateRow, payments, queue)

