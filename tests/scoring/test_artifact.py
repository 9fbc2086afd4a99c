import json

import pytest

from backend.errors import ConfigurationError
from backend.scoring.artifact import DEFAULT_ARTIFACT, model_version, read_artifact
from backend.scoring.dataset import file_sha256
from backend.scoring.features import PROTECTED


@pytest.fixture(scope="module")
def artifact():
    return read_artifact(DEFAULT_ARTIFACT)


def test_shipped_artifact_is_plain_json_inside_the_package(artifact):
    assert DEFAULT_ARTIFACT.suffix == ".json"
    assert "backend/scoring/artifacts" in DEFAULT_ARTIFACT.as_posix()
    json.loads(DEFAULT_ARTIFACT.read_text())  # no pickle anywhere


def test_model_version_is_the_keccak_of_the_content(artifact):
    assert artifact["model_version"] == model_version(artifact)
    assert artifact["model_version"].startswith("0x") and len(artifact["model_version"]) == 66


def test_edited_artifact_is_refused(tmp_path, artifact):
    edited = dict(artifact, intercept=artifact["intercept"] + 1)
    path = tmp_path / "edited.json"
    path.write_text(json.dumps(edited))
    with pytest.raises(ConfigurationError, match="does not match"):
        read_artifact(path)


def test_artifact_holds_what_an_auditor_needs(artifact, training_csv):
    for key in ("features", "scaling", "calibration", "grades", "policy", "metrics", "intercept", "hyperparameters"):
        assert key in artifact
    assert artifact["training_data"]["sha256"] == file_sha256(training_csv)
    for feature in artifact["features"]:
        assert {"points", "labels", "coefficient", "woe", "iv", "neutral_points"} <= set(feature)
    assert {"pdo", "base_odds", "base_score", "factor", "offset"} <= set(artifact["scaling"])
    assert [g["grade"] for g in artifact["grades"]] == list("ABCDEFG")
    assert artifact["metrics"]["cross_validated"]["auc"]["std"] > 0


def test_protected_attributes_are_not_model_inputs(artifact):
    names = {f["name"] for f in artifact["features"]}
    assert not names & set(PROTECTED)
    assert set(artifact["excluded_protected_attributes"]) == set(PROTECTED)
    assert not set(artifact["hyperparameters"]["candidate_features"]) & set(PROTECTED)


def test_theoretical_score_range_fits_the_product_band(artifact):
    scaling = artifact["scaling"]
    assert 300 <= scaling["theoretical_min"] < scaling["theoretical_max"] <= 850


def test_grade_pd_bands_increase_down_the_grades(artifact):
    grades = artifact["grades"]
    for better, worse in zip(grades, grades[1:]):
        assert better["min_score"] > worse["min_score"]
        assert better["pd_high"] <= worse["pd_low"] + 1e-9
        assert better["pd_mean_oof"] < worse["pd_mean_oof"]
