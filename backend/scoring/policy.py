"""Credit policy in one place: scaling, grades, cut-offs, pricing and affordability. These are
business decisions, stated here and printed in the README and the model card, and copied into
every artifact so a decision can be replayed with the exact policy that made it."""

from __future__ import annotations

from typing import Any

from backend.chain import deploy_params

# --- points scaling (PDO) ------------------------------------------------------------------
# 600 points at good:bad odds of 10:1, and every 30 points double the odds. Chosen so that the
# scorecard's whole theoretical range falls inside the 300-850 band the product shows.
PDO = 30
BASE_ODDS = 10.0
BASE_SCORE = 600
SCORE_MIN, SCORE_MAX = 300, 850

# --- grades ----------------------------------------------------------------------------------
# Upper PD limit of each grade (calibrated PD, out of fold). G is everything above F.
GRADE_PD_UPPER: dict[str, float] = {
    "A": 0.06,
    "B": 0.10,
    "C": 0.15,
    "D": 0.22,
    "E": 0.32,
    "F": 0.45,
    "G": 1.0,
}
GRADES = tuple(GRADE_PD_UPPER)

# --- decisions ---------------------------------------------------------------------------------
APPROVE_GRADES = ("A", "B", "C")
REFER_GRADES = ("D", "E")  # a human underwriter decides; priced as for approval
DECLINE_GRADES = ("F", "G")

# --- a grade resting on the exact amount asked for ------------------------------------------------
# The amount is in the score three times, and two narrow bins of the amount and of the monthly
# repayment (49 and 45 training rows) are worth about 100 points together: a 100-token change can
# move an applicant two grades, and the applicant chooses the amount. Binning them coarser or
# monotonic cost cross-validated AUC (0.792 -> 0.777), so instead an approval whose grade would
# fall by GRADE_JUMP or more at an amount AMOUNT_PROBE lower is referred to an underwriter. A fixed
# share probes only near a bin's lower edge: deep inside the 93-point credit_amount bin a 5% lower
# amount is still in it (review-fraud H4), so with AMOUNT_BIN_EDGES the rule also scores each side of
# every edge of the amount's and the monthly amount's bins below the amount asked for.
AMOUNT_PROBE = 0.05
GRADE_JUMP = 2
AMOUNT_BIN_EDGES = True

# --- pricing -------------------------------------------------------------------------------------
BASE_RATE = 0.05  # funding cost + platform margin, per year
LGD = 0.85  # loss given default, unsecured consumer credit (~15% recovered after charge-off)
MAX_APR = 0.36  # above this an automatic approval becomes a referral (high-cost credit line)
# The reserve fee (the loan's origination fee, paid from the disbursal into the ReserveFund) is the
# reserve's claim on the loan at a prudent PD: PD_fee x RESERVE_COVER x the mean share of principal
# outstanding at default, read from the loan's own level-payment schedule at its on-chain rate.
# PD_fee is the top of the grade's out-of-fold PD band (the calibrated PD of the grade's lowest
# score), not its mean: every loan's fee then covers its own expected claim as the model sees it,
# whatever the mix of scores inside the grade (applicants choose the amount and term, which move the
# score), and the grade's mean PD can prove 19-52% low (D-A) before the fee falls short. That margin
# is 0.6-0.9 standard errors of each grade's bad rate on its 72-99 out-of-fold rows: prudent, not a
# worst case. A one-sided 95% bound on so few rows (A 8.8%, B 14.8%, against means of 3.9% and 8.0%)
# would price the grades by their sample noise more than by their risk, and the grades' observed
# rates all lie within a standard error of their means. Investors' interest carries only the loss the
# reserve does not cover, at the grade's mean PD, PD x (LGD - RESERVE_COVER). Models before priced
# the fee at the mean PD over a linearly falling principal ("expected_claims"), and before that a
# flat 1% a year prepaid for the weighted average life (no basis); their decisions replay so.
RESERVE_FEE_BASIS = "prudent_claims"
RESERVE_COVER = 0.80  # ReserveFund.coverageRatioBps / 10_000 (deploy_params.COVERAGE_RATIO_BPS); offers check it
# LoanBook refuses a fee above its MAX_ORIGINATION_FEE_BPS: a loan whose reserve fee would exceed it
# cannot be put on chain, so the application is declined (no underwriter can override a contract).
MAX_ORIGINATION_FEE_BPS = deploy_params.MAX_ORIGINATION_FEE_BPS

# --- product limits and affordability ---------------------------------------------------------
MIN_AMOUNT, MAX_AMOUNT = 250, 20_000
MIN_TERM, MAX_TERM = 6, 60
AMOUNT_STEP = 50  # the maximum amount is rounded down to this
DEBT_SERVICE_RATIO = 0.35  # all monthly debt payments incl. this loan <= 35% of net income
# Installments fall every 30 days (LOANCHAIN_INSTALLMENT_PERIOD_DAYS, which offers check against
# this): 365/30 a year, so affordability counts the loan's installments at that pace, not 12 a year.
INSTALLMENT_PERIOD_DAYS = 30


def snapshot() -> dict[str, Any]:
    """The policy as JSON, stored in the artifact (and so covered by the model version)."""
    return {
        "scaling": {
            "pdo": PDO,
            "base_odds": BASE_ODDS,
            "base_score": BASE_SCORE,
            "score_min": SCORE_MIN,
            "score_max": SCORE_MAX,
        },
        "grade_pd_upper": dict(GRADE_PD_UPPER),
        "decisions": {"approve": list(APPROVE_GRADES), "refer": list(REFER_GRADES), "decline": list(DECLINE_GRADES)},
        "pricing": {"base_rate": BASE_RATE, "lgd": LGD, "max_apr": MAX_APR, "reserve_fee_basis": RESERVE_FEE_BASIS,
                    "reserve_cover": RESERVE_COVER, "max_origination_fee_bps": MAX_ORIGINATION_FEE_BPS},
        "amount_sensitivity": {"probe": AMOUNT_PROBE, "grade_jump": GRADE_JUMP, "bin_edges": AMOUNT_BIN_EDGES},
        "product": {
            "min_amount": MIN_AMOUNT,
            "max_amount": MAX_AMOUNT,
            "min_term": MIN_TERM,
            "max_term": MAX_TERM,
            "amount_step": AMOUNT_STEP,
            "debt_service_ratio": DEBT_SERVICE_RATIO,
            "installment_period_days": INSTALLMENT_PERIOD_DAYS,
        },
    }
