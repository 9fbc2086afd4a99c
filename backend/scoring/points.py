"""Scorecard points as plain tables, looked up with numpy. This is the serving path: no
optbinning object is loaded at decision time, only the JSON tables written at training."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from functools import cached_property
from typing import Any

import numpy as np

from backend.errors import ConfigurationError


@dataclass(frozen=True)
class FeatureBins:
    """One characteristic of the scorecard.

    Numerical: bin i holds splits[i-1] <= x < splits[i] (optbinning's convention).
    Categorical: `categories` maps each category seen in training to its bin.
    A category allowed by the codebook but unseen in training gets `neutral_points`, the points
    of weight of evidence 0, i.e. the training population's average risk.
    """

    name: str
    kind: str  # "numerical" | "categorical"
    points: tuple[int, ...]
    labels: tuple[str, ...]
    neutral_points: int
    splits: tuple[float, ...] = ()
    categories: Mapping[str, int] | None = None

    @property
    def best_points(self) -> int:
        return max(self.points)

    @cached_property
    def _splits_array(self) -> np.ndarray:
        return np.asarray(self.splits, dtype=np.float64)

    @cached_property
    def _points_array(self) -> np.ndarray:
        return np.asarray(self.points + (self.neutral_points,), dtype=np.int64)  # [-1] -> neutral

    def bin_index(self, values: np.ndarray) -> np.ndarray:
        """Bin of each value; -1 for a category unseen in training."""
        if self.kind == "numerical":
            return np.searchsorted(self._splits_array, values, side="right")
        assert self.categories is not None
        get = self.categories.get  # plain dict lookups: faster than pandas at any batch size here
        return np.fromiter((get(v, -1) for v in values), dtype=np.int64, count=len(values))

    def lookup(self, values: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(points, bin index) per value."""
        index = self.bin_index(values)
        return self._points_array[index], index

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "name": self.name,
            "kind": self.kind,
            "points": list(self.points),
            "labels": list(self.labels),
            "neutral_points": self.neutral_points,
        }
        if self.kind == "numerical":
            out["splits"] = list(self.splits)
        else:
            out["categories"] = dict(sorted((self.categories or {}).items()))
        return out

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> FeatureBins:
        kind = data["kind"]
        points = tuple(int(p) for p in data["points"])
        if kind == "numerical":
            splits = tuple(float(s) for s in data["splits"])
            if len(points) != len(splits) + 1 or list(splits) != sorted(splits):
                raise ConfigurationError(f"scorecard feature {data['name']!r}: splits and points disagree")
            return cls(data["name"], kind, points, tuple(data["labels"]), int(data["neutral_points"]), splits=splits)
        if kind == "categorical":
            categories = {str(k): int(v) for k, v in data["categories"].items()}
            if any(not 0 <= v < len(points) for v in categories.values()):
                raise ConfigurationError(f"scorecard feature {data['name']!r}: category bin out of range")
            return cls(
                data["name"], kind, points, tuple(data["labels"]), int(data["neutral_points"]), categories=categories
            )
        raise ConfigurationError(f"scorecard feature {data['name']!r}: unknown kind {kind!r}")


@dataclass(frozen=True)
class PointsTable:
    features: tuple[FeatureBins, ...]

    @property
    def names(self) -> list[str]:
        return [f.name for f in self.features]

    @property
    def best_points(self) -> np.ndarray:
        return np.array([f.best_points for f in self.features], dtype=np.int64)

    @property
    def score_range(self) -> tuple[int, int]:
        return (
            sum(min(f.points + (f.neutral_points,)) for f in self.features),
            sum(max(f.points + (f.neutral_points,)) for f in self.features),
        )

    def points_matrix(self, columns: Mapping[str, np.ndarray]) -> np.ndarray:
        """Points per row (axis 0) and characteristic (axis 1)."""
        n = len(next(iter(columns.values()))) if columns else 0
        matrix = np.empty((n, len(self.features)), dtype=np.int64)
        for j, feature in enumerate(self.features):
            matrix[:, j] = feature.lookup(columns[feature.name])[0]
        return matrix

    def to_json(self) -> list[dict[str, Any]]:
        return [f.to_json() for f in self.features]

    @classmethod
    def from_json(cls, data: Sequence[Mapping[str, Any]]) -> PointsTable:
        return cls(tuple(FeatureBins.from_json(f) for f in data))
