"""Read-only calls to KYCRegistry: a wallet's attestation and whether it verifies now."""

from __future__ import annotations

from dataclasses import dataclass

from web3 import Web3

from backend.chain.client import contract_at, read_many, reading
from backend.chain.deploy import deployed_contract
from backend.config import Settings

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
    return contract_at(settings, "KYCRegistry", address) if address else deployed_contract(settings, "KYCRegistry")


def attestation_of(settings: Settings, wallet: str, address: str | None = None) -> OnChainAttestation:
    contract = registry(settings, address)
    with reading("KYCRegistry"):
        level, expires_at, commitment = contract.functions.attestationOf(Web3.to_checksum_address(wallet)).call()
    return OnChainAttestation(Web3.to_checksum_address(wallet), level, expires_at, "0x" + bytes(commitment).hex())


def is_verified(settings: Settings, wallet: str, min_level: int = 1, address: str | None = None) -> bool:
    contract = registry(settings, address)
    with reading("KYCRegistry"):
        return contract.functions.isVerified(Web3.to_checksum_address(wallet), min_level).call()


def borrower_attestation_at(settings: Settings, wallet: str, block: int) -> tuple[OnChainAttestation, int]:
    """The attestation of `wallet` in the KYCRegistry LoanBook checks (its own `kycRegistry`, not
    whichever the deployment file names), and LoanBook's `borrowerKycLevel`, both as of block
    `block` (ChainUnavailable from a node that keeps no state that old)."""
    book = deployed_contract(settings, "LoanBook")
    with reading("LoanBook's KYCRegistry"):
        address = book.functions.kycRegistry().call()
    wallet = Web3.to_checksum_address(wallet)
    (level, expires_at, commitment), borrower_level = read_many(
        [registry(settings, address).functions.attestationOf(wallet), book.functions.borrowerKycLevel()],
        f"the attestation of {wallet} at block {block}", block)  # fmt: skip
    return OnChainAttestation(wallet, level, expires_at, "0x" + bytes(commitment).hex()), int(borrower_level)
