"""An independent Python model of LoanBook's servicing rules (see `LoanServicing.sol`), used
to predict every payment event, quote and default figure exactly."""

from __future__ import annotations

import copy
from dataclasses import dataclass, field

from backend.chain.loan_terms import installment_amount, period_interest

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
        needs (walked as they would be billed), each on the installment amount or on what the
        final installment bills (what is left of it) when less."""
        through = self.late_count(ts)
        start = max(self.fees_through, self.paid_installments)
        if through <= start:
            return 0
        walk = copy.deepcopy(self)
        assessed = last = 0
        while walk.paid_installments < through and walk.bill(ts):
            k = walk.paid_installments + 1
            if k > start:
                final = walk.principal_due == walk.outstanding
                assessed += self.fee_on(walk.interest_due + walk.principal_due if final else self.amount)
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

    def repay(self, amount: int, ts: int) -> RepayResult:
        result = RepayResult(paid=0, assessed=self.accrue(ts))
        left = amount
        fee = min(left, self.fees_due)
        self.fees_due -= fee
        left -= fee
        while left and self.bill(ts):
            k = self.paid_installments + 1
            i, p, settled = self._pay_installment(left)
            left -= i + p
            result.payments.append(Payment(k, fee, i, p, self.outstanding))
            fee = 0
            if not settled:
                break
        if left and self.outstanding:
            pre = min(left, self.outstanding)
            self.outstanding -= pre
            left -= pre
            result.payments.append(Payment(0, fee, 0, pre, self.outstanding))
            fee = 0
        if fee:
            result.payments.append(Payment(self.paid_installments + 1, fee, 0, 0, self.outstanding))
        result.paid = amount - left
        result.repaid = self.outstanding == 0
        return result

    def quote(self, ts: int) -> tuple[int, int]:
        """(due now, payoff) without changing the model."""
        m = copy.deepcopy(self)
        m.accrue(ts)
        due = total = m.fees_due
        oldest = True
        while m.bill(ts):
            # due now: the oldest unsettled installment once billed, later ones once their due date comes
            is_due = oldest or ts >= m.due_date(m.paid_installments + 1)
            i, p, _ = m._pay_installment(2**256)
            total += i + p
            if is_due:
                due = total
            oldest = False
        return due, total + m.outstanding

    def defaultable_at(self, default_after: int) -> int:
        return self.due_date(self.paid_installments + 1) + default_after
