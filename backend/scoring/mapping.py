"""Product fields -> model inputs. The form speaks the product's language; the model speaks the
Statlog codebook's. This table is the only place the two meet (and the README prints it).

The data's money bands are in Deutsche Mark; the platform reads them as loan-currency units at
face value. That is a stated simplification, to be replaced by a model trained on own data."""

from __future__ import annotations

from typing import Any

from backend.errors import ConfigurationError
from backend.scoring.schemas import ApplicationCreate

# The data's labels for these two variables are the UCI codebook's, which are wrong (the corrected
# meanings, their source and the evidence: features.TRUE_MEANING). So each answer points at the data
# category that truly means it, not at the one whose UCI wording reads like it.
CHECKING = {
    "none": "... < 0 DM",
    "negative": "0 <= ... < 200 DM",
    "0_to_200": "... >= 200 DM / salary assignments for at least 1 year",
    "200_plus_or_salary": "no checking account",
}
CREDIT_HISTORY = {
    "past_delays": "no credits taken/ all credits paid back duly",
    "critical_or_credit_elsewhere": "all credits at this bank paid back duly",
    "no_credit_or_all_repaid": "existing credits paid back duly till now",
    "current_repaid_duly": "delay in paying off in the past",
    "all_repaid_here": "critical account/ other credits existing (not at this bank)",
}
PURPOSE = {
    "new_car": "car (new)",
    "used_car": "car (used)",
    "furniture": "furniture/equipment",
    "radio_tv": "radio/television",
    "appliances": "domestic appliances",
    "repairs": "repairs",
    "education": "education",
    "retraining": "retraining",
    "business": "business",
    "other": "others",
}
SAVINGS = {
    "none_or_unknown": "unknown/ no savings account",
    "under_100": "... < 100 DM",
    "100_to_500": "100 <= ... < 500 DM",
    "500_to_1000": "500 <= ... < 1000 DM",
    "1000_plus": "... >= 1000 DM",
}
EMPLOYMENT = {
    "unemployed": "unemployed",
    "under_1y": "... < 1 year",
    "1_to_4y": "1 <= ... < 4 years",
    "4_to_7y": "4 <= ... < 7 years",
    "7y_plus": "... >= 7 years",
}
GUARANTOR = {"none": "none", "co_applicant": "co-applicant", "guarantor": "guarantor"}
PROPERTY = {
    "real_estate": "real estate",
    "savings_or_life_insurance": "building society savings agreement/ life insurance",
    "car_or_other": "car or other, not in attribute Savings account/bonds",
    "none": "unknown / no property",
}
OTHER_PLANS = {"none": "none", "bank": "bank", "stores": "stores"}
HOUSING = {"rent": "rent", "own": "own", "free": "for free"}

# Lower edge of each net-income band: affordability and the instalment ratio use the least the
# applicant may earn, never a midpoint.
INCOME_FLOOR = {
    "under_500": 0,
    "500_to_1000": 500,
    "1000_to_2000": 1000,
    "2000_to_3500": 2000,
    "3500_to_5000": 3500,
    "5000_plus": 5000,
}

# Instalment (principal / term) as a share of income -> the codebook's 1..4 scale, where a
# higher code is a heavier burden (that is how the data's bad rate moves with it).
INSTALMENT_RATE_BANDS = ((0.20, 1), (0.25, 2), (0.35, 3))


# Model inputs the form provides (see to_model_inputs); a test keeps the two in step.
MAPPED_FEATURES = (
    "status_of_existing_checking_account",
    "duration_in_month",
    "credit_history",
    "purpose",
    "credit_amount",
    "savings_account_and_bonds",
    "present_employment_since",
    "installment_rate_in_percentage_of_disposable_income",
    "other_debtors_or_guarantors",
    "property",
    "other_installment_plans",
    "housing",
    "number_of_existing_credits_at_this_bank",
)


def instalment_rate_code(amount: int, term_months: int, net_income: float,
                         bands: tuple[tuple[float, int], ...] = INSTALMENT_RATE_BANDS) -> int:  # fmt: skip
    if net_income <= 0:
        return 4
    share = amount / term_months / net_income
    for limit, code in bands:
        if share < limit:
            return code
    return 4


