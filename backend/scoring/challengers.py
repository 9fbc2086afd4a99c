"""Challenger models for the model card, cross-validated on the same folds as the scorecard.
They are compared, not shipped: a challenger would have to be clearly better *and* still give
reason codes (points against a best bin) before it could replace the scorecard."""

from __future__ import annotations

import warnings
from collections.abc import Callable
from typing import Any

import pandas as pd
from sklearn.compose import ColumnTransformer
from sklearn.ensemble import HistGradientBoostingClassifier
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import OneHotEncoder, StandardScaler

from backend.scoring import metrics
from backend.scoring.dataset import Dataset
from backend.scoring.features import CATEGORICAL_FEATURES, MODEL_FEATURES
from backend.scoring.training import Progress, TrainingConfig, fold_splits


def _frame(dataset: Dataset) -> pd.DataFrame:
    frame = dataset.frame(MODEL_FEATURES)
    for name in CATEGORICAL_FEATURES:
        frame[name] = pd.Categorical(frame[name].astype(str))
    return frame


def gradient_boosting() -> HistGradientBoostingClassifier:
    # Shallow, slow-learning trees: 800 rows overfit anything deeper (checked by CV).
    return HistGradientBoostingClassifier(
        learning_rate=0.03,
        max_iter=200,
        max_depth=3,
        min_samples_leaf=20,
        categorical_features="from_dtype",
        random_state=0,
    )


def one_hot_logistic() -> Any:
    numeric = [c for c in MODEL_FEATURES if c not in CATEGORICAL_FEATURES]
    encode = ColumnTransformer(
        [
            ("categories", OneHotEncoder(handle_unknown="ignore"), list(CATEGORICAL_FEATURES)),
            ("numbers", StandardScaler(), numeric),
        ]
    )
    return make_pipeline(encode, LogisticRegression(C=0.03, max_iter=2000))


CHALLENGERS: dict[str, tuple[Callable[[], Any], str]] = {
    "HistGradientBoosting (sklearn)": (gradient_boosting, "no: needs SHAP-style attributions, not points"),
    "One-hot logistic regression": (one_hot_logistic, "yes: coefficients per category"),
}


def cross_validate_challengers(
    dataset: Dataset, config: TrainingConfig, progress: Progress | None = None
) -> list[dict[str, Any]]:
    assert dataset.y_bad is not None
    frame, y = _frame(dataset), dataset.y_bad
    rows = []
    for name, (make, reason_codes) in CHALLENGERS.items():
        aucs = []
        for train, test in fold_splits(y, config):
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                model = make().fit(frame.iloc[train], y[train])
            risk = model.predict_proba(frame.iloc[test])[:, 1]
            aucs.append(metrics.auc(y[test], -risk))
            if progress:
                progress()
        rows.append({"model": name, "kind": "challenger", "auc": metrics.spread(aucs), "reason_codes": reason_codes})
    return rows
