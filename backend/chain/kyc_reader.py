"""Read-only calls to KYCRegistry: a wallet's attestation and whether it verifies now."""

from __future__ import annotations

from dataclasses import dataclass

from web3 import Web3
from web3.exceptions import Web3Exception

from backend.chain.client import contract_at
from backend.chain.deploy import deployed_addresses
from backend.config import Settings
from backend.errors import ChainUnavailable, ConfigurationError

ZERO32 = "0x" + "00" * 32


@dataclass(frozen=True)
class OnChainAttestation:
    wallet: str
    level: int  # 0 = none
    expires_at: int  # unix seconds
    commitment: str  # 0x-hex bytes32

    @property
    def exists(self) -> bool:
        return self.level != 0


def registry(settings: Settings, address: str | None = None):
    address = address or deployed_addresses(settings).get("KYCRegistry")
    if not address:
        raise ConfigurationError("KYCRegistry is not deployed on this chain: run `loanchain deploy`")
    return contract_at(settings, "KYCRegistry", address)


def attestation_of(settings: Settings, wallet: str, address: str | None = None) -> OnChainAttestation:
    try:
        level, expires_at, commitment = registry(settings, address).functions.attestationOf(Web3.to_checksum_address(wallet)).call()
    except (Web3Exception, OSError) as exc:
        raise ChainUnavailable(f"could not read KYCRegistry: {exc}") from exc
    return OnChainAttestation(Web3.to_checksum_address(wallet), level, expires_at, "0x" + bytes(commitment).hex())


def is_verified(settings: Settings, wallet: str, min_level: int = 1, address: str | None = None) -> bool:
    try:
        return registry(settings, address).functions.isVerified(Web3.to_checksum_address(wallet), min_level).call()
    except (Web3Exception, OSError) as exc:
        raise ChainUnavailable(f"could not read KYCRegistry: {exc}") from exc
