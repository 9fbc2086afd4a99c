"""An independent Python model of LoanBook's servicing rules (see `LoanServicing.sol`), used
to predict every payment event, quote and default figure exactly. A payment goes to the
installments due, then late fees, then the installment billed but not yet due (pro rata interest
when the payment pays the loan off), then prepays principal."""

from __future__ import annotations

import copy
from dataclasses import dataclass, field

from backend.chain.loan_terms import installment_amount, period_interest

DAY = 86_400

BPS = 10_000


@dataclass
class Payment:
    installment: int  # 0 for a prepayment
    fee: int
    interest: int
    principal: int
    outstanding: int


@dataclass
class RepayResult:
    paid: int
    assessed: int
    payments: list[Payment] = field(default_factory=list)
    repaid: bool = False


@dataclass
class LoanModel:
    principal: int
    apr_bps: int
    installments: int
    period: int
    start: int
    grace: int
    late_fee_bps: int
    outstanding: int = -1
    interest_due: int = 0
    principal_due: int = 0
    fees_due: int = 0
    paid_installments: int = 0
    fees_through: int = 0

    def __post_init__(self) -> None:
        if self.outstanding < 0:
            self.outstanding = self.principal

    @property
    def amount(self) -> int:
        return installment_amount(self.principal, self.apr_bps, self.period, self.installments)

    @property
    def late_fee(self) -> int:
        """The late fee of an installment of the full amount."""
        return self.fee_on(self.amount)

    def fee_on(self, base: int) -> int:
        """The late fee of an installment of which `base` is unpaid (at most the installment amount)."""
        return -(-min(base, self.amount) * self.late_fee_bps // BPS)

    def due_date(self, k: int) -> int:
        return self.start + k * self.period

    def late_count(self, ts: int) -> int:
        # installment k is late when ts > due(k) + grace
        k = 0
        while k < self.installments and ts > self.due_date(k + 1) + self.grace:
            k += 1
        return k

    def accrue(self, ts: int) -> int:
        """Late fees of the installments late since the last assessment that the balance still
        needs (walked as they would be billed), each on what is unpaid of the installment, at most
        the installment amount."""
        through = self.late_count(ts)
        start = max(self.fees_through, self.paid_installments)
        if through <= start:
            return 0
        walk = copy.deepcopy(self)
        assessed = last = 0
        while walk.paid_installments < through and walk.bill(ts):
            k = walk.paid_installments + 1
            if k > start:
                assessed += self.fee_on(walk.interest_due + walk.principal_due)
                last = k
            walk._pay_installment(2**256)
        if assessed:
            self.fees_due += assessed
            self.fees_through = last
        return assessed

    def bill(self, ts: int) -> bool:
        if self.interest_due or self.principal_due:
            return True
        if self.outstanding == 0 or self.paid_installments >= self.installments:
            return False
        if ts <= self.start + self.paid_installments * self.period:
            return False
        interest = period_interest(self.outstanding, self.apr_bps, self.period)
        if self.paid_installments + 1 == self.installments:
            part = self.outstanding
        else:
            part = min(max(self.amount - interest, 0), self.outstanding)
        self.interest_due, self.principal_due = interest, part
        return bool(interest or part)

    def _pay_installment(self, amount: int) -> tuple[int, int, bool]:
        i = min(amount, self.interest_due)
        self.interest_due -= i
        p = min(amount - i, self.principal_due)
        self.principal_due -= p
        self.outstanding -= p
        settled = self.interest_due == 0 and self.principal_due == 0
        if settled:
            self.paid_installments += 1
        return i, p, settled

    def payoff_interest(self, ts: int) -> int:
        """What the billed installment's interest comes to if the loan is paid off at `ts`: before
        its due date, the interest of the days of its period begun less the interest already paid
        of it (never below zero); from the due date, all of it."""
        due = self.due_date(self.paid_installments + 1)
        if not self.interest_due or ts >= due:
            return self.interest_due
        billed = period_interest(self.outstanding, self.apr_bps, self.period)
        days = -(-(ts - (due - self.period)) // DAY)
        earned = period_interest(self.outstanding, self.apr_bps, min(days * DAY, self.period))
        return max(earned - (billed - self.interest_due), 0)

    def _pay_installments(self, left: int, fee: int, ts: int, payments: list[Payment]) -> tuple[int, int]:
        """The first billed installment (even ahead of its due date) and every later one due."""
        first = self.paid_installments + 1
        while left and self.bill(ts):
            k = self.paid_installments + 1
            if ts < self.due_date(k):
                if k != first:
                    break
                interest = self.payoff_interest(ts)
                if left >= interest + self.outstanding + self.fees_due:  # a payoff: pro rata
                    self.interest_due = interest
            i, p, settled = self._pay_installment(left)
            left -= i + p
            payments.append(Payment(k, fee, i, p, self.outstanding))
            fee = 0
            if not settled:
                break
        return left, fee

    def repay(self, amount: int, ts: int) -> RepayResult:
        result = RepayResult(paid=0, assessed=self.accrue(ts))
        left, _ = self._pay_installments(amount, 0, ts, result.payments)
        fee = min(left, self.fees_due)  # fees only after the installments due
        self.fees_due -= fee
        left -= fee
        left, fee = self._pay_installments(left, fee, ts, result.payments)  # the one not due yet
        if left and self.outstanding:
            pre = min(left, self.outstanding)
            self.outstanding -= pre
            left -= pre
            result.payments.append(Payment(0, fee, 0, pre, self.outstanding))
            fee = 0
        if fee:
            towards = self.paid_installments + (1 if self.outstanding else 0)
            result.payments.append(Payment(towards, fee, 0, 0, self.outstanding))
        result.paid = amount - left
        result.repaid = self.outstanding == 0 and self.fees_due == 0
        return result

    def quote(self, ts: int) -> tuple[int, int]:
        """(due now, payoff) without changing the model. The payoff is what a payment of more than
        everything takes; due now is the installments due and the fees, at most the payoff."""
        payoff = copy.deepcopy(self).repay(2**200, ts).paid
        m = copy.deepcopy(self)
        m.accrue(ts)
        due = m.fees_due
        oldest = True
        while m.bill(ts) and (oldest or ts >= m.due_date(m.paid_installments + 1)):
            i, p, _ = m._pay_installment(2**256)
            due += i + p
            oldest = False
        return min(due, payoff), payoff

    def defaultable_at(self, default_after: int) -> int:
        return self.due_date(self.paid_installments + 1) + default_after
