import warnings
from dataclasses import replace

import numpy as np
import pandas as pd
import pytest

from backend.scoring import training
from backend.scoring.builder import build_artifact
from backend.scoring.dataset import load_dataset
from backend.scoring.scorer import Scorer


@pytest.fixture(scope="module")
def dataset(training_csv):
    return load_dataset(training_csv)


@pytest.fixture(scope="module")
def fitted(dataset):
    return training.fit(dataset.columns, dataset.y_bad, training.TrainingConfig())


def test_json_tables_score_exactly_like_optbinning(dataset, fitted):
    """The serving tables are a faithful export of the optbinning Scorecard."""
    config = training.TrainingConfig()
    reference = training.build_scorecard(config)
    frame = pd.DataFrame({name: dataset.columns[name] for name in config.features})
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        reference.fit(frame, dataset.y_bad)
        expected = reference.score(frame)
    assert np.array_equal(fitted.table.points_matrix(dataset.columns).sum(axis=1), expected)


def test_fitting_is_deterministic(dataset, fitted):
    again = training.fit(dataset.columns, dataset.y_bad, training.TrainingConfig())
    assert again.features_json == fitted.features_json and again.intercept == fitted.intercept


def test_a_trained_artifact_is_versioned_and_serves(dataset):
    small = dataset.subset(np.arange(0, dataset.n_rows, 2))  # half the rows keeps the test quick
    small.sha256, small.path = dataset.sha256, dataset.path
    artifact = build_artifact(small, replace(training.TrainingConfig(), folds=2, repeats=1))
    assert artifact["model_version"].startswith("0x")
    assert artifact["training_data"]["sha256"] == dataset.sha256
    assert artifact["hyperparameters"]["cv_folds"] == 2
    Scorer(artifact).score_columns(small.columns)


def test_monotonic_characteristics_keep_their_shape(scorer):
    by_name = {f.name: f for f in scorer.table.features}
    duration = by_name["duration_in_month"].points  # longer term, fewer points
    assert list(duration) == sorted(duration, reverse=True)
    rate = by_name["installment_rate_in_percentage_of_disposable_income"].points
    assert list(rate) == sorted(rate, reverse=True)


def test_protected_attributes_are_refused_as_inputs(dataset):
    config = replace(training.TrainingConfig(), features=(*training.TrainingConfig().features, "age_in_years"))
    with pytest.raises(ValueError, match="age_in_years"):
        build_artifact(dataset, config)


def test_cross_validation_does_not_depend_on_the_worker_count(dataset):
    config = replace(training.TrainingConfig(), folds=2, repeats=1)
    serial = training.cross_validate(dataset.columns, dataset.y_bad, config, n_jobs=1)
    parallel = training.cross_validate(dataset.columns, dataset.y_bad, config, n_jobs=2)
    assert np.array_equal(serial.oof_points, parallel.oof_points) and serial.folds == parallel.folds


def test_calibration_recovers_a_known_slope():
    rng = np.random.default_rng(0)
    points = rng.uniform(400, 750, size=(3, 2000))
    true_pd = 1 / (1 + np.exp(-(10 - 0.02 * points[0])))
    y = (rng.uniform(size=2000) < true_pd).astype(int)
    calibration = training.calibrate(points[:1], y)
    assert calibration["b"] == pytest.approx(-0.02, rel=0.15)
