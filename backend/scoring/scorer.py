"""Serving: score, grade, calibrated PD, decision and reason codes from the JSON artifact with
vectorised numpy lookups. One code path serves a single application and a million-row file."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any

import numpy as np

from backend.errors import ConfigurationError
from backend.scoring import mapping, policy
from backend.scoring.artifact import DEFAULT_ARTIFACT, find_artifact, load_artifact
from backend.scoring.features import Columns, add_derived, required_inputs, validate_columns
from backend.scoring.points import PointsTable
from backend.scoring.reasons import AMOUNT, BURDEN, BURDEN_FROM_CODE, INSTALMENT_RATE, reason, statement, top_reasons

PD_DECIMALS = 6  # PDs are rounded before they are shown or hashed, so hashes are portable


@dataclass(frozen=True)
class Reason:
    code: str
    feature: str
    text: str
    points_lost: int
    applicant_bin: str


@dataclass(frozen=True)
class GradeBand:
    grade: str
    min_score: int
    max_score: int
    pd_low: float
    pd_high: float
    pd_mean_oof: float
    decision: str


@dataclass(frozen=True)
class ScoreResult:
    score: int
    grade: str
    pd: float
    decision: str
    reasons: tuple[Reason, ...]
    model_version: str

    def to_json(self) -> dict[str, Any]:
        return {
            "score": self.score,
            "grade": self.grade,
            "pd": self.pd,
            "decision": self.decision,
            "reasons": [r.__dict__ for r in self.reasons],
            "model_version": self.model_version,
        }


@dataclass
class BatchScores:
    score: np.ndarray  # int, clipped to the 300-850 band
    pd: np.ndarray
    grade: np.ndarray  # str
    decision: np.ndarray  # str
    reason_index: np.ndarray  # (n, 4) characteristic index, -1 = none
    reason_points: np.ndarray  # (n, 4) points lost
    bin_index: np.ndarray  # (n, F) the bin each characteristic fell in (-1 = unseen category)

    def __len__(self) -> int:
        return len(self.score)


_BATCH_FIELDS = ("score", "pd", "grade", "decision", "reason_index", "reason_points", "bin_index")


class Scorer:
    def __init__(self, artifact: Mapping[str, Any]) -> None:
        self.artifact = artifact
        self.model_version: str = artifact["model_version"]
        self.table = PointsTable.from_json(artifact["features"])
        self.inputs = required_inputs(self.table.names)
        scaling = artifact["policy"]["scaling"]
        self.score_min, self.score_max = int(scaling["score_min"]), int(scaling["score_max"])
        self.cal_a = float(artifact["calibration"]["a"])
        self.cal_b = float(artifact["calibration"]["b"])
        decision_of = {g: d for d, grades in artifact["policy"]["decisions"].items() for g in grades}
        self.grades = tuple(
            GradeBand(
                g["grade"],
                g["min_score"],
                g["max_score"],
                g["pd_low"],
                g["pd_high"],
                g["pd_mean_oof"],
                decision_of[g["grade"]],
            )
            for g in artifact["grades"]
        )
        if [g.grade for g in self.grades] != sorted(g.grade for g in self.grades):
            raise ConfigurationError("artifact grades must run A (best) to G (worst)")
        # Ascending cut-offs for searchsorted: grades are stored best first.
        self._cut_scores = np.array([g.min_score for g in reversed(self.grades)][1:], dtype=np.int64)
        self._grade_names = np.array([g.grade for g in reversed(self.grades)], dtype=object)
        self._grade_decisions = np.array([g.decision for g in reversed(self.grades)], dtype=object)
        self._best = self.table.best_points
        names = self.table.names
        # One reason per characteristic, plus the amount's when the model prices the burden without
        # the amount itself: at a light instalment rate the burden's lost points are the amount's.
        self.reason_codes = [reason(name) for name in names]
        # Models trained before artifacts carried their form mapping (up to 0x616537ca…) gave their
        # reasons by the rules of their day (one text per characteristic, the burden's points as its
        # own): a replay of their decisions must give them the same way.
        self._legacy_reasons = "form_mapping" not in artifact
        self._burden = names.index(BURDEN) if BURDEN in names and not self._legacy_reasons else None
        self._burden_to: int | None = None
        if self._burden is not None:
            if AMOUNT in names:
                self._burden_to = names.index(AMOUNT)
            else:
                self._burden_to = len(self.reason_codes)
                self.reason_codes.append(reason(AMOUNT))
        # Reason texts as one flat table (per characteristic: one per bin, then an unseen category)
        # so a batch's texts are one take, not a Python loop per row.
        codes, texts, offsets, bins = [], [], [], []
        for j, (code, text) in enumerate(self.reason_codes):
            labels = self.table.features[j].labels if j < len(names) else ()
            offsets.append(len(texts))
            bins.append(len(labels))
            for label in (*labels, None):
                codes.append(code)
                texts.append(statement(names[j], label, self._legacy_reasons) if j < len(names) else text)
        self._reason_offset_arr = np.array(offsets, dtype=np.int64)
        self._reason_bins_arr = np.array(bins, dtype=np.int64)
        self._reason_code_table = np.array(codes + [""], dtype=object)
        self._reason_text_table = np.array(texts + [""], dtype=object)

    @property
    def policy_current(self) -> bool:
        """Pricing and affordability read the installed policy (backend/scoring/policy.py), the rest
        of a decision the artifact's copy: the model version names the policy only while they agree."""
        return self.artifact["policy"] == policy.snapshot()

    @property
    def form_mapping(self) -> dict:
        """The form -> model-input mapping this model scores with: the artifact's copy (older
        artifacts predate it and used the legacy one), so a replay maps answers as they were."""
        return self.artifact.get("form_mapping") or mapping.legacy_snapshot()

    @property
    def mapping_current(self) -> bool:
        """The form -> model-input mapping (backend/scoring/mapping.py) decides which bin an answer
        lands in; the model version names it only while the installed one is the artifact's copy."""
        return self.artifact.get("form_mapping") == mapping.snapshot()

    # --- cut-offs, stated -------------------------------------------------------------------
    def grade_band(self, grade: str) -> GradeBand:
        return next(g for g in self.grades if g.grade == grade)

    def cutoffs(self) -> dict[str, int]:
        """Lowest score of each decision (approve/refer); anything below refer declines."""
        out: dict[str, int] = {}
        for g in self.grades:
            if g.decision in ("approve", "refer"):
                out[f"{g.decision}_min_score"] = min(out.get(f"{g.decision}_min_score", g.min_score), g.min_score)
        return out

    def grade_and_decision(self, score: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        position = np.searchsorted(self._cut_scores, np.asarray(score), side="right")
        return self._grade_names[position], self._grade_decisions[position]

    def pd_of_score(self, score: np.ndarray) -> np.ndarray:
        z = self.cal_a + self.cal_b * np.asarray(score, dtype=np.float64)
        return np.round(1.0 / (1.0 + np.exp(-z)), PD_DECIMALS)

    # --- scoring ----------------------------------------------------------------------------
    def score_columns(self, columns: Columns) -> BatchScores:
        """Score validated columns (see features.validate_columns); derived features are added."""
        columns = add_derived(dict(columns))
        n = len(columns[self.inputs[0]]) if self.inputs else 0
        points = np.empty((n, len(self.table.features)), dtype=np.int64)
        bins = np.empty_like(points)
        for j, feature in enumerate(self.table.features):
            points[:, j], bins[:, j] = feature.lookup(columns[feature.name])
        score = np.clip(points.sum(axis=1), self.score_min, self.score_max)
        grade, decision = self.grade_and_decision(score)
        lost = self._best[np.newaxis, :] - points  # >= 0, except an unseen category's neutral points
        if self._burden is not None and self._burden_to is not None:
            if self._burden_to == lost.shape[1]:
                lost = np.hstack([lost, np.zeros((n, 1), dtype=lost.dtype)])
            light = np.asarray(columns[INSTALMENT_RATE]) < BURDEN_FROM_CODE
            lost[light, self._burden_to] += lost[light, self._burden]
            lost[light, self._burden] = 0
        reason_index, reason_points = top_reasons(lost)
        return BatchScores(
            score=score,
            pd=self.pd_of_score(score),
            grade=grade,
            decision=decision,
            reason_index=reason_index,
            reason_points=reason_points,
            bin_index=bins,
        )

    def score_records(self, data: Mapping[str, Sequence[Any] | np.ndarray], row_offset: int | None = 1) -> BatchScores:
        """Validate raw columns (ValidationFailed names field and row) and score them."""
        return self.score_columns(validate_columns(data, self.inputs, row_offset=row_offset))

    def reason_table(self, batch: BatchScores) -> tuple[np.ndarray, np.ndarray]:
        """(codes, texts), each (n, 4), of every row's reasons; "" where there is none."""
        index = batch.reason_index
        column = np.where(index < 0, 0, index)
        bins = np.zeros(index.shape, dtype=np.int64)
        real = column < batch.bin_index.shape[1]
        bins[real] = np.take_along_axis(batch.bin_index, np.where(real, column, 0), axis=1)[real]
        bins = np.where(bins < 0, self._reason_bins_arr[column], bins)  # unseen category
        flat = np.where(index < 0, len(self._reason_text_table) - 1, self._reason_offset_arr[column] + bins)
        return self._reason_code_table[flat], self._reason_text_table[flat]

    def reasons_of(self, batch: BatchScores, row: int) -> tuple[Reason, ...]:
        codes, texts = self.reason_table(BatchScores(*(getattr(batch, f)[row : row + 1] for f in _BATCH_FIELDS)))
        out = []
        for k, (j, lost) in enumerate(zip(batch.reason_index[row], batch.reason_points[row])):
            if j < 0:
                continue
            if j < len(self.table.features):
                feature = self.table.features[j]
                b = batch.bin_index[row, j]
                name, label = feature.name, feature.labels[b] if b >= 0 else "(not seen in training)"
            else:
                name, label = AMOUNT, ""
            out.append(Reason(str(codes[0, k]), name, str(texts[0, k]), int(lost), label))
        return tuple(out)

    def result(self, batch: BatchScores, row: int) -> ScoreResult:
        return ScoreResult(
            score=int(batch.score[row]),
            grade=str(batch.grade[row]),
            pd=float(batch.pd[row]),
            decision=str(batch.decision[row]),
            reasons=self.reasons_of(batch, row),
            model_version=self.model_version,
        )

    def score_one(self, features: Mapping[str, Any]) -> ScoreResult:
        """One application given as model inputs (german-credit column names)."""
        batch = self.score_records({k: [v] for k, v in features.items()}, row_offset=None)
        return self.result(batch, 0)


@lru_cache(maxsize=4)
def _scorer(path: str, mtime_ns: int) -> Scorer:
    return Scorer(load_artifact(Path(path)))


def get_scorer(path: Path | None = None) -> Scorer:
    """The scorer for an artifact file (the shipped default when None), cached per file version."""
    path = Path(path or DEFAULT_ARTIFACT).resolve()
    try:
        mtime = path.stat().st_mtime_ns
    except FileNotFoundError as exc:
        raise ConfigurationError(f"model artifact not found: {path}", path=str(path)) from exc
    scorer = _scorer(str(path), mtime)
    if not scorer.policy_current:
        raise ConfigurationError(f"the credit policy in backend/scoring/policy.py differs from the one model "
                                 f"{scorer.model_version} was trained with: retrain (`loanchain model train`) so "
                                 "the model version names the policy that prices", path=str(path))  # fmt: skip
    if not scorer.mapping_current:
        raise ConfigurationError(f"the application form's mapping in backend/scoring/mapping.py differs from the one "
                                 f"model {scorer.model_version} was trained with: retrain (`loanchain model train`) "
                                 "so the model version names the mapping that scores", path=str(path))  # fmt: skip
    return scorer


def scorer_for_version(version: str) -> Scorer | None:
    """The scorer of a given model version (the default or an archived one), None if unknown."""
    artifact = find_artifact(version)
    return None if artifact is None else Scorer(artifact)