# Form field -> (model input, answer -> data category): the one-to-one choices.
CHOICES: dict[str, tuple[str, dict[str, str]]] = {
    "checking_account": ("status_of_existing_checking_account", CHECKING),
    "credit_history": ("credit_history", CREDIT_HISTORY),
    "purpose": ("purpose", PURPOSE),
    "savings": ("savings_account_and_bonds", SAVINGS),
    "employment_length": ("present_employment_since", EMPLOYMENT),
    "guarantor": ("other_debtors_or_guarantors", GUARANTOR),
    "property": ("property", PROPERTY),
    "other_instalment_plans": ("other_installment_plans", OTHER_PLANS),
    "housing": ("housing", HOUSING),
}


def to_model_inputs(app: ApplicationCreate, form_mapping: dict[str, Any] | None = None) -> dict[str, Any]:
    """The application in the codebook's terms (german-credit column names), mapped as `form_mapping`
    (a model artifact's copy, see `snapshot`) says, or as this module does."""
    form_mapping = form_mapping or snapshot()
    choices, floors = form_mapping["choices"], form_mapping["income_floor"]
    bands = tuple((limit, code) for limit, code in form_mapping["instalment_rate_bands"])
    inputs: dict[str, Any] = {c["feature"]: c["answers"][getattr(app, field)] for field, c in choices.items()}
    inputs.update(
        {
            "duration_in_month": app.term_months,
            "credit_amount": app.amount,
            "installment_rate_in_percentage_of_disposable_income": instalment_rate_code(
                app.amount, app.term_months, floors[app.monthly_income_band], bands
            ),
            # The data counts the credit being applied for; the form asks for the others.
            "number_of_existing_credits_at_this_bank": app.existing_loans_with_us + 1,
        }
    )
    return {name: inputs[name] for name in MAPPED_FEATURES}


def at_amounts(app: ApplicationCreate, amounts: list[int], form_mapping: dict[str, Any] | None = None) -> dict[str, list]:
    """The application's model inputs as columns, one row per amount (the other answers as given):
    the amount moves the instalment-rate code too, so each row is mapped as `to_model_inputs` would."""
    form_mapping = form_mapping or snapshot()
    inputs = to_model_inputs(app, form_mapping)
    floor = form_mapping["income_floor"][app.monthly_income_band]
    bands = tuple((limit, code) for limit, code in form_mapping["instalment_rate_bands"])
    columns: dict[str, list] = {name: [value] * len(amounts) for name, value in inputs.items()}
    columns["credit_amount"] = list(amounts)
    columns["installment_rate_in_percentage_of_disposable_income"] = [
        instalment_rate_code(amount, app.term_months, floor, bands) for amount in amounts
    ]
    return columns

def snapshot() -> dict[str, Any]:
    """The mapping as JSON, stored in the artifact beside the policy: which data category an answer
    lands in decides the points, so the model version must name the mapping too."""
    return {
        "choices": {field: {"feature": feature, "answers": dict(table)} for field, (feature, table) in CHOICES.items()},
        "income_floor": dict(INCOME_FLOOR),
        "instalment_rate_bands": [[limit, code] for limit, code in INSTALMENT_RATE_BANDS],
        "instalment_rate_above_bands": 4,
        "amount": "credit_amount",
        "term_months": "duration_in_month",
        "existing_loans_with_us": "number_of_existing_credits_at_this_bank = n + 1",
    }


# The mapping of the models trained before artifacts recorded theirs (up to 0x616537ca…, before
# 2026-11-30): the UCI wording of checking account and credit history taken at its word, the rest as
# now. A decision one of them made is replayed with it, so it still reproduces.
LEGACY_ANSWERS = {
    "checking_account": {
        "none": "no checking account",
        "negative": "... < 0 DM",
        "0_to_200": "0 <= ... < 200 DM",
        "200_plus_or_salary": "... >= 200 DM / salary assignments for at least 1 year",
    },
    "credit_history": {
        "no_credit_or_all_repaid": "no credits taken/ all credits paid back duly",
        "all_repaid_here": "all credits at this bank paid back duly",
        "current_repaid_duly": "existing credits paid back duly till now",
        "past_delays": "delay in paying off in the past",
        "critical_or_credit_elsewhere": "critical account/ other credits existing (not at this bank)",
    },
}


def legacy_snapshot() -> dict[str, Any]:
    legacy = snapshot()
    for field, answers in LEGACY_ANSWERS.items():
        legacy["choices"][field]["answers"] = dict(answers)
    return legacy


def check_covers(model_inputs: list[str]) -> None:
    """Fail loudly if a (re)trained model needs an input the application form does not ask."""
    missing = [name for name in model_inputs if name not in MAPPED_FEATURES]
    if missing:
        raise ConfigurationError(
            "the model uses inputs the application form does not collect: " + ", ".join(missing), missing=missing
        )
