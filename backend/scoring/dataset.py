"""Reading a German-credit-shaped CSV into validated columns. Every cell is read as text first,
so a malformed number is reported with its field and row instead of being coerced to NaN."""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from backend.config import ROOT
from backend.errors import ValidationFailed
from backend.scoring.features import (
    CANDIDATE_INPUTS,
    LABEL,
    PROTECTED,
    Columns,
    add_derived,
    bad_flags,
    validate_columns,
)

TRAINING_CSV = ROOT / "data" / "german_credit.csv"


def file_sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def read_csv_text(path: Path) -> pd.DataFrame:
    if not path.is_file():
        raise ValidationFailed(f"no such file: {path}", field="path")
    try:
        frame = pd.read_csv(path, dtype=str, keep_default_na=False, skipinitialspace=False)
    except (pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError) as exc:
        raise ValidationFailed(f"{path}: not a readable CSV ({exc})", field="path") from exc
    frame.columns = [str(c).strip() for c in frame.columns]
    return frame


@dataclass
class Dataset:
    """Validated model inputs (with derived features), the label, and protected attributes."""

    columns: Columns
    y_bad: np.ndarray | None
    protected: dict[str, np.ndarray]
    n_rows: int
    sha256: str | None = None
    path: Path | None = None

    def frame(self, features: Sequence[str]) -> pd.DataFrame:
        return pd.DataFrame({name: self.columns[name] for name in features})

    def subset(self, index: np.ndarray) -> Dataset:
        return Dataset(
            columns={k: v[index] for k, v in self.columns.items()},
            y_bad=None if self.y_bad is None else self.y_bad[index],
            protected={k: v[index] for k, v in self.protected.items()},
            n_rows=len(index),
        )


def _protected_columns(frame: pd.DataFrame) -> dict[str, np.ndarray]:
    out: dict[str, np.ndarray] = {}
    for name in PROTECTED:
        if name in frame.columns:
            out[name] = frame[name].to_numpy(dtype=object)
    if "age_in_years" in out:
        ages = pd.to_numeric(pd.Series(out["age_in_years"]), errors="coerce")
        bad = np.flatnonzero(ages.isna().to_numpy())
        if len(bad):
            raise ValidationFailed(
                f"age_in_years in row {bad[0] + 1}: must be a whole number", field="age_in_years", row=int(bad[0] + 1)
            )
        out["age_in_years"] = ages.to_numpy(dtype=np.float64)
    return out


def load_dataset(path: Path, inputs: Sequence[str] = CANDIDATE_INPUTS, require_label: bool = True) -> Dataset:
    """Read and validate `path`. The label is required for training and evaluation, optional
    (and ignored) for scoring."""
    frame = read_csv_text(path)
    columns = add_derived(validate_columns({c: frame[c].to_numpy(dtype=object) for c in frame.columns}, inputs))
    y_bad = None
    if LABEL in frame.columns:
        y_bad = bad_flags(frame[LABEL].to_numpy(dtype=object)) if require_label else None
    elif require_label:
        raise ValidationFailed(f"{path}: required column is missing: {LABEL}", field=LABEL, row=None)
    protected = _protected_columns(frame) if require_label else {}  # scoring never reads them
    return Dataset(columns, y_bad, protected, len(frame), sha256=file_sha256(path), path=path)
