"""Session tokens: short-lived access JWTs and single-use refresh JWTs (HS256, pyjwt).

Refresh tokens rotate: each one is recorded and can be exchanged once. Presenting a used one
means it was copied, so every refresh token of that wallet is revoked (the OAuth 2.0 Security
BCP's refresh-token reuse detection). Roles are not put in tokens: they are read per request,
so a revoked role or an expired KYC takes effect immediately.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta

import jwt
from sqlalchemy import delete, update
from sqlalchemy.orm import Session

from backend.config import Settings
from backend.errors import ConfigurationError
from backend.identity.crypto.keyfile import read_or_create_secret
from backend.identity.errors import SignInRefused
from backend.identity.models import RefreshToken, utcnow

ALGORITHM = "HS256"
ISSUER = "loanchain"
AUDIENCE = "loanchain-api"
ACCESS, REFRESH = "access", "refresh"


@dataclass(frozen=True)
class TokenPair:
    access_token: str
    refresh_token: str
    expires_in: int
    token_type: str = "bearer"


def signing_secret(settings: Settings) -> bytes:
    if settings.jwt_secret is not None:
        secret = settings.jwt_secret.get_secret_value().encode()
        if len(secret) < 32:
            raise ConfigurationError("LOANCHAIN_JWT_SECRET must be at least 32 bytes")
        return secret
    return read_or_create_secret(settings.keys_dir / "jwt.key")


def _encode(settings: Settings, wallet: str, kind: str, ttl: int, now: datetime) -> tuple[str, str, datetime]:
    jti = uuid.uuid4().hex
    expires = now + timedelta(seconds=ttl)
    claims = {"sub": wallet, "typ": kind, "jti": jti, "iss": ISSUER, "aud": AUDIENCE, "iat": now, "exp": expires}
    return jwt.encode(claims, signing_secret(settings), algorithm=ALGORITHM), jti, expires


def issue_pair(session: Session, settings: Settings, wallet: str) -> TokenPair:
    now = utcnow()
    session.execute(delete(RefreshToken).where(RefreshToken.wallet == wallet, RefreshToken.expires_at < now))
    access, _, _ = _encode(settings, wallet, ACCESS, settings.access_token_ttl, now)
    refresh, jti, expires = _encode(settings, wallet, REFRESH, settings.refresh_token_ttl, now)
    session.add(RefreshToken(jti=jti, wallet=wallet, issued_at=now, expires_at=expires))
    return TokenPair(access, refresh, settings.access_token_ttl)


def decode(settings: Settings, token: str, kind: str) -> dict:
    try:
        claims = jwt.decode(
            token,
            signing_secret(settings),
            algorithms=[ALGORITHM],
            audience=AUDIENCE,
            issuer=ISSUER,
            options={"require": ["exp", "iat", "sub", "jti", "typ"]},
        )
    except jwt.ExpiredSignatureError:
        raise SignInRefused("token_expired", "the token has expired") from None
    except jwt.PyJWTError:
        raise SignInRefused("token_invalid", "the token is not valid") from None
    if claims["typ"] != kind:
        raise SignInRefused("token_invalid", f"an {kind} token is required")
    return claims


def wallet_of_access_token(settings: Settings, token: str) -> str:
    return decode(settings, token, ACCESS)["sub"]


def refresh(session: Session, settings: Settings, token: str) -> TokenPair:
    claims = decode(settings, token, REFRESH)
    now = utcnow()
    consumed = session.execute(
        update(RefreshToken)
        .where(
            RefreshToken.jti == claims["jti"],
            RefreshToken.used_at.is_(None),
            RefreshToken.revoked_at.is_(None),
            RefreshToken.expires_at > now,
        )
        .values(used_at=now)
    ).rowcount
    if consumed != 1:
        revoke_all(session, claims["sub"])
        session.commit()  # the revocation must stick although this request fails
        raise SignInRefused("refresh_reused", "this refresh token was already used or revoked")
    return issue_pair(session, settings, claims["sub"])


def revoke_all(session: Session, wallet: str) -> int:
    return session.execute(
        update(RefreshToken)
        .where(RefreshToken.wallet == wallet, RefreshToken.revoked_at.is_(None))
        .values(revoked_at=utcnow())
    ).rowcount
