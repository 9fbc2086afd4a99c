"""The numbers behind the model card: cross-validation of the shipped recipe and of the
challengers, out-of-fold fairness, and, when a group falls under four-fifths, a search for a
less discriminatory alternative (re-fitting without each characteristic in turn)."""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np

from backend.scoring import metrics, policy
from backend.scoring.challengers import cross_validate_challengers
from backend.scoring.dataset import Dataset
from backend.scoring.evaluation import cross_validated_report
from backend.scoring.fairness import FOUR_FIFTHS, age_group_of, fairness_report, ordered_groups, sex_of
from backend.scoring.features import DERIVED, PROTECTED
from backend.scoring.scorer import Scorer
from backend.scoring.training import (
    BAG_SHARE,
    BAGS,
    CrossValidation,
    Progress,
    TrainingConfig,
    bagged_cross_validate,
    calibrate,
    calibrated_pd,
    clip_score,
    cross_validate,
)

# The explainability alternative: amount bins forced to >= 10% of the sample each.
BIN_FLOOR = 0.10


@dataclass
class CardAnalysis:
    config: TrainingConfig
    cv: CrossValidation
    cv_report: dict[str, Any]
    oof_score: np.ndarray  # pooled over repeats
    oof_pd: np.ndarray
    oof_y: np.ndarray
    oof_decision: np.ndarray
    candidates: list[dict[str, Any]]
    fairness: dict[str, list[dict[str, Any]]]
    group_calibration: dict[str, list[dict[str, Any]]]
    alternatives: list[dict[str, Any]] = field(default_factory=list)
    reason_frequency: list[dict[str, Any]] = field(default_factory=list)

    @property
    def flagged(self) -> list[tuple[str, str, float]]:
        return [
            (attribute, row["group"], row["adverse_impact_ratio"])
            for attribute, rows in self.fairness.items()
            for row in rows
            if row["below_four_fifths"]
        ]


def steps(config: TrainingConfig, n_features: int) -> int:
    """Progress-bar length: every fold fit the analysis runs."""
    per_cv = config.folds * config.repeats
    return per_cv * (5 + len(DERIVED) + 1) + n_features * config.folds


def _approve_pd_limit() -> float:
    return policy.GRADE_PD_UPPER[policy.APPROVE_GRADES[-1]]


def _groups(dataset: Dataset, attribute: str) -> np.ndarray:
    if attribute == "sex":
        return sex_of(dataset.protected["personal_status_and_sex"])
    if attribute == "age":
        return age_group_of(dataset.protected["age_in_years"])
    return dataset.protected[attribute].astype(object)


def _group_calibration(
    dataset: Dataset, repeats: int, oof_pd: np.ndarray, oof_y: np.ndarray
) -> dict[str, list[dict[str, Any]]]:
    """Mean predicted PD vs observed bad rate per group: is any group's risk over-stated?"""
    out: dict[str, list[dict[str, Any]]] = {}
    for attribute in ("sex", "age"):
        groups = np.tile(_groups(dataset, attribute), repeats)
        out[attribute] = [
            {"group": g, "mean_pd": float(oof_pd[groups == g].mean()), "bad_rate": float(oof_y[groups == g].mean())}
            for g in ordered_groups(groups)
        ]
    return out


def _approval_by_pd(cv: CrossValidation, y: np.ndarray) -> np.ndarray:
    """Approvals under the policy's PD limit, each variant with its own out-of-fold calibration."""
    calibration = calibrate(cv.oof_points, y)
    return calibrated_pd(clip_score(cv.oof_points.ravel()), calibration) <= _approve_pd_limit()


def _alternatives(
    dataset: Dataset,
    config: TrainingConfig,
    selected: list[str],
    flagged: list[tuple[str, str, float]],
    progress: Progress | None,
) -> list[dict[str, Any]]:
    """Drop each selected characteristic in turn (5-fold, one repeat) and report AUC and the
    adverse impact ratio of every flagged group."""
    assert dataset.y_bad is not None
    y = dataset.y_bad
    quick = replace(config, repeats=1)
    rows = []
    for dropped in [None, *selected]:
        variant = replace(quick, features=tuple(f for f in config.features if f != dropped))
        cv = cross_validate(dataset.columns, y, variant, progress if dropped else None)
        approved = _approval_by_pd(cv, y)
        ratios = {}
        for attribute, group, _ in flagged:
            groups = _groups(dataset, attribute)
            rates = {g: approved[groups == g].mean() for g in set(groups.tolist())}
            ratios[f"{attribute}:{group}"] = float(rates[group] / max(rates.values()))
        rows.append(
            {
                "dropped": dropped or "(none: shipped recipe)",
                "auc": float(np.mean([f["auc"] for f in cv.folds])),
                "approval_rate": float(approved.mean()),
                "adverse_impact_ratios": ratios,
            }
        )
    return rows


