"""Master keys, by id. One is active (wraps new data keys); older ones only unwrap until rotated out.

Sources, in order:
- `LOANCHAIN_KYC_MASTER_KEYS="kid1:base64,kid2:base64"` — the first one is active. Rotating means
  putting a new key first, running `loanchain kyc rotate-key`, then dropping the old one.
- a directory (`LOANCHAIN_KYC_KEYRING_DIR`, default `var/keys/kyc/`) of `<kid>.key` files (0600)
  and an `ACTIVE` file naming the active id. `rotate-key` adds a key there and activates it;
  `retire-key` deletes one. On a local chain the first key is generated on first use.
"""

from __future__ import annotations

import re
import secrets
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from backend.config import Settings
from backend.errors import ConfigurationError, Conflict
from backend.identity.crypto.keyfile import decode_key, read_secret, write_secret

KEY_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$")


class MasterKeyMissing(ConfigurationError):
    code = "master_key_missing"


@dataclass(frozen=True)
class Keyring:
    active_id: str
    keys: dict[str, bytes]
    source: str  # "env" or the directory

    def key(self, key_id: str) -> bytes:
        try:
            return self.keys[key_id]
        except KeyError:
            raise MasterKeyMissing(f"master key {key_id!r} is not in the keyring") from None

    @property
    def active_key(self) -> bytes:
        return self.key(self.active_id)


def keyring_dir(settings: Settings) -> Path:
    return settings.kyc_keyring_dir or settings.keys_dir / "kyc"


def new_key_id() -> str:
    return f"mk-{datetime.now(UTC):%Y%m%d}-{secrets.token_hex(3)}"


def _from_env(spec: str) -> Keyring:
    keys: dict[str, bytes] = {}
    order: list[str] = []
    for item in filter(None, (part.strip() for part in spec.split(","))):
        kid, sep, value = item.partition(":")
        if not sep or not KEY_ID.match(kid):
            raise ConfigurationError("LOANCHAIN_KYC_MASTER_KEYS must be 'kid:base64key,...'")
        keys[kid] = decode_key(value)
        order.append(kid)
    if not order:
        raise ConfigurationError("LOANCHAIN_KYC_MASTER_KEYS is empty")
    return Keyring(order[0], keys, "env")


def _from_dir(directory: Path) -> Keyring | None:
    active_file = directory / "ACTIVE"
    if not active_file.exists():
        return None
    keys = {path.stem: read_secret(path) for path in sorted(directory.glob("*.key"))}
    active = active_file.read_text().strip()
    if active not in keys:
        raise MasterKeyMissing(f"the active master key {active!r} has no file in {directory}")
    return Keyring(active, keys, str(directory))


def load_keyring(settings: Settings) -> Keyring:
    if settings.kyc_master_keys is not None:
        return _from_env(settings.kyc_master_keys.get_secret_value())
    directory = keyring_dir(settings)
    ring = _from_dir(directory)
    if ring is not None:
        return ring
    if not settings.is_local_chain:
        raise MasterKeyMissing(
            "no KYC master key: set LOANCHAIN_KYC_MASTER_KEYS or run `loanchain kyc rotate-key` to create one"
        )
    add_master_key(settings)
    return _from_dir(directory)  # type: ignore[return-value]


def add_master_key(settings: Settings) -> str:
    """Generate a master key file and make it the active one. Returns its id."""
    if settings.kyc_master_keys is not None:
        raise ConfigurationError(
            "master keys come from LOANCHAIN_KYC_MASTER_KEYS: put the new key first there instead"
        )
    directory = keyring_dir(settings)
    key_id = new_key_id()
    write_secret(directory / f"{key_id}.key", secrets.token_bytes(32))
    tmp = directory / "ACTIVE.tmp"
    tmp.write_text(key_id + "\n")
    tmp.replace(directory / "ACTIVE")
    return key_id


def delete_master_key(settings: Settings, key_id: str) -> Path:
    """Remove a retired key's file. The caller checks that nothing is wrapped under it."""
    if settings.kyc_master_keys is not None:
        raise ConfigurationError("master keys come from LOANCHAIN_KYC_MASTER_KEYS: remove it there")
    ring = load_keyring(settings)
    if key_id == ring.active_id:
        raise Conflict(f"{key_id} is the active master key; rotate to a new one first")
    path = keyring_dir(settings) / f"{key_id}.key"
    if not path.exists():
        raise MasterKeyMissing(f"no master key {key_id!r} in {path.parent}")
    path.unlink()
    return path
