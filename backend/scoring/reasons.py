"""Reason codes (ECOA / Regulation B adverse-action practice): the characteristics that cost the
applicant the most points against the best bin of that characteristic, in plain language."""

from __future__ import annotations

import numpy as np

from backend.scoring import policy
from backend.scoring.features import true_meaning
from backend.scoring.pricing import FEE_CAP

MAX_REASONS = 4

# feature -> (code, statement). Statements describe the factor, not the applicant, in the style
# of the Reg B model form (12 CFR 1002, appendix C) so they read well whatever the bin; the
# characteristics in BIN_WORDED are worded from the applicant's own bin instead (see statement).
REASONS: dict[str, tuple[str, str]] = {
    "status_of_existing_checking_account": ("R01", "Checking account balance or history"),
    "duration_in_month": ("R02", "Length of the loan term requested"),
    "credit_history": ("R03", "Credit history"),
    "purpose": ("R04", "Purpose of the loan"),
    "credit_amount": ("R05", "Amount of credit requested"),
    "savings_account_and_bonds": ("R06", "Insufficient savings or liquid assets"),
    "present_employment_since": ("R07", "Length of employment"),
    "installment_rate_in_percentage_of_disposable_income": ("R08", "Repayments are high relative to income"),
    "other_debtors_or_guarantors": ("R09", "No guarantor on the application"),
    "present_residence_since": ("R10", "Length of residence at current address"),
    "property": ("R11", "Value or type of assets or collateral"),
    "other_installment_plans": ("R12", "Other instalment credit obligations"),
    "housing": ("R13", "Housing status"),
    "number_of_existing_credits_at_this_bank": ("R14", "Number of existing credits with us"),
    "job": ("R15", "Type of employment"),
    "number_of_people_being_liable_to_provide_maintenance_for": ("R16", "Number of dependants"),
    "telephone": ("R17", "No telephone registered in the applicant's name"),
    "monthly_amount": ("R18", "Monthly repayment requested"),
    "burden_weighted_amount": ("R19", "Amount requested relative to income"),
}

# No single wording of credit history is true in every bin below the best one (one bin is past
# delays, another is credits repaid duly so far), so the statement names the applicant's bin in
# its true meaning (features.TRUE_MEANING), under the UI's "what lowered your score, against the
# best answer to each".
BIN_WORDED = frozenset({"credit_history"})

# burden_weighted_amount is amount x instalment-rate code; at code 1 (repayment under 20% of
# income) it is the amount alone, so "relative to income" would be false: those lost points are
# given as the amount's reason instead.
BURDEN, AMOUNT, INSTALMENT_RATE = (
    "burden_weighted_amount",
    "credit_amount",
    "installment_rate_in_percentage_of_disposable_income",
)
BURDEN_FROM_CODE = 2


# The credit policy's own rules (service.decide): when one turns what the score would approve into
# a referral, it, not the score, is the principal reason for not approving automatically, and for a
# decline on review (Reg B: "Excessive obligations in relation to income", "Income insufficient for
# amount of credit requested"). Outside the scorecard, so never "what lowered your score".
POLICY_REASONS: dict[str, tuple[str, str]] = {
    "obligations": ("R20", "Excessive obligations in relation to income: existing debt payments and this loan's "
                           "would take more than {dsr:.0%} of income"),
    "income": ("R21", "Income insufficient for the amount of credit requested: its repayments would take more than "
                      "{dsr:.0%} of income"),
    "apr": ("R22", "The price of credit over this term is above our {cap:.0%} APR limit; a longer term lowers it"),
    "sensitive": ("R23", "Amount of credit requested: the assessment rests on the exact amount, and a slightly lower "
                         "amount is assessed as much riskier"),
    # A decline, not a referral: the fee that funds the reserve's cover of this loan would be above
    # what the loan contract may charge, and no underwriter can override a contract.
    "reserve": ("R24", "Risk too high for the platform's reserve to cover: the fee that funds the reserve's cover of "
                       "this loan would be more than the {fee_cap:.0%} of the amount our loan contract allows"),
}


def policy_reasons(inputs: dict, outputs: dict) -> list[dict[str, str]]:
    """The policy rules a decision's application did not meet, as reasons (code, text), from its
    recorded inputs, quote and notes: the reserve fee above the contract's limit (a decline, with no
    quote), the affordability rule (existing debt named when there is any), the APR line, then the
    amount the assessment rests on."""
    quote = outputs.get("quote") or {}
    notes = outputs.get("policy_notes") or []
    found = []
    if any(note.startswith(FEE_CAP) for note in notes):
        found.append("reserve")
    if quote and inputs.get("amount", 0) > quote["max_amount"]:
        found.append("obligations" if inputs.get("monthly_debt_payments") else "income")
    if quote and quote["apr_bps"] > round(policy.MAX_APR * 10_000):
        found.append("apr")
    if any(note.startswith("grade rests on the exact amount") for note in notes):
        found.append("sensitive")
    return [{"code": POLICY_REASONS[k][0],
             "text": POLICY_REASONS[k][1].format(dsr=policy.DEBT_SERVICE_RATIO, cap=policy.MAX_APR,
                                                 fee_cap=policy.MAX_ORIGINATION_FEE_BPS / 10_000)} for k in found]  # fmt: skip


def reason(feature: str) -> tuple[str, str]:
    return REASONS.get(feature, ("R99", feature.replace("_", " ")))


# The texts of models trained before these rules (artifacts without a `form_mapping`, up to
# 0x616537ca…): their decisions are replayed with them, so a recorded reason still reproduces.
LEGACY_TEXTS = {"credit_history": "Credit history: past delays, or limited credit experience"}


def statement(feature: str, bin_label: str | None, legacy: bool = False) -> str:
    """The reason's text for an applicant whose `feature` fell in the bin labelled `bin_label`
    (`legacy`: as models older than bin-worded reasons gave it)."""
    _, text = reason(feature)
    if legacy:
        return LEGACY_TEXTS.get(feature, text)
    if feature in BIN_WORDED and bin_label:
        return f"{text}: " + true_meaning(feature, bin_label).replace(" | ", ", or ")
    return text


def top_reasons(lost: np.ndarray, limit: int = MAX_REASONS) -> tuple[np.ndarray, np.ndarray]:
    """For each row: the indices of the reasons (columns of `lost`, points lost against the best
    bin) losing the most points (ties: column order), and the points lost. Padded with -1 / 0
    where fewer than `limit` reasons lost anything."""
    order = np.argsort(-lost, axis=1, kind="stable")[:, :limit]
    lost_top = np.take_along_axis(lost, order, axis=1)
    order = np.where(lost_top > 0, order, -1)
    return order, np.where(lost_top > 0, lost_top, 0)
