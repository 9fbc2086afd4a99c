"""The versioned model artifact: plain JSON (no pickle), whose keccak-256 over its canonical
form is the model version. Loading re-derives the version, so an edited file is refused."""

from __future__ import annotations

import json
from functools import lru_cache
from pathlib import Path
from typing import Any

from backend.errors import ConfigurationError
from backend.scoring.canonical import keccak_hex

FORMAT = "loanchain.scorecard/1"
DEFAULT_ARTIFACT = Path(__file__).resolve().parent / "artifacts" / "scorecard-default.json"


def model_version(body: dict[str, Any]) -> str:
    return keccak_hex({k: v for k, v in body.items() if k != "model_version"})


def seal(body: dict[str, Any]) -> dict[str, Any]:
    """The artifact with its version filled in (kept first in the file for readers)."""
    clean = {k: v for k, v in body.items() if k != "model_version"}
    return {"model_version": model_version(clean), **clean}


def write_artifact(body: dict[str, Any], path: Path) -> dict[str, Any]:
    sealed = seal(body)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(path.suffix + ".tmp")
    tmp.write_text(json.dumps(sealed, indent=1, ensure_ascii=False, allow_nan=False) + "\n", encoding="utf-8")
    tmp.replace(path)  # atomic: a reader never sees half an artifact
    return sealed


def read_artifact(path: Path) -> dict[str, Any]:
    try:
        data = json.loads(Path(path).read_text(encoding="utf-8"))
    except FileNotFoundError as exc:
        raise ConfigurationError(f"model artifact not found: {path}", path=str(path)) from exc
    except json.JSONDecodeError as exc:
        raise ConfigurationError(f"model artifact is not valid JSON: {path} ({exc})", path=str(path)) from exc
    if data.get("format") != FORMAT:
        raise ConfigurationError(f"{path}: not a {FORMAT} artifact", path=str(path))
    expected = model_version(data)
    if data.get("model_version") != expected:
        raise ConfigurationError(
            f"{path}: model_version does not match the content (edited artifact?)",
            path=str(path),
            stated=data.get("model_version"),
            computed=expected,
        )
    return data


@lru_cache(maxsize=8)
def _cached(path: str, mtime_ns: int) -> dict[str, Any]:
    return read_artifact(Path(path))


def load_artifact(path: Path | None = None) -> dict[str, Any]:
    """Read (and cache per file version) an artifact; the shipped default when `path` is None."""
    path = Path(path or DEFAULT_ARTIFACT)
    try:
        mtime = path.stat().st_mtime_ns
    except FileNotFoundError as exc:
        raise ConfigurationError(f"model artifact not found: {path}", path=str(path)) from exc
    return _cached(str(path.resolve()), mtime)
