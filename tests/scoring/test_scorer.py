import numpy as np
import pandas as pd
import pytest

from backend.errors import ValidationFailed
from backend.scoring.artifact import seal
from backend.scoring.dataset import load_dataset
from backend.scoring.scorer import Scorer


@pytest.fixture(scope="module")
def batch(scorer, training_csv):
    return scorer.score_columns(load_dataset(training_csv).columns)


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


def test_reasons_are_the_biggest_losses_against_the_best_bin(scorer, batch):
    row = int(np.argmin(batch.score))
    result = scorer.result(batch, row)
    columns = {f.name: f for f in scorer.table.features}
    losses = sorted(
        ((f.best_points - f.points[batch.bin_index[row, j]], f.name) for j, f in enumerate(scorer.table.features)),
        reverse=True,
    )
    assert [r.feature for r in result.reasons] == [name for lost, name in losses[:4]]
    assert all(r.feature in columns for r in result.reasons)


def test_characteristics_in_their_best_bin_are_never_reasons(scorer, batch):
    best = scorer.table.best_points
    for row in range(0, len(batch), 11):
        points = np.array([f.points[b] for f, b in zip(scorer.table.features, batch.bin_index[row])])
        at_best = {f.name for f, p, top in zip(scorer.table.features, points, best) if p == top}
        assert not at_best & {r.feature for r in scorer.reasons_of(batch, row)}


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
