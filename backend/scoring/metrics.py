"""Discrimination and calibration metrics. Convention: y = 1 means bad; a higher score means
lower risk, so risk-ordering metrics use -score."""

from __future__ import annotations

from typing import Any

import numpy as np
from sklearn.metrics import brier_score_loss, roc_auc_score, roc_curve


def auc(y_bad: np.ndarray, score: np.ndarray) -> float:
    return float(roc_auc_score(y_bad, -np.asarray(score, dtype=float)))


def ks(y_bad: np.ndarray, score: np.ndarray) -> float:
    """Kolmogorov-Smirnov: the largest gap between the score distributions of bads and goods."""
    fpr, tpr, _ = roc_curve(y_bad, -np.asarray(score, dtype=float))
    return float(np.max(tpr - fpr))


def brier(y_bad: np.ndarray, pd_: np.ndarray) -> float:
    return float(brier_score_loss(y_bad, pd_))


def discrimination(y_bad: np.ndarray, score: np.ndarray) -> dict[str, float]:
    a = auc(y_bad, score)
    return {"auc": a, "gini": 2 * a - 1, "ks": ks(y_bad, score)}


def calibration_by_decile(y_bad: np.ndarray, pd_: np.ndarray, bins: int = 10) -> list[dict[str, Any]]:
    """Predicted vs observed bad rate in PD deciles (ties kept together, so a decile may be
    empty or larger than n/10 when many applicants share a score)."""
    pd_ = np.asarray(pd_, dtype=float)
    y_bad = np.asarray(y_bad)
    edges = np.unique(np.quantile(pd_, np.linspace(0, 1, bins + 1)))
    which = np.clip(np.searchsorted(edges, pd_, side="right") - 1, 0, len(edges) - 2)
    rows = []
    for k in range(len(edges) - 1):
        mask = which == k
        if not mask.any():
            continue
        rows.append(
            {
                "decile": len(rows) + 1,
                "n": int(mask.sum()),
                "pd_min": float(pd_[mask].min()),
                "pd_max": float(pd_[mask].max()),
                "predicted_bad_rate": float(pd_[mask].mean()),
                "observed_bad_rate": float(y_bad[mask].mean()),
            }
        )
    return rows


def spread(values: list[float] | np.ndarray) -> dict[str, float]:
    values = np.asarray(values, dtype=float)
    return {
        "mean": float(values.mean()),
        "std": float(values.std(ddof=1)) if len(values) > 1 else 0.0,
        "min": float(values.min()),
        "max": float(values.max()),
    }


def decision_outcomes(y_bad: np.ndarray, decisions: np.ndarray) -> dict[str, Any]:
    decisions = np.asarray(decisions)
    approved = decisions == "approve"
    n = len(decisions)
    return {
        "approval_rate": float(approved.mean()) if n else 0.0,
        "refer_rate": float((decisions == "refer").mean()) if n else 0.0,
        "decline_rate": float((decisions == "decline").mean()) if n else 0.0,
        "bad_rate_among_approved": float(y_bad[approved].mean()) if approved.any() else None,
        "bad_rate_overall": float(np.mean(y_bad)) if n else None,
    }
