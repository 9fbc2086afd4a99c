import pytest


def test_score_returns_the_recorded_decision(api, application):
    response = api.post("/api/v1/score", json=application)
    assert response.status_code == 201
    body = response.json()
    assert {"id", "model_version", "input_hash", "decision_hash", "score", "grade", "grade_band", "pd", "decision",
            "cutoffs", "reasons", "quote", "policy_notes"} <= set(body)  # fmt: skip
    assert 300 <= body["score"] <= 850 and body["grade"] in "ABCDEFG"
    again = api.get(f"/api/v1/score/{body['id']}")
    assert again.status_code == 200 and again.json()["decision_hash"] == body["decision_hash"]


def test_same_application_same_hash_over_http(api, application):
    first = api.post("/api/v1/score", json=application).json()
    second = api.post("/api/v1/score", json=application).json()
    assert first["decision_hash"] == second["decision_hash"] and first["id"] != second["id"]


def _field_errors(response) -> set[str]:
    assert response.status_code == 422, response.text
    body = response.json()
    named = {str(item["loc"][-1]) for item in body["fields"]}
    assert all(f"{name}:" in body["detail"] for name in named), body  # the words name each field too
    return named


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("purpose", "holiday"),
        ("housing", "castle"),
        ("amount", 1_000_000),
        ("amount", 0),
        ("term_months", 240),
        ("existing_loans_with_us", -1),
        ("monthly_income_band", "lots"),
    ],
)
def test_bad_field_is_a_422_naming_it(api, application, field, value):
    assert field in _field_errors(api.post("/api/v1/score", json={**application, field: value}))


@pytest.mark.parametrize("field", ["amount", "term_months", "monthly_debt_payments", "existing_loans_with_us"])
@pytest.mark.parametrize("value", [False, True])
def test_a_boolean_is_not_a_number(api, application, field, value):
    """Lax parsing would score `false` debt as 0 and `true` loans as 1."""
    assert field in _field_errors(api.post("/api/v1/score", json={**application, field: value}))


def test_missing_field_is_a_422_naming_it(api, application):
    del application["savings"]
    assert "savings" in _field_errors(api.post("/api/v1/score", json=application))


def test_unknown_extra_field_is_refused(api, application):
    assert "age" in _field_errors(api.post("/api/v1/score", json={**application, "age": 30}))


def test_unknown_decision_is_404(api):
    assert api.get("/api/v1/score/does-not-exist").status_code == 404
