"""`loanchain model evaluate`: how the shipped model does on a labelled file, and how the same
training recipe does under repeated stratified cross-validation on that file."""

from __future__ import annotations

from typing import Any

import numpy as np

from backend.scoring import metrics
from backend.scoring.builder import cv_summary
from backend.scoring.dataset import TRAINING_CSV, Dataset, file_sha256, load_dataset
from backend.scoring.features import required_inputs
from backend.scoring.scorer import Scorer
from backend.scoring.training import CrossValidation, Progress, TrainingConfig, clip_score, cross_validate


def shipped_model_report(dataset: Dataset, scorer: Scorer) -> dict[str, Any]:
    assert dataset.y_bad is not None
    y = dataset.y_bad
    batch = scorer.score_columns(dataset.columns)
    return {
        **metrics.discrimination(y, batch.score),
        "brier": metrics.brier(y, batch.pd),
        "calibration_by_decile": metrics.calibration_by_decile(y, batch.pd),
        **metrics.decision_outcomes(y, batch.decision),
    }


def cross_validated_report(
    cv: CrossValidation, config: TrainingConfig, scorer: Scorer, y_bad: np.ndarray
) -> dict[str, Any]:
    score = clip_score(cv.oof_points.ravel())
    _, decisions = scorer.grade_and_decision(score)
    pooled_y = np.tile(y_bad, cv.oof_points.shape[0])
    return {
        **cv_summary(cv, config),
        "pooled_out_of_fold_auc": metrics.auc(pooled_y, score),
        "decisions_at_shipped_cutoffs": metrics.decision_outcomes(pooled_y, decisions),
    }


def _row_keys(dataset: Dataset, inputs: list[str]) -> list[tuple]:
    """A row's identity: the model's inputs and the label. Protected attributes and unused columns
    are left out: an evaluation file need not carry them, and a row is the same applicant without."""
    columns = [dataset.columns[name] for name in sorted(inputs)]
    columns.append(dataset.y_bad)
    return list(zip(*(column.tolist() for column in columns), strict=True))


def rows_seen_in_training(dataset: Dataset, artifact: dict[str, Any]) -> int | None:
    """How many of the file's rows the model was trained on; None when the training file is not
    at hand (its hash must match the artifact's) to compare against."""
    if not TRAINING_CSV.is_file() or file_sha256(TRAINING_CSV) != artifact["training_data"]["sha256"]:
        return None
    if dataset.sha256 == artifact["training_data"]["sha256"]:
        return dataset.n_rows
    inputs = required_inputs([feature["name"] for feature in artifact["features"]])
    training = set(_row_keys(load_dataset(TRAINING_CSV), inputs))
    return sum(key in training for key in _row_keys(dataset, inputs))


def _sample_note(seen: int | None, rows: int) -> str:
    if seen is None:
        return "out-of-sample as far as can be checked (the training file is not at hand to compare rows)"
    if seen == 0:
        return "out-of-sample: no row of this file trained the model"
    if seen == rows:
        return "in-sample (optimistic): every row of this file trained the model"
    return f"partly in-sample (optimistic): {seen} of {rows} rows trained the model"


def evaluate(
    dataset: Dataset,
    scorer: Scorer,
    with_cv: bool = True,
    config: TrainingConfig | None = None,
    progress: Progress | None = None,
) -> dict[str, Any]:
    if dataset.y_bad is None:
        raise ValueError("evaluation needs the label column")
    artifact = scorer.artifact
    is_training_data = dataset.sha256 == artifact["training_data"]["sha256"]
    seen = rows_seen_in_training(dataset, artifact)
    report: dict[str, Any] = {
        "model_version": scorer.model_version,
        "data": {
            "file": str(dataset.path) if dataset.path else None,
            "sha256": dataset.sha256,
            "rows": dataset.n_rows,
            "bad_rate": float(dataset.y_bad.mean()),
            "is_training_data": is_training_data,
            "rows_seen_in_training": seen,
        },
        "cutoffs": scorer.cutoffs(),
        "shipped_model": {
            **shipped_model_report(dataset, scorer),
            "note": _sample_note(seen, dataset.n_rows),
        },
    }
    if with_cv:
        config = config or TrainingConfig.from_json(artifact["hyperparameters"])
        cv = cross_validate(dataset.columns, dataset.y_bad, config, progress)
        report["cross_validated"] = cross_validated_report(cv, config, scorer, dataset.y_bad)
    return report
