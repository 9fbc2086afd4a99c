"""The versioned model artifact: plain JSON (no pickle), whose keccak-256 over its canonical
form is the model version. Loading re-derives the version, so an edited file is refused."""

from __future__ import annotations

import json
from functools import lru_cache
from pathlib import Path
from typing import Any

from backend.errors import ConfigurationError
from backend.scoring.canonical import HASH32, keccak_hex

FORMAT = "loanchain.scorecard/1"
DEFAULT_ARTIFACT = Path(__file__).resolve().parent / "artifacts" / "scorecard-default.json"
# Every model that was ever the default, by version: a decision recorded under an older model
# can still be replayed by an auditor after a retrain.
ARCHIVE_DIR = DEFAULT_ARTIFACT.parent / "archive"


def model_version(body: dict[str, Any]) -> str:
    return keccak_hex({k: v for k, v in body.items() if k != "model_version"})


def seal(body: dict[str, Any]) -> dict[str, Any]:
    """The artifact with its version filled in (kept first in the file for readers)."""
    clean = {k: v for k, v in body.items() if k != "model_version"}
    return {"model_version": model_version(clean), **clean}


def archive_path(version: str, archive_dir: Path = ARCHIVE_DIR) -> Path:
    return archive_dir / f"{version}.json"


def write_artifact(body: dict[str, Any], path: Path) -> dict[str, Any]:
    """Write atomically. An artifact of another version already at `path` is first copied to
    the `archive/` folder beside it, so replacing a model never loses one that made decisions."""
    sealed = seal(body)
    path = Path(path)
    if path.exists():
        previous = read_artifact(path)
        if previous["model_version"] != sealed["model_version"]:
            _write(previous, archive_path(previous["model_version"], path.parent / "archive"))
    _write(sealed, path)
    return sealed


def _write(sealed: dict[str, Any], path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(path.suffix + ".tmp")
    tmp.write_text(json.dumps(sealed, indent=1, ensure_ascii=False, allow_nan=False) + "\n", encoding="utf-8")
    tmp.replace(path)  # atomic: a reader never sees half an artifact


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


def find_artifact(version: str, default: Path | None = None, archive_dir: Path = ARCHIVE_DIR) -> dict[str, Any] | None:
    """The artifact whose model version is `version`: the default one or an archived one;
    None when this installation never had it. Archived files are verified like any other."""
    current = load_artifact(default)
    if current["model_version"] == version:
        return current
    path = archive_path(version, archive_dir)
    if not HASH32.fullmatch(version) or not path.is_file():
        return None
    return load_artifact(path)
