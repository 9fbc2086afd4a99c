"""Several identities from one network address. Identity farms apply for many wallets from one
machine or connection; more than a few wallets from one address within the window sends the next
submission to a human (never a refusal: a mobile carrier's or an office's shared address is no
proof of anything). The address is kept only as an HMAC under the blind-index key, only for the
window (pruned at each submission and by the servicing worker's rounds), and erased with the
wallet's KYC data."""

from __future__ import annotations

import ipaddress
from datetime import datetime, timedelta

from sqlalchemy import delete, distinct, func, select
from sqlalchemy.orm import Session

from backend.config import Settings
from backend.db.session import session_scope
from backend.identity.checks.reasons import Code, Disposition, Reason
from backend.identity.models import KycOrigin, utcnow


def network_of(host: str | None) -> str | None:
    """A public IPv4 address, or the /64 a public IPv6 host lives in (a host rotates its addresses
    inside it). None for anything else: a loopback, private or link-local address is the machine
    itself or a reverse proxy not listed in FORWARDED_ALLOW_IPS, never an applicant."""
    try:
        ip = ipaddress.ip_address(host or "")
    except ValueError:
        return None
    if ip.version == 6 and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    if not ip.is_global:
        return None
    return str(ipaddress.ip_network(f"{ip}/64", strict=False)) if ip.version == 6 else str(ip)


def check_origin(session: Session, settings: Settings, wallet: str, index: str, now: datetime) -> Reason | None:
    since = now - timedelta(seconds=settings.kyc_origin_window)
    others = session.scalar(select(func.count(distinct(KycOrigin.wallet)))
                            .where(KycOrigin.origin_index == index, KycOrigin.wallet != wallet, KycOrigin.seen_at >= since)) or 0  # fmt: skip
    if others < settings.kyc_origin_max_wallets:
        return None
    days = settings.kyc_origin_window // 86_400
    return Reason(Code.SHARED_ORIGIN, f"{others} other wallets applied from this network address in the last {days} days "
                  f"(more than {settings.kyc_origin_max_wallets} go to review)", Disposition.REVIEW)  # fmt: skip


def record_origin(session: Session, settings: Settings, wallet: str, index: str, now: datetime) -> None:
    prune_origins(session, settings, now)
    session.add(KycOrigin(wallet=wallet, origin_index=index, seen_at=now))


def prune_origins(session: Session, settings: Settings, now: datetime) -> int:
    """Delete the origins older than the window the check looks back over; how many went."""
    gone = session.execute(delete(KycOrigin).where(KycOrigin.seen_at < now - timedelta(seconds=settings.kyc_origin_window)))
    return gone.rowcount or 0


def prune_expired_origins(settings: Settings) -> int:
    """`prune_origins` in a transaction of its own, now: the servicing worker's round runs it
    (backend/workers/registry.py), so an origin goes when its window ends even if no submission
    comes after it (privacy review L4)."""
    with session_scope(settings) as session:
        return prune_origins(session, settings, utcnow())


def forget_origins(session: Session, wallet: str) -> None:
    session.execute(delete(KycOrigin).where(KycOrigin.wallet == wallet))
