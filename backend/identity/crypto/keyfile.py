"""Secrets kept in files under var/keys/: created once with 0600 permissions, never in the repo."""

from __future__ import annotations

import base64
import os
import secrets
from pathlib import Path

from backend.errors import ConfigurationError


def write_secret(path: Path, secret: bytes) -> None:
    """Write atomically, readable by the owner only, refusing to overwrite."""
    path.parent.mkdir(parents=True, exist_ok=True)
    os.chmod(path.parent, 0o700)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "wb") as handle:
        handle.write(base64.b64encode(secret) + b"\n")


def read_secret(path: Path) -> bytes:
    if path.stat().st_mode & 0o077:
        raise ConfigurationError(f"{path} is readable by others: chmod 600 it")
    try:
        return base64.b64decode(path.read_bytes().strip(), validate=True)
    except ValueError as exc:
        raise ConfigurationError(f"{path} does not hold a base64 key") from exc


def read_or_create_secret(path: Path, size: int = 32) -> bytes:
    """The secret in `path`, generating it on first use (two processes racing both read the winner's)."""
    if not path.exists():
        try:
            write_secret(path, secrets.token_bytes(size))
        except FileExistsError:
            pass
    return read_secret(path)


def read_or_create_local_secret(path: Path, local_chain: bool, refusal: str, size: int = 32) -> bytes:
    """`read_or_create_secret`, but off a local chain a missing file is refused with `refusal`: a
    key made up there is one no other host, and no restore, has."""
    if not local_chain and not path.exists():
        raise ConfigurationError(refusal)
    return read_or_create_secret(path, size)


def decode_key(text: str, size: int = 32) -> bytes:
    """A base64 (standard or url-safe) key of exactly `size` bytes."""
    text = text.strip()
    try:
        raw = base64.urlsafe_b64decode(text + "=" * (-len(text) % 4)) if ("-" in text or "_" in text) else base64.b64decode(text, validate=True)
    except ValueError as exc:
        raise ConfigurationError("a configured key is not valid base64") from exc
    if len(raw) != size:
        raise ConfigurationError(f"a configured key must be {size} bytes, got {len(raw)}")
    return raw
