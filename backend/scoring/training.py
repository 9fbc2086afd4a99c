"""Fitting the scorecard: optbinning's BinningProcess (optimal, monotonic where it makes sense,
IV-based selection) and Scorecard (logistic regression on WoE, PDO scaling, integer points).
The fitted object is exported to plain tables at once; nothing downstream keeps optbinning."""

from __future__ import annotations

import warnings
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from optbinning import BinningProcess, Scorecard
from sklearn.linear_model import LogisticRegression

from backend.scoring import policy
from backend.scoring.features import CATEGORICAL_FEATURES, MODEL_FEATURES, PROTECTED_CATEGORICAL
from backend.scoring.points import PointsTable

# Risk (bad rate) shape per numerical input. Longer terms, heavier instalments and larger amounts
# at a heavy instalment cost points; very small and very large loans are both riskier than
# mid-size ones in this data (a valley).
# Inputs not listed keep optbinning's defaults (automatic trend).
BINNING_PARAMS: dict[str, dict[str, Any]] = {
    "duration_in_month": {"monotonic_trend": "ascending"},
    "credit_amount": {"monotonic_trend": "valley"},
    "monthly_amount": {"monotonic_trend": "valley"},
    "installment_rate_in_percentage_of_disposable_income": {"monotonic_trend": "ascending"},
    "burden_weighted_amount": {"monotonic_trend": "ascending"},
}

Progress = Callable[[], None]


@dataclass(frozen=True)
class TrainingConfig:
    """Chosen by repeated stratified cross-validation on the training file (see the model card
    for the candidates compared); nothing here was tuned on a single split."""

    c: float = 0.1  # L2 strength of the logistic regression on WoE (sklearn's C)
    min_iv: float = 0.02  # characteristics below this information value are left out
    folds: int = 5
    repeats: int = 10
    seed: int = 20240601
    binning_params: Mapping[str, Mapping[str, Any]] = field(default_factory=lambda: dict(BINNING_PARAMS))
    features: tuple[str, ...] = MODEL_FEATURES

    def to_json(self) -> dict[str, Any]:
        return {
            "logistic_regression_c": self.c,
            "min_information_value": self.min_iv,
            "cv_folds": self.folds,
            "cv_repeats": self.repeats,
            "seed": self.seed,
            "binning_params": {k: dict(v) for k, v in self.binning_params.items()},
            "candidate_features": list(self.features),
        }

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> TrainingConfig:
        """The recipe stored in an artifact, so evaluation re-fits exactly what was shipped."""
        return cls(
            c=float(data["logistic_regression_c"]),
            min_iv=float(data["min_information_value"]),
            folds=int(data["cv_folds"]),
            repeats=int(data["cv_repeats"]),
            seed=int(data["seed"]),
            binning_params={k: dict(v) for k, v in data["binning_params"].items()},
            features=tuple(data["candidate_features"]),
        )


@dataclass
class FittedScorecard:
    table: PointsTable
    features_json: list[dict[str, Any]]  # the table plus WoE, counts, IV, coefficients
    intercept: float


def build_scorecard(config: TrainingConfig) -> Scorecard:
    process = BinningProcess(
        list(config.features),
        categorical_variables=[c for c in config.features if c in CATEGORICAL_FEATURES + PROTECTED_CATEGORICAL],
        selection_criteria={"iv": {"min": config.min_iv}},
        binning_fit_params={k: dict(v) for k, v in config.binning_params.items() if k in config.features},
    )
    return Scorecard(
        binning_process=process,
        estimator=LogisticRegression(C=config.c, max_iter=2000),
        scaling_method="pdo_odds",
        scaling_method_params={"pdo": policy.PDO, "odds": policy.BASE_ODDS, "scorecard_points": policy.BASE_SCORE},
        rounding=True,
    )


