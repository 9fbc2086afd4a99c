"""The one settings object, read from the environment and `.env` (pydantic-settings).

Every variable is `LOANCHAIN_<FIELD>`; `DATABASE_URL` and `RPC_URL` are also accepted bare
because that is how hosting platforms hand them over.
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path
from typing import Literal

from pydantic import AliasChoices, Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict

ROOT = Path(__file__).resolve().parent.parent

# Anvil's and Ganache's public development mnemonic. Its keys are published and only ever
# used against local chains (chain ids in LOCAL_CHAIN_IDS); see `chain/signers.py`.
DEV_MNEMONIC = "test test test test test test test test test test test junk"
LOCAL_CHAIN_IDS = frozenset({31337, 1337})


class Settings(BaseSettings):
    model_config = SettingsConfigDict(
        env_prefix="LOANCHAIN_", env_file=".env", env_file_encoding="utf-8", extra="ignore"
    )

    root: Path = ROOT
    var_dir: Path = ROOT / "var"

    # --- database -------------------------------------------------------------------------
    database_url: str = Field(
        default=f"sqlite:///{ROOT / 'var' / 'loanchain.db'}",
        validation_alias=AliasChoices("LOANCHAIN_DATABASE_URL", "DATABASE_URL"),
    )

    # --- chain ----------------------------------------------------------------------------
    rpc_url: str = Field(
        default="http://127.0.0.1:8545", validation_alias=AliasChoices("LOANCHAIN_RPC_URL", "RPC_URL")
    )
    chain_node: Literal["anvil", "ganache"] = "anvil"
    chain_host: str = "127.0.0.1"
    chain_port: int = 8545
    chain_id: int = 31337
    chain_block_time: int | None = None  # None = automine
    chain_state_interval: int = 1  # seconds between Anvil state dumps
    rpc_timeout: float = 10.0
    # Encrypted eth-account keystore (V3 JSON) for non-local chains; the password comes from
    # the environment or a file, never from the repo.
    deployer_keystore: Path | None = None
    deployer_password: SecretStr | None = None
    deployer_password_file: Path | None = None
    confirmations: int = 0

    # --- compiler -------------------------------------------------------------------------
    solc_version: str = "0.8.28"
    evm_version: str = "shanghai"  # the newest fork both Anvil and Ganache 7.9 run
    optimizer_runs: int = 200
    contracts_dir: Path = ROOT / "contracts"
    artifacts_dir: Path = ROOT / "artifacts"
    deployments_dir: Path = ROOT / "deployments"
    node_modules: Path = ROOT / "node_modules"

    # --- content store --------------------------------------------------------------------
    content_store: Literal["embedded", "ipfs"] = "embedded"
    ipfs_api: str = "/ip4/127.0.0.1/tcp/5002/http"
    ipfs_timeout: float = 30.0  # how long the node may look for content it lacks

    # --- API ------------------------------------------------------------------------------
    api_host: str = "127.0.0.1"
    api_port: int = 8000

    @property
    def chain_dir(self) -> Path:
        return self.var_dir / "chain"

    @property
    def content_dir(self) -> Path:
        return self.var_dir / "content"

    @property
    def is_local_chain(self) -> bool:
        return self.chain_id in LOCAL_CHAIN_IDS


@lru_cache
def get_settings() -> Settings:
    return Settings()
