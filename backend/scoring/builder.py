"""`loanchain model train`: fit, cross-validate, calibrate out of fold, cut grades, and write
the artifact. The artifact carries everything a decision needs and everything an auditor asks:
bins, points, coefficients, scaling, grade bands, policy, data hash and metrics."""

from __future__ import annotations

import platform
from importlib.metadata import version
from typing import Any

import numpy as np

from backend.scoring import mapping, metrics, policy
from backend.scoring.artifact import FORMAT, seal
from backend.scoring.dataset import Dataset
from backend.scoring.features import LABEL, PROTECTED
from backend.scoring.scorer import Scorer
from backend.scoring.training import (
    CrossValidation,
    Progress,
    TrainingConfig,
    calibrate,
    calibrated_pd,
    clip_score,
    cross_validate,
    fit,
    grade_bands,
)


def _versions() -> dict[str, str]:
    return {
        "python": platform.python_version(),
        **{name: version(name) for name in ("optbinning", "scikit-learn", "numpy", "pandas")},
    }


def cv_summary(cv: CrossValidation, config: TrainingConfig) -> dict[str, Any]:
    return {
        "scheme": f"stratified {config.folds}-fold, repeated {config.repeats}x (seed {config.seed})",
        **{name: metrics.spread([fold[name] for fold in cv.folds]) for name in cv.folds[0]},
    }


def oof_decisions(cv: CrossValidation, scorer: Scorer, y_bad: np.ndarray) -> dict[str, Any]:
    """Approval rate and bad rate among approved if every applicant had been scored by a model
    that never saw them (pooled over the CV repeats), at the artifact's cut-offs."""
    _, decisions = scorer.grade_and_decision(clip_score(cv.oof_points.ravel()))
    return metrics.decision_outcomes(np.tile(y_bad, cv.oof_points.shape[0]), decisions)


def build_artifact(dataset: Dataset, config: TrainingConfig, progress: Progress | None = None) -> dict[str, Any]:
    if dataset.y_bad is None:
        raise ValueError("training needs the label column")
    if used := sorted(set(config.features) & set(PROTECTED)):
        raise ValueError(f"protected attributes cannot be model inputs: {', '.join(used)}")
    y = dataset.y_bad
    cv = cross_validate(dataset.columns, y, config, progress)
    calibration = calibrate(cv.oof_points, y)
    fitted = fit(dataset.columns, y, config)
    if progress:
        progress()
    low, high = fitted.table.score_range
    body: dict[str, Any] = {
        "format": FORMAT,
        "method": "optbinning BinningProcess (optimal binning, WoE) + L2 logistic regression, "
        "optbinning Scorecard with PDO scaling and integer points",
        "training_data": {
            "file": dataset.path.name if dataset.path else None,
            "sha256": dataset.sha256,
            "rows": int(dataset.n_rows),
            "bad_rate": float(y.mean()),
            "label": {"column": LABEL, "bad": "bad", "good": "good"},
            "source": "UCI Statlog (German Credit Data), Hofmann 1994, CC BY 4.0",
        },
        "excluded_protected_attributes": list(PROTECTED),
        "hyperparameters": config.to_json(),
        "software": _versions(),
        "policy": policy.snapshot(),
        "form_mapping": mapping.snapshot(),
        "scaling": {
            "pdo": policy.PDO,
            "base_odds": policy.BASE_ODDS,
            "base_score": policy.BASE_SCORE,
            "factor": policy.PDO / float(np.log(2)),
            "offset": policy.BASE_SCORE - policy.PDO / float(np.log(2)) * float(np.log(policy.BASE_ODDS)),
            "theoretical_min": int(low),
            "theoretical_max": int(high),
        },
        "intercept": fitted.intercept,
        "features": fitted.features_json,
        "calibration": calibration,
        "grades": grade_bands(calibration, cv.oof_points, y),
    }
    scorer = Scorer(seal({**body, "metrics": {}}))
    apparent = scorer.score_columns(dataset.columns)
    body["metrics"] = {
        "cross_validated": cv_summary(cv, config),
        "out_of_fold_decisions": oof_decisions(cv, scorer, y),
        "out_of_fold_calibration": metrics.calibration_by_decile(
            np.tile(y, cv.oof_points.shape[0]), calibrated_pd(clip_score(cv.oof_points.ravel()), calibration)
        ),
        "apparent": {
            **metrics.discrimination(y, apparent.score),
            "brier": metrics.brier(y, apparent.pd),
            **metrics.decision_outcomes(y, apparent.decision),
            "note": "the shipped model on its own training rows: optimistic, see cross_validated",
        },
    }
    return seal(body)
