"""Risk-based pricing and affordability.

APR = base rate + reserve fee + risk premium, where the risk premium recovers the expected loss
PD x LGD over the loan's weighted average life: a level-payment loan of n months has, on
average, (n + 1) / 24 years of principal outstanding, so premium = PD x LGD x 24 / (n + 1).
The exposure at default is taken as the whole principal, which errs on the safe side."""

from __future__ import annotations

import math
from dataclasses import dataclass

from backend.scoring import policy


def weighted_average_life_years(term_months: int) -> float:
    return (term_months + 1) / 24.0


def reserve_fee_prepaid_bps(reserve_fee_bps: int, term_months: int) -> int:
    """The loan's origination fee: the yearly reserve fee for its weighted average life, as a share
    of principal (rounded up: the reserve is never short-changed by rounding). Priced here, with the
    rest of the price, so a decision's proof can check the fee a loan carries against it."""
    return math.ceil(reserve_fee_bps * weighted_average_life_years(term_months))


def risk_premium(pd_: float, term_months: int) -> float:
    return pd_ * policy.LGD / weighted_average_life_years(term_months)


def apr_bps(pd_: float, term_months: int) -> int:
    """APR in basis points, rounded up so the premium is never short of the expected loss."""
    rate = policy.BASE_RATE + policy.RESERVE_FEE + risk_premium(pd_, term_months)
    return math.ceil(round(rate * 10_000, 6))  # round() first: 0.0725 * 1e4 is 724.9999...


def _period_rate(interest_apr: float, period_days: int) -> float:
    """LoanBook's rate per installment period: the interest APR x period / 365 days."""
    return interest_apr * period_days / 365.0


def installment(amount: float, interest_apr: float, installments: int,
                period_days: int = policy.INSTALLMENT_PERIOD_DAYS) -> float:  # fmt: skip
    """The level installment due every `period_days` at the on-chain interest APR."""
    r = _period_rate(interest_apr, period_days)
    if r == 0:
        return amount / installments
    return amount * r / (1.0 - (1.0 + r) ** -installments)


def per_month(installment_: float, period_days: int = policy.INSTALLMENT_PERIOD_DAYS) -> float:
    """An installment due every `period_days`, as a monthly sum (365/30 a year, not 12)."""
    return installment_ * 365.0 / (12 * period_days)


def max_affordable_amount(net_income: float, monthly_debt: float, interest_apr: float, term_months: int,
                          period_days: int = policy.INSTALLMENT_PERIOD_DAYS) -> int:  # fmt: skip
    """The largest principal whose installments, counted by month at their real pace and added to
    existing debt payments, stay within the debt-service ratio of net income; rounded down to the
    amount step, capped by the product. The installment is the loan's own: the on-chain interest
    APR, one every `period_days` (the fee is taken from the disbursal, not repaid)."""
    budget = policy.DEBT_SERVICE_RATIO * net_income - monthly_debt
    if budget <= 0:
        return 0
    per_installment = budget * 12 * period_days / 365.0
    r = _period_rate(interest_apr, period_days)
    return _stepped(per_installment * (term_months if r == 0 else (1.0 - (1.0 + r) ** -term_months) / r))


def _stepped(principal: float) -> int:
    stepped = int(principal // policy.AMOUNT_STEP) * policy.AMOUNT_STEP
    return max(0, min(stepped, policy.MAX_AMOUNT))


def _monthly_annuity(amount: float, apr: float, term_months: int) -> float:
    """Models trained before the policy named the installment period (no `installment_period_days`)
    priced affordability on a monthly annuity at the quoted APR: their decisions replay with it."""
    r = apr / 12.0
    return amount / term_months if r == 0 else amount * r / (1.0 - (1.0 + r) ** -term_months)


def _monthly_max_amount(net_income: float, monthly_debt: float, apr: float, term_months: int) -> int:
    budget = policy.DEBT_SERVICE_RATIO * net_income - monthly_debt
    if budget <= 0:
        return 0
    r = apr / 12.0
    return _stepped(budget * term_months if r == 0 else budget * (1.0 - (1.0 + r) ** -term_months) / r)


def policy_notes(apr_bps_: int, amount: int | None = None, max_amount: int | None = None) -> list[str]:
    """The credit policy's rules beyond the score, each broken one a note: the affordability limit
    (when the income is known) and the high-cost APR line. One function for the API's decisions and
    the CLI's batch (which has no income, so only the APR line), so they decide alike."""
    notes = []
    if amount is not None and max_amount is not None and amount > max_amount:
        notes.append(f"amount above the affordability limit of {max_amount}")
    if apr_bps_ > round(policy.MAX_APR * 10_000):
        notes.append(f"APR above the {policy.MAX_APR:.0%} cap")
    return notes


SENSITIVE = "grade rests on the exact amount"


def sensitivity_rule(rules: dict) -> dict | None:
    """The amount-sensitivity rule of a model's policy (its artifact's copy); None for models
    trained before it, whose decisions replay without it."""
    return rules.get("amount_sensitivity")


def probe_amount(amount: int, rule: dict) -> int:
    """The amount the rule's `probe` share lower (whole units, not below the product minimum)."""
    return max(policy.MIN_AMOUNT, math.floor(amount * (1 - rule["probe"])))


def sensitivity_notes(grade: str, probe_grade: str, probe: int, rule: dict) -> list[str]:
    """An approval whose grade falls by the rule's `grade_jump` or more at `probe_amount` rests on a
    narrow band of the amount the applicant chose (review-pricing H2): a note, so it is referred."""
    if policy.GRADES.index(probe_grade) - policy.GRADES.index(grade) >= rule["grade_jump"]:
        return [f"{SENSITIVE}: at {probe} it would be grade {probe_grade}"]
    return []


def with_policy(score_decision: str, notes: list[str]) -> str:
    """What the score alone would approve, a broken policy rule refers to a human."""
    return "refer" if notes and score_decision == "approve" else score_decision


@dataclass(frozen=True)
class Quote:
    apr_bps: int
    risk_premium_bps: int
    monthly_payment: float
    max_amount: int

    @property
    def apr(self) -> float:
        return self.apr_bps / 10_000

    def to_json(self) -> dict:
        return {
            "apr_bps": self.apr_bps,
            "base_rate_bps": round(policy.BASE_RATE * 10_000),
            "reserve_fee_bps": round(policy.RESERVE_FEE * 10_000),
            "risk_premium_bps": self.risk_premium_bps,
            "lgd": policy.LGD,
            "monthly_payment": self.monthly_payment,
            "max_amount": self.max_amount,
        }


def quote(grade_pd: float, amount: int, term_months: int, net_income: float, monthly_debt: float,
          period_days: int | None = policy.INSTALLMENT_PERIOD_DAYS) -> Quote:  # fmt: skip
    """`period_days`: the model's policy's installment period; None for models trained before it."""
    bps = apr_bps(grade_pd, term_months)
    fixed = round((policy.BASE_RATE + policy.RESERVE_FEE) * 10_000)
    if period_days is None:
        payment = _monthly_annuity(amount, bps / 10_000, term_months)
        limit = _monthly_max_amount(net_income, monthly_debt, bps / 10_000, term_months)
    else:
        interest = (bps - round(policy.RESERVE_FEE * 10_000)) / 10_000  # what the terms charge (lending/offers.py)
        payment = installment(amount, interest, term_months, period_days)
        limit = max_affordable_amount(net_income, monthly_debt, interest, term_months, period_days)
    return Quote(apr_bps=bps, risk_premium_bps=bps - fixed, monthly_payment=round(payment, 2), max_amount=limit)
