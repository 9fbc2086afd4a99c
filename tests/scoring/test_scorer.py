import numpy as np
import pandas as pd
import pytest

from backend.errors import ValidationFailed
from backend.scoring import mapping
from backend.scoring.artifact import seal
from backend.scoring.dataset import load_dataset
from backend.scoring.features import true_meaning
from backend.scoring.reasons import AMOUNT, BURDEN, BURDEN_FROM_CODE, INSTALMENT_RATE
from backend.scoring.schemas import ApplicationCreate
from backend.scoring.scorer import Scorer


@pytest.fixture(scope="module")
def batch(scorer, training_csv):
    return scorer.score_columns(load_dataset(training_csv).columns)


@pytest.fixture(scope="module")
def rates(training_csv):
    return np.asarray(load_dataset(training_csv).columns[INSTALMENT_RATE])


def test_scores_stay_in_the_product_band(batch):
    assert batch.score.min() >= 300 and batch.score.max() <= 850


def test_grade_and_decision_follow_the_stated_cutoffs(scorer, batch):
    cut = scorer.cutoffs()
    assert np.all((batch.decision == "approve") == (batch.score >= cut["approve_min_score"]))
    assert np.all((batch.decision == "decline") == (batch.score < cut["refer_min_score"]))
    for band in scorer.grades:
        members = batch.grade == band.grade
        assert np.all((batch.score[members] >= band.min_score) & (batch.score[members] <= band.max_score))


def test_pd_falls_as_score_rises(scorer):
    pds = scorer.pd_of_score(np.arange(300, 851))
    assert np.all(np.diff(pds) <= 0) and 0 < pds[-1] < pds[0] < 1


def test_pd_lies_in_its_grade_band(scorer, batch):
    for band in scorer.grades:
        members = batch.pd[batch.grade == band.grade]
        assert np.all((members >= round(band.pd_low, 6) - 1e-6) & (members <= round(band.pd_high, 6) + 1e-6))


def test_up_to_four_reasons_most_points_lost_first(scorer, batch):
    for row in range(0, len(batch), 37):
        reasons = scorer.reasons_of(batch, row)
        assert len(reasons) <= 4
        lost = [r.points_lost for r in reasons]
        assert lost == sorted(lost, reverse=True) and all(p > 0 for p in lost)
        assert all(r.text and r.code.startswith("R") for r in reasons)


def _losses(scorer, batch, row, rate) -> dict[str, int]:
    """Points lost per reason's feature, with the burden's folded into the amount at rate code 1."""
    lost = {f.name: f.best_points - f.points[batch.bin_index[row, j]] for j, f in enumerate(scorer.table.features)}
    if rate < BURDEN_FROM_CODE:
        lost[AMOUNT] = lost.get(AMOUNT, 0) + lost.pop(BURDEN)
    return lost


def test_reasons_are_the_biggest_losses_against_the_best_bin(scorer, batch, rates):
    for row in (int(np.argmin(batch.score)), *range(0, len(batch), 53)):
        result = scorer.result(batch, row)
        losses = sorted(_losses(scorer, batch, row, rates[row]).items(), key=lambda kv: -kv[1])
        assert sorted(r.points_lost for r in result.reasons) == sorted(lost for _, lost in losses[:4] if lost > 0)
        assert all(r.feature in {name for name, _ in losses} for r in result.reasons)


def test_characteristics_in_their_best_bin_are_never_reasons(scorer, batch, rates):
    for row in range(0, len(batch), 11):
        at_best = {name for name, lost in _losses(scorer, batch, row, rates[row]).items() if lost <= 0}
        assert not at_best & {r.feature for r in scorer.reasons_of(batch, row)}


def test_relative_to_income_only_when_the_repayment_weighs_on_income(scorer, batch, rates):
    """At instalment-rate code 1 the burden characteristic is the amount alone: its lost points
    are the amount's (R05), never R19 "relative to income"."""
    light = rates < BURDEN_FROM_CODE
    assert light.any() and (~light).any()
    given = {code: set() for code in ("R19", "R05")}
    for row in range(len(batch)):
        for r in scorer.reasons_of(batch, row):
            if r.code in given:
                given[r.code].add(bool(light[row]))
    assert given["R19"] == {False}
    assert True in given["R05"]


def test_credit_history_reason_names_the_applicants_own_history(scorer, application):
    """R03 states the applicant's credit history in its true meaning, never one they did not give."""
    seen = set()
    for answer, category in mapping.CREDIT_HISTORY.items():
        result = scorer.score_one(mapping.to_model_inputs(ApplicationCreate(**{**application, "credit_history": answer})))
        for r in result.reasons:
            if r.code == "R03":
                assert true_meaning("credit_history", category) in r.text
                seen.add(answer)
    assert "past_delays" in seen and "all_repaid_here" not in seen


def test_single_and_batch_agree(scorer, training_csv):
    frame = pd.read_csv(training_csv, dtype=str, keep_default_na=False)
    batch = scorer.score_records({c: frame[c].to_numpy(dtype=object) for c in scorer.inputs})
    for row in (0, 1, 399, 799):
        one = scorer.score_one({c: frame[c][row] for c in scorer.inputs})
        assert (one.score, one.grade, one.pd, one.decision) == (
            batch.score[row],
            batch.grade[row],
            batch.pd[row],
            batch.decision[row],
        )


def test_single_application_error_names_the_field(scorer, training_csv):
    frame = pd.read_csv(training_csv, dtype=str, keep_default_na=False)
    features = {c: frame[c][0] for c in scorer.inputs}
    features["savings_account_and_bonds"] = "a lot"
    with pytest.raises(ValidationFailed) as err:
        scorer.score_one(features)
    assert err.value.details["field"] == "savings_account_and_bonds"
    assert err.value.details["row"] is None


def test_category_unseen_in_training_gets_neutral_points(scorer, training_csv):
    """A codebook category a retrained model never saw scores at WoE 0, not as an error."""
    artifact = {**scorer.artifact}
    features = [dict(f) for f in artifact["features"]]
    purpose = next(f for f in features if f["name"] == "purpose")
    purpose["categories"] = {k: v for k, v in purpose["categories"].items() if k != "repairs"}
    partial = Scorer(seal({**artifact, "features": features}))
    frame = pd.read_csv(training_csv, dtype=str, keep_default_na=False)
    row = {c: frame[c][0] for c in partial.inputs}
    full_score = partial.score_one({**row, "purpose": "car (new)"}).score
    unseen = partial.score_one({**row, "purpose": "repairs"})
    car_points = purpose["points"][purpose["categories"]["car (new)"]]
    assert unseen.score - full_score == purpose["neutral_points"] - car_points
