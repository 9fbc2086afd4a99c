"""Risk-based pricing and affordability.

A level-payment loan of n monthly installments has, on average, (n + 1) / 24 years of principal
outstanding (its weighted average life, WAL) and, if a default is equally likely at any installment,
(n + 1) / (2n) of its principal outstanding when it defaults (its exposure share e(n)). Both take
the schedule's principal as falling linearly; a level payment repays it a little slower, so both err
slightly low.

The price is paid to two parties (policy.RESERVE_FEE_BASIS, "expected_claims"):
- the reserve fee, the loan's origination fee, paid from the disbursal into the ReserveFund: the
  reserve's expected claim on the loan, PD x RESERVE_COVER x e(n) of principal, rounded up to a
  basis point (the reserve is never short-changed by rounding);
- the interest APR, paid to investors: base rate + PD x (LGD - RESERVE_COVER) / (n / 12), rounded
  up: the expected loss the reserve leaves them, PD x (LGD - cover) x e(n) of principal, spread over
  the WAL (interest at r earns r x WAL of principal, and e(n) / WAL = 12 / n).
The quoted APR, the one shown and held against the 36% line, is the interest APR plus the fee as a
yearly rate over the WAL (fee / WAL), rounded up: an estimate of the actuarial APR an offer states.
A fee above LoanBook's MAX_ORIGINATION_FEE_BPS cannot be put on chain: the application is declined.

Models trained before (no `reserve_fee_basis` in their artifact's policy) priced APR = base + a flat
reserve fee (1% a year) + PD x LGD / WAL, the whole principal taken as the exposure, and charged the
flat fee for the WAL as the origination fee; their decisions replay with it."""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from backend.scoring import policy

BPS = 10_000
EXPECTED_CLAIMS = "expected_claims"


def _bps_up(rate: float) -> int:
    """A rate in whole basis points, rounded up; round() first: 0.0725 * 1e4 is 724.9999..."""
    return math.ceil(round(rate * BPS, 6))


def weighted_average_life_years(term_months: int) -> float:
    return (term_months + 1) / 24.0


def exposure_share(term_months: int) -> float:
    """The average share of principal outstanding at default, defaults equally likely at any of the
    n installments of a level-payment schedule (principal taken as falling linearly)."""
    return (term_months + 1) / (2.0 * term_months)


def reserve_fee_bps(pd_: float, term_months: int, cover: float) -> int:
    """The origination fee under the expected-claims basis: the reserve's expected claim, PD x cover
    x e(n) of principal, in basis points, rounded up."""
    return _bps_up(pd_ * cover * exposure_share(term_months))


def uncovered_premium(pd_: float, term_months: int, cover: float) -> float:
    """Investors' risk premium, a yearly rate: the expected loss after the reserve's cover over the
    WAL, PD x (LGD - cover) x e(n) / WAL = PD x (LGD - cover) / (n / 12)."""
    return pd_ * (policy.LGD - cover) / (term_months / 12.0)


def reserve_fee_prepaid_bps(reserve_fee_bps_: int, term_months: int) -> int:
    """Models before the expected-claims basis: the origination fee was the flat yearly reserve fee
    for the loan's WAL, as a share of principal (rounded up)."""
    return math.ceil(reserve_fee_bps_ * weighted_average_life_years(term_months))


def risk_premium(pd_: float, term_months: int) -> float:
    """Models before the expected-claims basis: the whole expected loss, PD x LGD, over the WAL."""
    return pd_ * policy.LGD / weighted_average_life_years(term_months)


@dataclass(frozen=True)
class Price:
    apr_bps: int  # the quoted APR: interest plus the fee as a yearly rate
    interest_apr_bps: int  # the loan's on-chain APR, paid to investors
    origination_fee_bps: int  # the reserve fee, paid once from the disbursal
    basis: str | None  # EXPECTED_CLAIMS, or None: the flat fee of models before


def price(pd_: float, term_months: int, pricing: Mapping[str, Any] | None = None) -> Price:
    """The price of a loan of the grade's pricing PD over `term_months`, by `pricing`, the model's
    policy's (its artifact's copy; the installed policy's when None)."""
    pricing = policy.snapshot()["pricing"] if pricing is None else pricing
    if pricing.get("reserve_fee_basis") == EXPECTED_CLAIMS:
        cover = pricing["reserve_cover"]
        fee = reserve_fee_bps(pd_, term_months, cover)
        interest = _bps_up(policy.BASE_RATE + uncovered_premium(pd_, term_months, cover))
        quoted = math.ceil(round(interest + fee / weighted_average_life_years(term_months), 6))
        return Price(quoted, interest, fee, EXPECTED_CLAIMS)
    flat = pricing["reserve_fee"]
    quoted = _bps_up(policy.BASE_RATE + flat + risk_premium(pd_, term_months))
    return Price(quoted, quoted - round(flat * BPS), reserve_fee_prepaid_bps(round(flat * BPS), term_months), None)


def on_chain_price(quote_: Mapping[str, Any], term_months: int) -> tuple[int, int]:
    """(interest APR, origination fee), in basis points, that a loan priced by a decision's recorded
    quote carries: the quote's own fee where it states one; quotes of models before the
    expected-claims basis state only the flat yearly fee, prepaid for the WAL."""
    if "origination_fee_bps" in quote_:
        return quote_["interest_apr_bps"], quote_["origination_fee_bps"]
    flat = quote_["reserve_fee_bps"]
    return quote_["apr_bps"] - flat, reserve_fee_prepaid_bps(flat, term_months)


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
    if apr_bps_ > round(policy.MAX_APR * BPS):
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


