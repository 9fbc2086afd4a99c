"""Fairness report on protected attributes the model never sees: approval rates and AUC by sex
and by age group, and the adverse impact ratio (the EEOC four-fifths rule: a group approved at
under 80% of the most-approved group's rate is flagged)."""

from __future__ import annotations

from typing import Any

import numpy as np

from backend.scoring import metrics

FOUR_FIFTHS = 0.8
AGE_GROUPS = (("<25", 0, 25), ("25-40", 25, 41), (">40", 41, 200))


def sex_of(personal_status_and_sex: np.ndarray) -> np.ndarray:
    """The codebook's combined field starts with 'male' or 'female'."""
    return np.array([str(v).split(" ", 1)[0].strip() for v in personal_status_and_sex], dtype=object)


def age_group_of(age: np.ndarray) -> np.ndarray:
    out = np.empty(len(age), dtype=object)
    for label, low, high in AGE_GROUPS:
        out[(age >= low) & (age < high)] = label
    return out


def ordered_groups(groups: np.ndarray) -> list[str]:
    """Age groups youngest first, anything else alphabetically."""
    present = set(groups.tolist())
    ages = [label for label, _, _ in AGE_GROUPS if label in present]
    return ages if len(ages) == len(present) else sorted(present)


def group_table(groups: np.ndarray, y_bad: np.ndarray, score: np.ndarray, decision: np.ndarray) -> list[dict[str, Any]]:
    rows = []
    for group in ordered_groups(groups):
        mask = groups == group
        y, s = y_bad[mask], score[mask]
        rows.append(
            {
                "group": group,
                "n": int(mask.sum()),
                "bad_rate": float(y.mean()),
                "approval_rate": float((decision[mask] == "approve").mean()),
                "approve_or_refer_rate": float((decision[mask] != "decline").mean()),
                "auc": metrics.auc(y, s) if 0 < y.sum() < len(y) else None,
                "bad_rate_among_approved": float(y[decision[mask] == "approve"].mean())
                if (decision[mask] == "approve").any()
                else None,
            }
        )
    best = max(r["approval_rate"] for r in rows) or 1.0
    for r in rows:
        r["adverse_impact_ratio"] = r["approval_rate"] / best
        r["below_four_fifths"] = r["adverse_impact_ratio"] < FOUR_FIFTHS
    return rows


def fairness_report(
    protected: dict[str, np.ndarray], y_bad: np.ndarray, score: np.ndarray, decision: np.ndarray
) -> dict[str, list[dict[str, Any]]]:
    """Per-attribute group tables. Arrays may be the out-of-fold scores pooled over CV repeats,
    with the protected columns tiled to match."""
    report: dict[str, list[dict[str, Any]]] = {}
    if "personal_status_and_sex" in protected:
        report["sex"] = group_table(sex_of(protected["personal_status_and_sex"]), y_bad, score, decision)
    if "age_in_years" in protected:
        report["age"] = group_table(age_group_of(protected["age_in_years"]), y_bad, score, decision)
    if "foreign_worker" in protected:
        report["foreign_worker"] = group_table(protected["foreign_worker"].astype(object), y_bad, score, decision)
    return report
