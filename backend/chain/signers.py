"""Where the platform's signing keys come from.

On a local chain (chain id 31337/1337) the published Anvil dev accounts are used. Anywhere
else the deployer key is read from an encrypted eth-account keystore file whose password comes
from the environment or a password file: no private key is ever stored in plain text.
"""

from __future__ import annotations

import hashlib
import json
from functools import cache

from eth_account import Account
from eth_account.signers.local import LocalAccount

from backend.config import DEV_MNEMONIC, Settings
from backend.errors import ConfigurationError

Account.enable_unaudited_hdwallet_features()

# Anvil account index per platform role on local chains.
DEV_ROLES = {"deployer": 0, "underwriter": 1, "attestor": 0, "anchorer": 0}


@cache
def dev_account(index: int) -> LocalAccount:
    """Anvil's published dev account `index` (derived once per process: PBKDF2 over the mnemonic)."""
    return Account.from_mnemonic(DEV_MNEMONIC, account_path=f"m/44'/60'/0'/0/{index}")


def _keystore_password(settings: Settings) -> str:
    if settings.deployer_password is not None:
        return settings.deployer_password.get_secret_value()
    if settings.deployer_password_file is not None:
        return settings.deployer_password_file.read_text().rstrip("\n")
    raise ConfigurationError("LOANCHAIN_DEPLOYER_PASSWORD or LOANCHAIN_DEPLOYER_PASSWORD_FILE must be set")


# Keystores decrypted in this process, by the digests of their text and password.
_unlocked: dict[tuple[bytes, bytes], LocalAccount] = {}


def _decrypted(keystore: str, password: str) -> LocalAccount:
    """The keystore's account, decrypted once per keystore and password: its KDF (scrypt) is made to
    cost about a second, and the outbox, the offer signer and the mandate keeper each ask for the key
    per call. (The process holds the key while it signs anyway; the password is kept only as a digest.)"""
    key = (hashlib.sha256(keystore.encode()).digest(), hashlib.sha256(password.encode()).digest())
    if (account := _unlocked.get(key)) is None:
        account = _unlocked[key] = Account.from_key(Account.decrypt(json.loads(keystore), password))
    return account


def platform_account(settings: Settings, role: str = "deployer") -> LocalAccount:
    if settings.deployer_keystore is not None:
        keystore = settings.deployer_keystore.read_text()
        password = _keystore_password(settings)
        return _decrypted(keystore, password)
    if settings.is_local_chain:
        return dev_account(DEV_ROLES.get(role, 0))
    raise ConfigurationError(
        f"chain {settings.chain_id} is not local: set LOANCHAIN_DEPLOYER_KEYSTORE to an encrypted keystore file"
    )
