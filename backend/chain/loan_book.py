"""What the offer flow needs from LoanBook: its domain (address, chain id, loan currency), a
borrower's current terms nonce, the chain's clock, the underwriter's countersignature and the
check of a borrower's signature (ECDSA, or ERC-1271 for contract wallets)."""

from __future__ import annotations

import time
from dataclasses import dataclass

from eth_account.messages import encode_typed_data
from web3 import Web3
from web3.exceptions import BadFunctionCallOutput, ContractLogicError

from backend.chain import loan_terms
from backend.chain.client import get_web3, reading
from backend.chain.deploy import deployed_contract
from backend.chain.signature_checker import signed_by
from backend.chain.signers import platform_account
from backend.chain.token_decimals import decimals_refused
from backend.config import Settings
from backend.errors import ConfigurationError

_ERC20_DECIMALS_ABI = [
    {
        "type": "function",
        "name": "decimals",
        "stateMutability": "view",
        "inputs": [],
        "outputs": [{"name": "", "type": "uint8"}],
    }
]


@dataclass(frozen=True)
class LoanBookDomain:
    address: str
    chain_id: int
    asset: str
    asset_decimals: int


def loan_book_domain(settings: Settings) -> LoanBookDomain:
    book = deployed_contract(settings, "LoanBook")
    with reading("LoanBook"):
        w3 = get_web3(settings)
        asset = book.functions.asset().call()
        decimals = w3.eth.contract(address=asset, abi=_ERC20_DECIMALS_ABI).functions.decimals().call()
        chain_id = w3.eth.chain_id
    if why := decimals_refused(int(decimals)):  # a LoanBook deployed before deploy refused such a token
        raise ConfigurationError(why)
    return LoanBookDomain(book.address, chain_id, Web3.to_checksum_address(asset), int(decimals))


_SYMBOL_ABI = [{"type": "function", "name": "symbol", "stateMutability": "view", "inputs": [],
                "outputs": [{"name": "", "type": "string"}]}]  # fmt: skip


def asset_symbol(settings: Settings, asset: str) -> str:
    """The loan token's ERC-20 symbol, as amounts are shown; symbol() is optional in ERC-20, so a
    token without one is shown in plain "tokens"."""
    with reading("the loan token"):
        try:
            return get_web3(settings).eth.contract(address=asset, abi=_SYMBOL_ABI).functions.symbol().call() or "tokens"
        except (ContractLogicError, BadFunctionCallOutput):
            return "tokens"


def borrower_nonce(settings: Settings, borrower: str) -> int:
    """The nonce the borrower's next signed terms must carry (one signature, one loan)."""
    book = deployed_contract(settings, "LoanBook")
    with reading("LoanBook"):
        return int(book.functions.nonces(Web3.to_checksum_address(borrower)).call())


def chain_time(settings: Settings) -> int:
    """The latest block's timestamp: the clock `createLoan` checks deadlines against (a local
    chain's clock may run ahead of the wall clock after time travel)."""
    with reading("the chain's clock"):
        return int(get_web3(settings).eth.get_block("latest")["timestamp"])


def deadline_clock(settings: Settings) -> int:
    """The time LoanBook will judge a deadline by: the next block carries at least the wall clock
    and at least the latest block's time (a local chain's clock can run ahead after time travel)."""
    return max(int(time.time()), chain_time(settings))


def struct_hash(terms: loan_terms.LoanTerms, domain: LoanBookDomain) -> str:
    """The EIP-712 struct hash LoanBook stores and emits as `termsHash` (no domain inside)."""
    message = encode_typed_data(full_message=loan_terms.typed_data(terms, domain.chain_id, domain.address))
    return "0x" + bytes(message.body).hex()


def underwriter_signature(settings: Settings, terms: loan_terms.LoanTerms, domain: LoanBookDomain) -> bytes:
    """The platform underwriter's countersignature (its key must hold LoanBook's UNDERWRITER_ROLE)."""
    return loan_terms.sign(terms, platform_account(settings, "underwriter"), domain.chain_id, domain.address)


def borrower_signed(settings: Settings, terms: loan_terms.LoanTerms, domain: LoanBookDomain, signature: bytes) -> bool:
    """Whether `signature` is the borrower's over these terms, as LoanBook's SignatureChecker will
    judge it: an ECDSA signature by the borrower's key, or one the borrower's contract wallet accepts."""
    return signed_by(settings, terms.borrower, loan_terms.signable(terms, domain.chain_id, domain.address), signature)