def _export_feature(scorecard: Scorecard, name: str, coefficient: float, iv: float) -> dict[str, Any]:
    optb = scorecard.binning_process_.get_binned_variable(name)
    rows = scorecard.table(style="detailed")
    rows = rows[rows["Variable"] == name].reset_index(drop=True)
    n_regular = len(rows) - 2  # optbinning appends the Special and Missing bins
    regular, missing = rows.iloc[:n_regular], rows.iloc[n_regular + 1]
    out: dict[str, Any] = {
        "name": name,
        "kind": optb.dtype,
        "coefficient": float(coefficient),
        "iv": float(iv),
        "points": [int(p) for p in regular["Points"]],
        "woe": [float(w) for w in regular["WoE"]],
        "count": [int(c) for c in regular["Count"]],
        "event_rate": [float(e) for e in regular["Event rate"]],
        # WoE 0 = the population's average risk; used for a category unseen in training.
        "neutral_points": int(missing["Points"]),
    }
    if optb.dtype == "numerical":
        out["splits"] = [float(s) for s in optb.splits]
        out["labels"] = [str(b) for b in regular["Bin"]]
    else:
        categories: dict[str, int] = {}
        labels = []
        for index, members in enumerate(regular["Bin"]):
            members = sorted(str(m) for m in members)
            labels.append(" | ".join(members))
            categories.update({m: index for m in members})
        out["categories"] = dict(sorted(categories.items()))
        out["labels"] = labels
    return out


def fit(columns: Mapping[str, np.ndarray], y_bad: np.ndarray, config: TrainingConfig) -> FittedScorecard:
    import pandas as pd

    frame = pd.DataFrame({name: columns[name] for name in config.features})
    scorecard = build_scorecard(config)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # optbinning/sklearn deprecation chatter
        scorecard.fit(frame, y_bad)
    selected = list(scorecard.binning_process_.get_support(names=True))
    coefficients = scorecard.estimator_.coef_.ravel()
    summary = scorecard.binning_process_.summary().set_index("name")
    features = [
        _export_feature(scorecard, name, coefficients[i], summary.loc[name, "iv"]) for i, name in enumerate(selected)
    ]
    table = PointsTable.from_json(features)
    return FittedScorecard(table, features, float(np.ravel(scorecard.estimator_.intercept_)[0]))


@dataclass
class CrossValidation:
    folds: list[dict[str, float]]  # per-fold metrics
    oof_points: np.ndarray  # (repeats, n): each row's points from the model that did not see it


def fold_splits(y_bad: np.ndarray, config: TrainingConfig) -> list[tuple[np.ndarray, np.ndarray]]:
    from sklearn.model_selection import RepeatedStratifiedKFold

    cv = RepeatedStratifiedKFold(n_splits=config.folds, n_repeats=config.repeats, random_state=config.seed)
    return list(cv.split(np.zeros(len(y_bad)), y_bad))


def nominal_pd(points: np.ndarray) -> np.ndarray:
    """PD implied by the PDO scaling alone (before out-of-fold calibration)."""
    factor = policy.PDO / np.log(2)
    offset = policy.BASE_SCORE - factor * np.log(policy.BASE_ODDS)
    return 1.0 / (1.0 + np.exp((np.asarray(points, dtype=float) - offset) / factor))


def _fold(
    columns: Mapping[str, np.ndarray], y_bad: np.ndarray, config: TrainingConfig, train: np.ndarray, test: np.ndarray
) -> tuple[np.ndarray, dict[str, float]]:
    from backend.scoring import metrics

    fitted = fit({c: v[train] for c, v in columns.items()}, y_bad[train], config)
    points = fitted.table.points_matrix({c: v[test] for c, v in columns.items()}).sum(axis=1)
    return points, {**metrics.discrimination(y_bad[test], points), "brier": metrics.brier(y_bad[test], nominal_pd(points))}


