"""Risk-based pricing and affordability.

The price is paid to two parties (policy.RESERVE_FEE_BASIS, "prudent_claims"), over the loan's own
level-payment schedule: n installments, one every `period_days`, at the on-chain interest APR x
period / 365 a period (r), as LoanBook amortises it. With a default equally likely at any
installment, the mean share of principal outstanding when it defaults is
    e = (1/n) x sum over k = 0..n-1 of ((1 + r)^n - (1 + r)^k) / ((1 + r)^n - 1)
(1 at n = 1; (n + 1) / (2n), a straight line, only at r = 0: a level payment repays principal
slower), and the weighted average life, the schedule's mean balance over its term, is
WAL = e x n x period / 365 years.
- the reserve fee, the loan's origination fee, paid from the disbursal into the ReserveFund: the
  reserve's claim on the loan at a prudent PD, PD_fee x RESERVE_COVER x e of principal, rounded up to
  a basis point (the reserve is never short-changed by rounding). PD_fee is the top of the grade's
  PD band (policy.py says why);
- the interest APR, paid to investors: base rate + PD x (LGD - RESERVE_COVER) x e / WAL, with PD the
  grade's mean, rounded up: the expected loss the reserve leaves them spread over the WAL (interest
  at i earns i x WAL of principal; e / WAL = 365 / (n x period)). e depends on the interest APR, the
  interest APR not on e, so the interest APR is set first and e read at it.
The quoted APR, the one shown and held against the 36% line, is the interest APR plus the fee as a
yearly rate over the WAL (fee / WAL), rounded up: an estimate of the actuarial APR an offer states.
A fee above LoanBook's MAX_ORIGINATION_FEE_BPS cannot be put on chain: the application is declined.

Models trained before keep their own basis, read from their artifact's policy, so their decisions
replay: "expected_claims" (up to 0x0204544e...) priced the fee at the grade's mean PD and both e and
the WAL on a linearly falling principal, e = (n + 1) / (2n), WAL = (n + 1) / 24 years; before that
(no `reserve_fee_basis`) APR = base + a flat reserve fee (1% a year) + PD x LGD / WAL, the whole
principal taken as the exposure, with the flat fee for the WAL as the origination fee."""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from backend.scoring import policy

BPS = 10_000
EXPECTED_CLAIMS = "expected_claims"  # the fee at the mean PD over a linear principal (up to 0x0204544e...)
PRUDENT_CLAIMS = "prudent_claims"  # the fee at the band's top PD over the loan's own schedule


def _bps_up(rate: float) -> int:
    """A rate in whole basis points, rounded up; round() first: 0.0725 * 1e4 is 724.9999..."""
    return math.ceil(round(rate * BPS, 6))


def weighted_average_life_years(term_months: int) -> float:
    """The expected-claims basis's WAL: principal taken as falling linearly over n months."""
    return (term_months + 1) / 24.0


def exposure_share(term_months: int) -> float:
    """The expected-claims basis's mean share of principal outstanding at default, defaults equally
    likely at any of the n installments, principal taken as falling linearly: (n + 1) / (2n)."""
    return (term_months + 1) / (2.0 * term_months)


def amortised_exposure_share(installments: int, interest_apr: float, period_days: int) -> float:
    """The mean share of principal outstanding when a default comes, equally likely at any of the
    `installments`, on the level-payment schedule LoanBook amortises at `interest_apr` (its rate per
    period, `_period_rate`): the balance before installment k + 1 is ((1 + r)^n - (1 + r)^k) /
    ((1 + r)^n - 1) of principal. Summed, not in closed form (g / (g - 1) - 1 / (n r)), which loses
    digits to cancellation at small r; at r = 0 it is the straight line, (n + 1) / (2n)."""
    n, r = installments, _period_rate(interest_apr, period_days)
    if r == 0:
        return exposure_share(n)
    growth = (1.0 + r) ** n
    return math.fsum((growth - (1.0 + r) ** k) / (growth - 1.0) for k in range(n)) / n


def amortised_wal_years(installments: int, interest_apr: float, period_days: int) -> float:
    """The schedule's weighted average life in years: each period's balance for `period_days`, i.e.
    the mean share outstanding at an installment x the term in years."""
    return _wal_years(amortised_exposure_share(installments, interest_apr, period_days), installments, period_days)


def _wal_years(exposure: float, installments: int, period_days: int) -> float:
    """A schedule's WAL from its mean share outstanding at an installment: that share x the term in years."""
    return exposure * installments * period_days / 365.0


def reserve_fee_bps(pd_: float, term_months: int, cover: float) -> int:
    """The origination fee under the expected-claims basis: the reserve's expected claim at the mean
    PD, PD x cover x (n + 1) / (2n) of principal, in basis points, rounded up."""
    return _bps_up(pd_ * cover * exposure_share(term_months))


def uncovered_premium(pd_: float, term_months: int, cover: float) -> float:
    """Investors' risk premium under the expected-claims basis, a yearly rate: the expected loss after
    the reserve's cover over the linear WAL, PD x (LGD - cover) x e(n) / WAL = PD x (LGD - cover) / (n / 12)."""
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
    basis: str | None  # PRUDENT_CLAIMS, EXPECTED_CLAIMS, or None: the flat fee of models before


def price(pd_: float, term_months: int, pricing: Mapping[str, Any] | None = None, *, fee_pd: float | None = None,
          period_days: int | None = policy.INSTALLMENT_PERIOD_DAYS) -> Price:  # fmt: skip
    """The price of a loan of the grade's mean PD `pd_` over `term_months`, by `pricing`, the model's
    policy's (its artifact's copy; the installed policy's when None). Under the prudent basis the
    fee is priced at `fee_pd`, the top of the grade's PD band, over installments every `period_days`
    (the model's policy's); the older bases read neither."""
    pricing = policy.snapshot()["pricing"] if pricing is None else pricing
    basis = pricing.get("reserve_fee_basis")
    if basis == PRUDENT_CLAIMS:
        if fee_pd is None or period_days is None:
            # Priced at the mean, the reserve would lose its margin without anyone noticing.
            raise ValueError("the prudent_claims basis prices the reserve fee at the grade's band top: pass fee_pd "
                             "and period_days")  # fmt: skip
        cover, n = pricing["reserve_cover"], term_months
        premium = pd_ * (pricing["lgd"] - cover) * 365.0 / (n * period_days)  # the uncovered loss x e / WAL
        interest = _bps_up(pricing["base_rate"] + premium)
        e = amortised_exposure_share(n, interest / BPS, period_days)
        fee = _bps_up(fee_pd * cover * e)
        quoted = math.ceil(round(interest + fee / _wal_years(e, n, period_days), 6))
        return Price(quoted, interest, fee, PRUDENT_CLAIMS)
    if basis == EXPECTED_CLAIMS:
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
    basis: str | None = PRUDENT_CLAIMS

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
          pricing: Mapping[str, Any] | None = None, *, fee_pd: float | None = None) -> Quote:  # fmt: skip
    """`period_days`: the model's policy's installment period; None for models trained before it.
    `pricing`: the model's policy's pricing (its artifact's copy; the installed policy's when None).
    `fee_pd`: the top of the grade's PD band, which the prudent basis prices the reserve fee at."""
    priced = price(grade_pd, term_months, pricing, fee_pd=fee_pd, period_days=period_days)
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
