"""Session tokens: short-lived access JWTs and single-use refresh JWTs (HS256, pyjwt).

Refresh tokens rotate: each one is recorded and can be exchanged once. Presenting a used one
means it was copied, so every refresh token of that wallet is revoked (the OAuth 2.0 Security
BCP's refresh-token reuse detection). Roles are not put in tokens: they are read per request,
so a revoked role or an expired KYC takes effect immediately.

Ending a session reaches the access tokens too: each token carries its wallet's session generation
(`sep`, see `SessionEpoch`), read on every use, and logout or reuse detection moves it on, so a
copied access token stops working at once rather than at its expiry. Every token also carries the
time of the SIWE sign-in it descends from (`auth_time`): refreshes keep it, and refreshing stops
`session_max_age` after it, so a stolen refresh token cannot keep a session alive for ever.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import jwt
from sqlalchemy import delete, update
from sqlalchemy.orm import Session

from backend.config import Settings
from backend.db.meta import MetaEntry
from backend.db.session import get_or_add
from backend.errors import ConfigurationError
from backend.identity.crypto.keyfile import read_or_create_local_secret
from backend.identity.errors import SignInRefused
from backend.identity.models import RefreshToken, SessionEpoch, utcnow

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
    path = settings.keys_dir / "jwt.key"
    return read_or_create_local_secret(path, settings.is_local_chain, f"no JWT signing key: set LOANCHAIN_JWT_SECRET "
                                       f"(at least 32 bytes, the same on every API host) or put the key file at {path}")


@dataclass(frozen=True)
class _Session:
    wallet: str
    epoch: int
    auth_time: datetime  # the SIWE sign-in this session began with
    ends: datetime  # auth_time + session_max_age: no token outlives it


def _encode(settings: Settings, of: _Session, kind: str, ttl: int, now: datetime) -> tuple[str, str, datetime]:
    jti = uuid.uuid4().hex
    expires = min(now + timedelta(seconds=ttl), of.ends)
    claims = {"sub": of.wallet, "typ": kind, "jti": jti, "iss": ISSUER, "aud": AUDIENCE, "iat": now, "exp": expires,
              "sep": of.epoch, "auth_time": int(of.auth_time.timestamp())}  # fmt: skip
    return jwt.encode(claims, signing_secret(settings), algorithm=ALGORITHM), jti, expires


def session_epoch(session: Session, wallet: str) -> int:
    row = session.get(SessionEpoch, wallet)
    return row.epoch if row is not None else 0


def issue_pair(session: Session, settings: Settings, wallet: str, auth_time: datetime | None = None) -> TokenPair:
    """Tokens for `wallet`; `auth_time` is the sign-in the session began with (now, at a sign-in)."""
    now = utcnow()
    auth_time = auth_time or now
    of = _Session(wallet, session_epoch(session, wallet), auth_time, auth_time + timedelta(seconds=settings.session_max_age))
    session.execute(delete(RefreshToken).where(RefreshToken.wallet == wallet, RefreshToken.expires_at < now))
    access, _, access_expires = _encode(settings, of, ACCESS, settings.access_token_ttl, now)
    refresh, jti, expires = _encode(settings, of, REFRESH, settings.refresh_token_ttl, now)
    session.add(RefreshToken(jti=jti, wallet=wallet, issued_at=now, expires_at=expires))
    return TokenPair(access, refresh, max(0, int((access_expires - now).total_seconds())))


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
    # Checked here, not in `require`: an expired token still says "expired" rather than "invalid".
    if not isinstance(claims.get("sep"), int) or not isinstance(claims.get("auth_time"), int):
        raise SignInRefused("token_invalid", "the token is not valid: sign in again")
    return claims


def _current(session: Session, claims: dict) -> None:
    if claims["sep"] != session_epoch(session, claims["sub"]):
        raise SignInRefused("session_ended", "this session was ended (signed out, or a copied refresh token was "
                            "used): sign in again")  # fmt: skip
    not_before = session.get(MetaEntry, SESSIONS_NOT_BEFORE)
    if not_before is not None and claims["iat"] < int(not_before.value):
        raise SignInRefused("session_ended", "the platform was restored from a backup since this session began: "
                            "sign in again")  # fmt: skip


SESSIONS_NOT_BEFORE = "sessions_not_before"  # meta: tokens issued before it (epoch seconds) are refused


def end_all_sessions(session: Session) -> int:
    """At a restore: the backup's session epochs and refresh tokens predate every sign-out and
    reuse detection since it was taken, so every session from before now ends (its access tokens
    by their `iat`) and everyone signs in again. Returns the refresh tokens revoked."""
    now = utcnow()
    # Whole seconds, as in `iat`: a sign-in on the restored host in this same second still counts.
    session.merge(MetaEntry(key=SESSIONS_NOT_BEFORE, value=str(int(now.timestamp()))))
    return session.execute(update(RefreshToken).where(RefreshToken.revoked_at.is_(None)).values(revoked_at=now)).rowcount


@dataclass(frozen=True)
class SignedIn:
    """Who an access token speaks for, and when the SIWE sign-in its session began with took place."""

    wallet: str
    auth_time: datetime


def signed_in_by_access_token(session: Session, settings: Settings, token: str) -> SignedIn:
    claims = decode(settings, token, ACCESS)
    _current(session, claims)
    return SignedIn(claims["sub"], datetime.fromtimestamp(claims["auth_time"], UTC))


def require_recent_sign_in(settings: Settings, auth_time: datetime | None) -> None:
    """Step-up for what exposes or destroys personal data, or hands out power: a stolen but still
    valid token (or a session left open) is not enough; the wallet must have signed in lately."""
    limit = settings.fresh_sign_in_max_age
    if auth_time is None:  # a principal not made from a token (none is, outside tests)
        raise SignInRefused("fresh_sign_in_required", "this needs a recent sign-in: sign in again", max_age=limit)
    age = (utcnow() - auth_time).total_seconds()
    if age > limit:
        raise SignInRefused("fresh_sign_in_required",
                            f"this needs a sign-in within the last {_duration(limit)}; your session began "
                            f"{_duration(age)} ago: sign in again", max_age=limit)  # fmt: skip


def _duration(seconds: float) -> str:
    seconds = int(seconds)
    return f"{seconds // 60} min" if seconds >= 120 else f"{seconds} s"


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
        end_sessions(session, claims["sub"])
        session.commit()  # the revocation must stick although this request fails
        raise SignInRefused("refresh_reused", "this refresh token was already used or revoked")
    _current(session, claims)
    auth_time = datetime.fromtimestamp(claims["auth_time"], UTC)
    if now - auth_time >= timedelta(seconds=settings.session_max_age):
        raise SignInRefused("session_expired", f"sessions last {settings.session_max_age // 3600} hours from the "
                            "sign-in, refreshes included: sign in again")  # fmt: skip
    return issue_pair(session, settings, claims["sub"], auth_time=auth_time)


def end_sessions(session: Session, wallet: str) -> int:
    """End every session of `wallet`: its refresh tokens are revoked and its access tokens stop
    working at once. Returns how many refresh tokens were revoked."""
    now = utcnow()
    row, _ = get_or_add(session, SessionEpoch, wallet, lambda: SessionEpoch(wallet=wallet, epoch=0, ended_at=now), lock=True)
    row.epoch, row.ended_at = row.epoch + 1, now
    return session.execute(
        update(RefreshToken)
        .where(RefreshToken.wallet == wallet, RefreshToken.revoked_at.is_(None))
        .values(revoked_at=now)
    ).rowcount