def _bin_floor_config(config: TrainingConfig) -> TrainingConfig:
    params = {k: dict(v) for k, v in config.binning_params.items()}
    for name in ("credit_amount", "monthly_amount"):
        params.setdefault(name, {})["min_bin_size"] = BIN_FLOOR
    return replace(config, binning_params=params)


def _auc_spread(cv: CrossValidation) -> dict[str, float]:
    return metrics.spread([f["auc"] for f in cv.folds])


def _ablations(dataset: Dataset, config: TrainingConfig, progress: Progress | None) -> list[dict[str, Any]]:
    """What each derived feature adds, and what excluding the protected attributes costs: the
    recipe re-fitted with them as inputs, on the same folds. That fit is a measurement for the
    card only; build_artifact refuses protected inputs."""
    assert dataset.y_bad is not None
    rows = []
    for name in DERIVED:
        variant = replace(config, features=tuple(f for f in config.features if f != name))
        cv = cross_validate(dataset.columns, dataset.y_bad, variant, progress)
        rows.append(
            {
                "model": f"Scorecard without `{name}`",
                "kind": "ablation",
                "dropped": name,
                "auc": _auc_spread(cv),
                "reason_codes": "yes: points",
            }
        )
    with_protected = replace(config, features=(*config.features, *PROTECTED))
    cv = cross_validate({**dataset.columns, **dataset.protected}, dataset.y_bad, with_protected, progress)
    rows.append(
        {
            "model": "Reference only, never shipped: scorecard with the protected attributes",
            "kind": "reference",
            "auc": _auc_spread(cv),
            "reason_codes": "not allowed as inputs",
        }
    )
    return rows


def _reason_frequency(scorer: Scorer, dataset: Dataset) -> list[dict[str, Any]]:
    """How often each reason is the first one given to a declined applicant (shipped model)."""
    batch = scorer.score_columns(dataset.columns)
    declined = batch.decision == "decline"
    first = batch.reason_index[declined, 0]
    out = []
    for j, (code, text) in enumerate(scorer.reason_codes):
        out.append(
            {"code": code, "text": text, "first_reason_share": float((first == j).mean()) if declined.any() else 0.0}
        )
    return sorted(out, key=lambda r: -r["first_reason_share"])


def analyse(dataset: Dataset, scorer: Scorer, progress: Progress | None = None) -> CardAnalysis:
    assert dataset.y_bad is not None
    y = dataset.y_bad
    config = TrainingConfig.from_json(scorer.artifact["hyperparameters"])
    cv = cross_validate(dataset.columns, y, config, progress)
    score = clip_score(cv.oof_points.ravel())
    _, decision = scorer.grade_and_decision(score)
    oof_y = np.tile(y, config.repeats)
    oof_pd = scorer.pd_of_score(score)
    floor_cv = cross_validate(dataset.columns, y, _bin_floor_config(config), progress)
    candidates = [
        {
            "model": "Scorecard (shipped)",
            "kind": "shipped",
            "auc": _auc_spread(cv),
            "reason_codes": "yes: points",
        },
        {
            "model": f"Scorecard, amount bins >= {BIN_FLOOR:.0%} of sample",
            "kind": "bin_floor",
            "auc": _auc_spread(floor_cv),
            "reason_codes": "yes: points",
        },
        {
            "model": f"Bagged scorecard ({BAGS} fits on {BAG_SHARE:.0%} subsamples, points averaged)",
            "kind": "bagged",
            "bags": BAGS,
            "bag_share": BAG_SHARE,
            "auc": metrics.spread(bagged_cross_validate(dataset.columns, y, config, progress)),
            "reason_codes": "yes: averaged points",
        },
        *cross_validate_challengers(dataset, config, progress),
        *_ablations(dataset, config, progress),
    ]
    protected = {k: np.tile(v, config.repeats) for k, v in dataset.protected.items()}
    analysis = CardAnalysis(
        config=config,
        cv=cv,
        cv_report=cross_validated_report(cv, config, scorer, y),
        oof_score=score,
        oof_pd=oof_pd,
        oof_y=oof_y,
        oof_decision=decision,
        candidates=candidates,
        fairness=fairness_report(protected, oof_y, score, decision),
        group_calibration=_group_calibration(dataset, config.repeats, oof_pd, oof_y),
        reason_frequency=_reason_frequency(scorer, dataset),
    )
    if analysis.flagged:
        analysis.alternatives = _alternatives(dataset, config, scorer.table.names, analysis.flagged, progress)
    return analysis


__all__ = ["FOUR_FIFTHS", "CardAnalysis", "analyse", "steps"]
