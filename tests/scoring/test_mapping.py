import typing

import pytest

from backend.errors import ConfigurationError
from backend.scoring import mapping, schemas
from backend.scoring.features import CATEGORIES, validate_columns
from backend.scoring.schemas import ApplicationCreate
from backend.scoring.scorer import get_scorer

CHOICE_TABLES = {
    "checking_account": (mapping.CHECKING, "status_of_existing_checking_account"),
    "credit_history": (mapping.CREDIT_HISTORY, "credit_history"),
    "purpose": (mapping.PURPOSE, "purpose"),
    "savings": (mapping.SAVINGS, "savings_account_and_bonds"),
    "employment_length": (mapping.EMPLOYMENT, "present_employment_since"),
    "guarantor": (mapping.GUARANTOR, "other_debtors_or_guarantors"),
    "property": (mapping.PROPERTY, "property"),
    "other_instalment_plans": (mapping.OTHER_PLANS, "other_installment_plans"),
    "housing": (mapping.HOUSING, "housing"),
}


@pytest.mark.parametrize("field", sorted(CHOICE_TABLES))
def test_every_form_choice_maps_onto_the_whole_codebook(field):
    table, feature = CHOICE_TABLES[field]
    choices = typing.get_args(ApplicationCreate.model_fields[field].annotation)
    assert set(table) == set(choices)
    assert set(table.values()) == set(CATEGORIES[feature])


def test_income_bands_all_have_a_floor():
    assert set(mapping.INCOME_FLOOR) == set(typing.get_args(schemas.IncomeBand))


@pytest.mark.parametrize(
    ("amount", "share", "code"),
    [
        (1000, "10%", 1),
        (1990, "19.9%", 1),
        (2000, "20%", 2),
        (2490, "24.9%", 2),
        (2500, "25%", 3),
        (3490, "34.9%", 3),
        (3500, "35%", 4),
    ],
)
def test_instalment_rate_code_bands(amount, share, code):
    """Principal per month (amount / 10 months) as a share of a 1000 income."""
    assert mapping.instalment_rate_code(amount, 10, 1000) == code


def test_no_income_is_the_heaviest_burden():
    assert mapping.instalment_rate_code(500, 10, 0) == 4


def test_mapped_application_is_valid_model_input(application):
    inputs = mapping.to_model_inputs(ApplicationCreate(**application))
    assert set(inputs) == set(mapping.MAPPED_FEATURES)
    validate_columns({k: [v] for k, v in inputs.items()}, list(inputs), row_offset=None)
    assert inputs["number_of_existing_credits_at_this_bank"] == application["existing_loans_with_us"] + 1


def test_the_shipped_model_only_needs_what_the_form_asks(scorer):
    mapping.check_covers(scorer.inputs)


def test_a_model_needing_an_unasked_input_is_a_configuration_error():
    with pytest.raises(ConfigurationError, match="telephone"):
        mapping.check_covers(["purpose", "telephone"])


def _score(scorer, application, **answers) -> int:
    return scorer.score_one(mapping.to_model_inputs(ApplicationCreate(**{**application, **answers}))).score


def test_answers_score_by_what_they_mean(scorer, application):
    """Everything else equal, a salaried or well-funded current account scores at least as well as
    none at all, and a clean record at this bank better than past delays (the UCI labels had these
    backwards; see mapping.CHECKING)."""
    assert _score(scorer, application, checking_account="200_plus_or_salary") >= _score(
        scorer, application, checking_account="none"
    )
    assert _score(scorer, application, credit_history="all_repaid_here") > _score(
        scorer, application, credit_history="past_delays"
    )


def test_the_model_version_names_the_mapping(scorer, monkeypatch):
    assert scorer.artifact["form_mapping"] == mapping.snapshot() and scorer.mapping_current
    monkeypatch.setitem(mapping.CHECKING, "none", "no checking account")
    assert not scorer.mapping_current
    with pytest.raises(ConfigurationError, match="mapping"):
        get_scorer()
