"""Fixed-window counters in the database, so every API worker and machine shares one count.

An in-memory limiter would count per process: with N workers an attacker gets N times the limit.
Each hit is its own short transaction, so a request that fails afterwards (a refused sign-in,
say) still counts, unless its caller takes the hit back (`uncount`).

Client addresses are personal data: a bucket names its key by an HMAC under a key derived from the
JWT signing key (an unkeyed hash of an IPv4 address is reversed by trying them all), and a window
that has ended is deleted at the next window any client opens, so no row outlives its use.
"""

from __future__ import annotations

import hashlib
import hmac
import math
import time
from functools import lru_cache

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from sqlalchemy import delete, update
from sqlalchemy.exc import IntegrityError

from backend.config import Settings
from backend.db.session import session_scope
from backend.identity.models import RateWindow
from backend.identity.tokens import signing_secret


def _bucket_key(settings: Settings) -> bytes:
    # Derived, not stored: no new secret to carry, and every API host derives the same one.
    return _derive(signing_secret(settings))


@lru_cache(maxsize=4)
def _derive(secret: bytes) -> bytes:
    # Every limited request names its bucket: derive once per signing secret, not per hit.
    return HKDF(hashes.SHA256(), 32, salt=None, info=b"loanchain/rate-limit-bucket/v1").derive(secret)


def bucket_name(settings: Settings, scope: str, key: str) -> str:
    return f"{scope}:{hmac.new(_bucket_key(settings), key.encode(), hashlib.sha256).hexdigest()[:40]}"


def hit(settings: Settings, scope: str, key: str, window_seconds: int, now: float | None = None) -> int:
    """Count one event for (scope, key) in the current window; return the window's count so far."""
    now = time.time() if now is None else now
    bucket = bucket_name(settings, scope, key)
    window = int(now // window_seconds) * window_seconds
    for _attempt in range(3):
        try:
            with session_scope(settings) as session:
                bumped = session.execute(
                    update(RateWindow)
                    .where(RateWindow.bucket == bucket, RateWindow.window_start == window)
                    .values(count=RateWindow.count + 1)
                ).rowcount
                if not bumped:
                    # Opening a window is rare (once per client per window): the time to sweep ended ones.
                    session.execute(delete(RateWindow).where(RateWindow.ends_at <= now))
                    session.add(RateWindow(bucket=bucket, window_start=window, count=1, ends_at=window + window_seconds))
                    session.flush()
                    return 1
                return session.get(RateWindow, (bucket, window)).count
        except IntegrityError:  # another worker inserted the window first: bump it instead
            continue
    raise RuntimeError("rate window contention did not settle")


def over_limit(settings: Settings, scope: str, key: str, limit: int, window_seconds: int, now: float | None = None) -> int:
    """Count one event: 0 while within `limit` this window, else the whole seconds until the window
    ends (a 429's Retry-After)."""
    now = time.time() if now is None else now
    if hit(settings, scope, key, window_seconds, now) <= limit:
        return 0
    return max(1, math.ceil((int(now // window_seconds) + 1) * window_seconds - now))


def uncount(settings: Settings, scope: str, key: str, window_seconds: int, now: float) -> None:
    """Take back the hit counted at `now` (a request that turned out to decide nothing); a window
    that has ended since is left alone."""
    window = int(now // window_seconds) * window_seconds
    with session_scope(settings) as session:
        session.execute(
            update(RateWindow)
            .where(RateWindow.bucket == bucket_name(settings, scope, key), RateWindow.window_start == window,
                   RateWindow.count > 0)
            .values(count=RateWindow.count - 1)
        )
