import numpy as np
import pandas as pd
import pytest

from backend.errors import ValidationFailed
from backend.scoring.features import (
    CANDIDATE_INPUTS,
    CATEGORIES,
    PROTECTED,
    add_derived,
    required_inputs,
    validate_columns,
)


def _columns(frame: pd.DataFrame) -> dict:
    return {c: frame[c].to_numpy(dtype=object) for c in frame.columns}


@pytest.fixture(scope="module")
def raw(training_csv) -> pd.DataFrame:
    return pd.read_csv(training_csv, dtype=str, keep_default_na=False)


def test_codebook_domains_are_exactly_the_training_categories(raw):
    for name, allowed in CATEGORIES.items():
        assert set(raw[name]) == set(allowed), name


def test_protected_attributes_are_not_candidate_inputs():
    assert not set(PROTECTED) & set(CANDIDATE_INPUTS)


def test_valid_file_passes_and_types_numbers(raw):
    columns = validate_columns(_columns(raw), CANDIDATE_INPUTS)
    assert columns["credit_amount"].dtype == np.float64
    assert len(columns["purpose"]) == len(raw)


@pytest.mark.parametrize(
    ("field", "value", "problem"),
    [
        ("purpose", "holiday", "unknown category"),
        ("housing", "", "value is missing"),
        ("credit_amount", "0", "out of range"),
        ("credit_amount", "5000000", "out of range"),
        ("credit_amount", "12.5", "whole number"),
        ("duration_in_month", "twelve", "whole number"),
    ],
)
def test_bad_cell_names_field_and_row(raw, field, value, problem):
    frame = raw.copy()
    frame.loc[6, field] = value  # the 7th data row
    with pytest.raises(ValidationFailed) as err:
        validate_columns(_columns(frame), CANDIDATE_INPUTS)
    assert err.value.details["field"] == field
    assert err.value.details["row"] == 7
    assert field in err.value.message and "row 7" in err.value.message and problem in err.value.message


def test_missing_column_is_named(raw):
    with pytest.raises(ValidationFailed) as err:
        validate_columns(_columns(raw.drop(columns=["savings_account_and_bonds"])), CANDIDATE_INPUTS)
    assert err.value.details["field"] == "savings_account_and_bonds"
    assert "missing" in err.value.message


def test_several_errors_reported_at_once(raw):
    frame = raw.copy()
    frame.loc[0, "purpose"] = "x"
    frame.loc[1, "job"] = "y"
    with pytest.raises(ValidationFailed) as err:
        validate_columns(_columns(frame), CANDIDATE_INPUTS)
    assert [e["field"] for e in err.value.details["errors"]] == ["purpose", "job"]


def test_typed_numeric_arrays_are_checked_too():
    data = {"credit_amount": np.array([1000, 50]), "duration_in_month": np.array([12.0, 6.5])}
    with pytest.raises(ValidationFailed) as err:
        validate_columns(data, ["credit_amount", "duration_in_month"])
    fields = {(e["field"], e["row"]) for e in err.value.details["errors"]}
    assert fields == {("credit_amount", 2), ("duration_in_month", 2)}


def test_derived_features():
    rate = "installment_rate_in_percentage_of_disposable_income"
    columns = add_derived(
        {"credit_amount": np.array([1200.0]), "duration_in_month": np.array([12.0]), rate: np.array([3.0])}
    )
    assert columns["monthly_amount"][0] == 100.0
    assert columns["burden_weighted_amount"][0] == 3600.0


def test_derived_features_pull_in_their_sources():
    assert required_inputs(["burden_weighted_amount", "purpose"]) == [
        "credit_amount",
        "installment_rate_in_percentage_of_disposable_income",
        "purpose",
    ]


def test_many_bad_cells_are_summarised_with_the_allowed_values_once(raw):
    frame = raw.copy()
    frame["purpose"] = "holiday"
    with pytest.raises(ValidationFailed) as err:
        validate_columns(_columns(frame), CANDIDATE_INPUTS)
    message = err.value.message
    assert err.value.details["error_count"] == len(raw)
    assert f"... {len(raw) - 10} more" in message
    assert message.count("allowed purpose:") == 1 and "radio/television" in message