# The amount enters these bins directly (credit_amount) and over the term (monthly_amount); the
# burden's bins move with the income band's instalment-rate code as well, and are not probed.
AMOUNT_BINNED = {"credit_amount": False, "monthly_amount": True}  # name -> its splits are per month


def probe_amounts(amount: int, term_months: int, rule: dict, features: list[dict]) -> list[int]:
    """The lower amounts the rule scores the application at, ascending. The `probe` share lower
    always; with `bin_edges` (review-fraud H4) also both sides of every edge of the amount's bins
    (`features`: the model artifact's) at or below the amount: the lowest whole amount of each bin
    and the highest of the one beneath it. Within a bin those inputs' points do not move, so a grade
    that rests on a narrow bin is seen whatever the amount inside it, not only within 5% of its edge."""
    probes = {probe_amount(amount, rule)}
    if rule.get("bin_edges"):
        for feature in features:
            if feature["name"] in AMOUNT_BINNED:
                per = term_months if AMOUNT_BINNED[feature["name"]] else 1
                for split in feature["splits"]:
                    lowest = math.ceil(split * per)
                    probes |= {lowest, lowest - 1}
        probes = {p for p in probes if policy.MIN_AMOUNT <= p < amount} | {probe_amount(amount, rule)}
    return sorted(probes)


def sensitivity_notes(grade: str, probe_grades: list[str], probes: list[int], rule: dict) -> list[str]:
    """An approval whose grade falls by the rule's `grade_jump` or more at any of `probe_amounts`
    rests on a narrow band of the amount the applicant chose (review-pricing H2, review-fraud H4): a
    note naming the nearest such amount, so it is referred."""
    jump = rule["grade_jump"]
    worse = [(p, g) for p, g in zip(probes, probe_grades, strict=True)
             if policy.GRADES.index(g) - policy.GRADES.index(grade) >= jump]  # fmt: skip
    if worse:
        probe, probe_grade = max(worse)
        return [f"{SENSITIVE}: at {probe} it would be grade {probe_grade}"]
    return []


FEE_CAP = "reserve fee above the contract's limit"


def fee_cap_notes(origination_fee_bps: int, pricing: Mapping[str, Any]) -> list[str]:
    """A reserve fee above LoanBook's MAX_ORIGINATION_FEE_BPS cannot be put on chain: a note that
    declines the application (`with_policy`). Models trained before the rule (no
    `max_origination_fee_bps` in their policy) had none: their flat fee never reached the limit."""
    cap = pricing.get("max_origination_fee_bps")
    if cap is not None and origination_fee_bps > cap:
        return [f"{FEE_CAP}: {origination_fee_bps / 100:.2f}% of the amount, the loan contract takes at most "
                f"{cap / 100:.2f}%"]  # fmt: skip
    return []


def with_policy(score_decision: str, notes: list[str]) -> str:
    """A fee the contract cannot take declines what the score would approve or refer (no underwriter
    can override a contract); any other broken policy rule refers an approval to a human."""
    if any(note.startswith(FEE_CAP) for note in notes):
        return "decline"
    return "refer" if notes and score_decision == "approve" else score_decision


@dataclass(frozen=True)
class Quote:
    apr_bps: int
    risk_premium_bps: int
    monthly_payment: float
    max_amount: int
    interest_apr_bps: int
    origination_fee_bps: int
    basis: str | None = EXPECTED_CLAIMS

    @property
    def apr(self) -> float:
        return self.apr_bps / BPS

    def to_json(self) -> dict:
        base = round(policy.BASE_RATE * BPS)
        stated = {
            "apr_bps": self.apr_bps,
            "base_rate_bps": base,
            # apr_bps = base_rate_bps + reserve_fee_bps + risk_premium_bps: the fee's yearly rate in the quote
            "reserve_fee_bps": self.apr_bps - self.interest_apr_bps,
            "risk_premium_bps": self.risk_premium_bps,
            "lgd": policy.LGD,
            "monthly_payment": self.monthly_payment,
            "max_amount": self.max_amount,
        }
        if self.basis is None:  # a model before the expected-claims basis: its quote as it was recorded
            return stated
        return {**stated, "interest_apr_bps": self.interest_apr_bps, "origination_fee_bps": self.origination_fee_bps,
                "reserve_fee_basis": self.basis}  # fmt: skip


def quote(grade_pd: float, amount: int, term_months: int, net_income: float, monthly_debt: float,
          period_days: int | None = policy.INSTALLMENT_PERIOD_DAYS,
          pricing: Mapping[str, Any] | None = None) -> Quote:  # fmt: skip
    """`period_days`: the model's policy's installment period; None for models trained before it.
    `pricing`: the model's policy's pricing (its artifact's copy; the installed policy's when None)."""
    priced = price(grade_pd, term_months, pricing)
    if period_days is None:
        payment = _monthly_annuity(amount, priced.apr_bps / BPS, term_months)
        limit = _monthly_max_amount(net_income, monthly_debt, priced.apr_bps / BPS, term_months)
    else:
        interest = priced.interest_apr_bps / BPS  # what the terms charge (lending/offers.py)
        payment = installment(amount, interest, term_months, period_days)
        limit = max_affordable_amount(net_income, monthly_debt, interest, term_months, period_days)
    return Quote(apr_bps=priced.apr_bps, risk_premium_bps=priced.interest_apr_bps - round(policy.BASE_RATE * BPS),
                 monthly_payment=round(payment, 2), max_amount=limit, interest_apr_bps=priced.interest_apr_bps,
                 origination_fee_bps=priced.origination_fee_bps, basis=priced.basis)  # fmt: skip
