"""Sign-In with Ethereum (EIP-4361); messages are parsed and recovered by `eip4361.py`.

A message is accepted only when all of these hold, each refused with its own error code:
- it parses as EIP-4361 (`siwe_malformed`), EIP-55 address included;
- its domain is one of `LOANCHAIN_SIWE_DOMAINS` (`siwe_domain_mismatch`) and its chain id is the
  configured chain's (`siwe_chain_mismatch`);
- it is inside its validity window: `Expiration Time` in the future, `Not Before` in the past,
  `Issued At` not in the future beyond the clock skew (`siwe_expired`, `siwe_not_yet_valid`);
- the signature recovers to the message's address, or, for a smart-contract wallet, the wallet's
  ERC-1271 `isValidSignature` accepts it over the EIP-191 digest (`siwe_signature_invalid`);
- its nonce was issued here, has not expired and was never used (`siwe_nonce_invalid`); the
  nonce is consumed with one conditional UPDATE, so a replay loses even when it races.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta

from eth_utils import is_address, to_checksum_address
from sqlalchemy import delete, update
from sqlalchemy.orm import Session

from backend.config import Settings
from backend.db.session import get_or_add
from backend.errors import ChainUnavailable, ValidationFailed
from backend.identity import eip4361
from backend.identity.errors import SignInRefused
from backend.identity.models import AuthNonce, User, utcnow
from backend.identity.tokens import TokenPair, issue_pair


@dataclass(frozen=True)
class IssuedNonce:
    nonce: str
    expires_at: datetime
    chain_id: int
    domains: list[str]


def issue_nonce(session: Session, settings: Settings) -> IssuedNonce:
    now = utcnow()
    # Expired nonces go; a deleted nonce is "unknown", so removing one can never re-enable it.
    session.execute(delete(AuthNonce).where(AuthNonce.expires_at < now - timedelta(days=1)))
    nonce = secrets.token_hex(16)  # 128 bits; EIP-4361 wants at least 8 alphanumerics
    session.add(AuthNonce(nonce=nonce, issued_at=now, expires_at=now + timedelta(seconds=settings.siwe_nonce_ttl)))
    return IssuedNonce(nonce, now + timedelta(seconds=settings.siwe_nonce_ttl), settings.chain_id, settings.siwe_domains)


def sign_in_message(issued: IssuedNonce, address: str, domain: str) -> str:
    """A ready EIP-4361 message for `address` at `domain` with this nonce, for front ends that
    cannot EIP-55-checksum an address themselves (wallets hand out lower-case addresses). The
    wallet shows it before signing; `login` checks it like any other."""
    if not is_address(address):
        raise ValidationFailed("address: not an Ethereum address", field="address")
    if domain not in issued.domains:
        raise ValidationFailed(f"domain: not one this service accepts ({', '.join(issued.domains)})", field="domain")
    now = utcnow().replace(microsecond=0)
    return eip4361.SiweMessage(
        domain=domain, address=to_checksum_address(address), uri=f"http://{domain}", chain_id=issued.chain_id,
        nonce=issued.nonce, issued_at=now, expiration_time=issued.expires_at.replace(microsecond=0),
        statement="Sign in to loanchain.",
    ).to_text()  # fmt: skip


def parse_message(message: str) -> eip4361.SiweMessage:
    try:
        return eip4361.parse(message)
    except eip4361.MalformedMessage as exc:
        raise SignInRefused("siwe_malformed", f"the message is not a valid EIP-4361 sign-in message: {exc}") from None


def verify_message(settings: Settings, message: str, signature: str, now: datetime | None = None) -> eip4361.SiweMessage:
    """Every check except the nonce's (which needs the database); returns the parsed message."""
    now = now or utcnow()
    parsed = parse_message(message)
    if parsed.domain not in settings.siwe_domains:
        raise SignInRefused("siwe_domain_mismatch", "the message names a domain this service does not accept")
    if parsed.chain_id != settings.chain_id:
        raise SignInRefused(
            "siwe_chain_mismatch", f"the message is for another chain; this service runs on chain id {settings.chain_id}"
        )
    if parsed.expiration_time is not None and now >= parsed.expiration_time:
        raise SignInRefused("siwe_expired", "the message has expired")
    if parsed.not_before is not None and now < parsed.not_before:
        raise SignInRefused("siwe_not_yet_valid", "the message is not valid yet")
    if parsed.issued_at > now + timedelta(seconds=settings.siwe_clock_skew):
        raise SignInRefused("siwe_not_yet_valid", "the message was issued in the future")
    if eip4361.recover_signer(message, signature) != parsed.address and not _contract_wallet_signed(
        settings, parsed.address, message, signature
    ):
        raise SignInRefused("siwe_signature_invalid", "the signature does not match the message's address")
    return parsed


def _contract_wallet_signed(settings: Settings, wallet: str, message: str, signature: str) -> bool:
    from backend.chain.signature_checker import contract_wallet_accepts

    raw = eip4361.signature_bytes(signature)
    if raw is None:
        return False
    try:
        return contract_wallet_accepts(settings, wallet, eip4361.message_digest(message), raw)
    except ChainUnavailable:
        raise SignInRefused(
            "siwe_signature_invalid",
            "the signature is not the message address's own, and the chain is unreachable to ask a contract "
            "wallet (ERC-1271); try again later",
        ) from None


def consume_nonce(session: Session, nonce: str, wallet: str, now: datetime) -> None:
    used = session.execute(
        update(AuthNonce)
        .where(AuthNonce.nonce == nonce, AuthNonce.used_at.is_(None), AuthNonce.expires_at > now)
        .values(used_at=now, wallet=wallet)
    ).rowcount
    if used != 1:
        raise SignInRefused("siwe_nonce_invalid", "the nonce is unknown, expired or already used")


def login(session: Session, settings: Settings, message: str, signature: str) -> TokenPair:
    now = utcnow()
    parsed = verify_message(settings, message, signature, now)
    consume_nonce(session, parsed.nonce, parsed.address, now)
    user, _ = get_or_add(session, User, parsed.address, lambda: User(wallet=parsed.address, created_at=now))
    user.last_login_at = now
    return issue_pair(session, settings, parsed.address, auth_time=now)
