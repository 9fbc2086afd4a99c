"""The card's rendering and the fairness arithmetic, on cheap inputs (the real card re-fits the
model ~450 times; `loanchain model card` does that, not the test suite)."""

import numpy as np
import pytest

from backend.scoring import metrics
from backend.scoring.card import write_card
from backend.scoring.card_analysis import CardAnalysis
from backend.scoring.dataset import load_dataset
from backend.scoring.fairness import age_group_of, fairness_report, group_table, sex_of
from backend.scoring.training import CrossValidation, TrainingConfig


def test_sex_and_age_groups():
    assert sex_of(np.array(["male : single", "female : divorced/separated/married"])).tolist() == ["male", "female"]
    assert age_group_of(np.array([19.0, 24, 25, 40, 41, 75])).tolist() == ["<25", "<25", "25-40", "25-40", ">40", ">40"]


def test_adverse_impact_ratio_and_four_fifths_flag():
    groups = np.array(["a"] * 10 + ["b"] * 10, dtype=object)
    decision = np.array(["approve"] * 5 + ["decline"] * 5 + ["approve"] * 3 + ["decline"] * 7, dtype=object)
    y = np.array([0, 1] * 10)
    score = np.arange(20)
    rows = {r["group"]: r for r in group_table(groups, y, score, decision)}
    assert rows["a"]["adverse_impact_ratio"] == 1.0
    assert rows["b"]["adverse_impact_ratio"] == pytest.approx(0.6)
    assert rows["b"]["below_four_fifths"] and not rows["a"]["below_four_fifths"]


@pytest.fixture(scope="module")
def analysis(scorer, training_csv):
    dataset = load_dataset(training_csv)
    batch = scorer.score_columns(dataset.columns)  # stands in for out-of-fold scores
    y = dataset.y_bad
    folds = [{**metrics.discrimination(y, batch.score), "brier": metrics.brier(y, batch.pd)}] * 2
    cv = CrossValidation(folds=folds, oof_points=batch.score[np.newaxis, :].astype(float))
    config = TrainingConfig(repeats=1)
    spread = metrics.spread([0.78, 0.80])
    fairness = fairness_report(dataset.protected, y, batch.score, batch.decision)
    result = CardAnalysis(
        config=config,
        cv=cv,
        cv_report={
            "scheme": "test",
            **{k: metrics.spread([f[k] for f in folds]) for k in folds[0]},
            "pooled_out_of_fold_auc": 0.8,
            "decisions_at_shipped_cutoffs": metrics.decision_outcomes(y, batch.decision),
        },
        oof_score=batch.score,
        oof_pd=batch.pd,
        oof_y=y,
        oof_decision=batch.decision,
        candidates=[
            {"model": model, "kind": kind, "auc": spread, "reason_codes": "yes"}
            for model, kind in (("shipped", "shipped"), ("floor", "bin_floor"), ("hgb", "challenger"),
                                ("with protected", "reference"))
        ]
        + [{"model": "bagged", "kind": "bagged", "bags": 20, "bag_share": 0.8, "auc": spread, "reason_codes": "yes"}]
        + [{"model": "without", "kind": "ablation", "dropped": "monthly_amount", "auc": spread, "reason_codes": "-"}],
        fairness=fairness,
        group_calibration={"age": [{"group": "<25", "mean_pd": 0.3, "bad_rate": 0.4}]},
    )
    result.alternatives = [
        {
            "dropped": name,
            "auc": 0.78,
            "approval_rate": 0.3,
            "adverse_impact_ratios": {f"{a}:{g}": 0.6 for a, g, _ in result.flagged},
        }
        for name in ("(none: shipped recipe)", "housing")
    ]
    return result, dataset


def test_card_is_markdown_with_plots(tmp_path, scorer, analysis):
    result, dataset = analysis
    path = write_card(result, scorer, dataset, tmp_path)
    text = path.read_text()
    sections = ["## Data", "## Method", "## Candidates", "## Performance", "## Grades", "## Reason codes"]
    sections += ["## Fairness", "### By sex", "### By age", "## Scorecard: bins and points", "CC BY 4.0"]
    for section in sections:
        assert section in text, section
    assert f"PDO = {scorer.artifact['scaling']['pdo']}" in text
    for png in ("calibration.png", "score_distribution.png", "fairness.png"):
        assert (tmp_path / png).read_bytes()[:4] == b"\x89PNG"
        assert png in text
    assert "monthly_amount +0.000" in text  # the derived characteristic's lift, by name
    assert "averaging 20 scorecards fitted on 80% subsamples (still one\npoints table) changes it by +0.000" in text
    if result.flagged:
        assert "What was done" in text
    for feature in scorer.table.names:
        assert f"`{feature}`" in text