def cross_validate(
    columns: Mapping[str, np.ndarray],
    y_bad: np.ndarray,
    config: TrainingConfig,
    progress: Progress | None = None,
    n_jobs: int = -1,
) -> CrossValidation:
    """Folds run in parallel processes (one per core by default); fitting is deterministic, so
    the result does not depend on `n_jobs`."""
    from joblib import Parallel, delayed

    splits = fold_splits(y_bad, config)
    oof = np.full((config.repeats, len(y_bad)), np.nan)
    folds = []
    jobs = (delayed(_fold)(columns, y_bad, config, train, test) for train, test in splits)
    results = Parallel(n_jobs=n_jobs, return_as="generator")(jobs)
    for k, ((_, test), (points, fold_metrics)) in enumerate(zip(splits, results, strict=True)):
        oof[k // config.folds, test] = points
        folds.append(fold_metrics)
        if progress:
            progress()
    return CrossValidation(folds, oof)


BAGS, BAG_SHARE = 20, 0.8


def _bagged_fold(
    columns: Mapping[str, np.ndarray], y_bad: np.ndarray, config: TrainingConfig, train: np.ndarray,
    test: np.ndarray, seed: int,
) -> float:
    from backend.scoring import metrics

    rng = np.random.default_rng(seed)
    points = np.zeros(len(test))
    for _ in range(BAGS):
        rows = rng.choice(train, size=int(BAG_SHARE * len(train)), replace=False)
        fitted = fit({c: v[rows] for c, v in columns.items()}, y_bad[rows], config)
        points += fitted.table.points_matrix({c: v[test] for c, v in columns.items()}).sum(axis=1)
    return metrics.auc(y_bad[test], points / BAGS)


def bagged_cross_validate(
    columns: Mapping[str, np.ndarray], y_bad: np.ndarray, config: TrainingConfig, progress: Progress | None = None,
) -> list[float]:
    """Per-fold AUC of the recipe bagged: in each fold, BAGS fits on BAG_SHARE subsamples of the
    training rows, their points averaged. An average of step functions is still one points table
    per characteristic, so a bagged scorecard would keep its reason codes; it is measured for the
    model card (does variance hold the AUC back?), not shipped."""
    from joblib import Parallel, delayed

    splits = fold_splits(y_bad, config)
    jobs = (delayed(_bagged_fold)(columns, y_bad, config, train, test, config.seed + k) for k, (train, test) in enumerate(splits))
    aucs = []
    for auc in Parallel(n_jobs=-1, return_as="generator")(jobs):
        aucs.append(auc)
        if progress:
            progress()
    return aucs


def clip_score(points: np.ndarray) -> np.ndarray:
    return np.clip(points, policy.SCORE_MIN, policy.SCORE_MAX)


def calibrate(oof_points: np.ndarray, y_bad: np.ndarray) -> dict[str, float]:
    """Platt scaling of out-of-fold points: PD = 1 / (1 + exp(-(a + b * score))). Fitted on
    points the model had not seen, so the PD is honest about the model's optimism."""
    x = clip_score(oof_points.ravel())
    y = np.tile(y_bad, oof_points.shape[0])
    centre = float(policy.BASE_SCORE)
    model = LogisticRegression(C=1e6, max_iter=1000).fit(((x - centre) / 100.0).reshape(-1, 1), y)
    b = float(model.coef_[0, 0]) / 100.0
    a = float(model.intercept_[0]) - b * centre
    return {"method": "platt_out_of_fold", "a": a, "b": b}


def calibrated_pd(points: np.ndarray, calibration: Mapping[str, float]) -> np.ndarray:
    z = calibration["a"] + calibration["b"] * np.asarray(points, dtype=float)
    return 1.0 / (1.0 + np.exp(-z))


def grade_bands(calibration: Mapping[str, float], oof_points: np.ndarray, y_bad: np.ndarray) -> list[dict[str, Any]]:
    """Score cut-offs from the policy's PD limits, with each grade's PD band and its out-of-fold
    population (count, observed bad rate, mean PD)."""
    a, b = calibration["a"], calibration["b"]
    if b >= 0:
        raise ValueError("calibration slope must be negative (higher score, lower PD)")
    x = clip_score(oof_points.ravel())
    y = np.tile(y_bad, oof_points.shape[0])
    oof_pd = calibrated_pd(x, calibration)
    bands = []
    upper_score = policy.SCORE_MAX + 1  # exclusive
    for grade, pd_upper in policy.GRADE_PD_UPPER.items():
        if pd_upper >= 1.0:
            min_score = policy.SCORE_MIN
        else:
            # PD(s) <= pd_upper  <=>  s >= (logit(pd_upper) - a) / b  (b < 0)
            min_score = int(np.ceil((np.log(pd_upper / (1 - pd_upper)) - a) / b))
            min_score = int(np.clip(min_score, policy.SCORE_MIN, policy.SCORE_MAX))
        members = (x >= min_score) & (x < upper_score)
        band_low = float(calibrated_pd(np.array([min(upper_score - 1, policy.SCORE_MAX)]), calibration)[0])
        band_high = float(calibrated_pd(np.array([min_score]), calibration)[0])
        bands.append(
            {
                "grade": grade,
                "min_score": min_score,
                "max_score": upper_score - 1,
                "pd_low": band_low,
                "pd_high": band_high,
                "pd_mean_oof": float(oof_pd[members].mean()) if members.any() else (band_low + band_high) / 2,
                "oof_share": float(members.mean()),
                "oof_bad_rate": float(y[members].mean()) if members.any() else None,
            }
        )
        upper_score = min_score
    return bands
