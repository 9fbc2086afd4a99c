"""Several identities from one network address. Identity farms apply for many wallets from one
machine or connection; more than a few wallets from one address within the window sends the next
submission to a human (never a refusal: a mobile carrier's or an office's shared address is no
proof of anything). The address is kept only as an HMAC under the blind-index key, only for the
window, and erased with the wallet's KYC data."""

from __future__ import annotations

import ipaddress
from datetime import datetime, timedelta

from sqlalchemy import delete, distinct, func, select
from sqlalchemy.orm import Session

from backend.config import Settings
from backend.identity.checks.reasons import Code, Disposition, Reason
from backend.identity.models import KycOrigin

# An IPv6 host rotates its addresses inside its /64, and a home or a small office is delegated a /56
# (RIPE-690) or a /48, so one connection can move to any of 256 /64s at will: counted at /64, one
# household was 256 "addresses". A /56 is a household, or a few of one carrier's mobile customers.
IPV6_PREFIX = 56


def network_of(host: str | None) -> str | None:
    """A public IPv4 address, or the IPv6 network (`IPV6_PREFIX`) a public IPv6 host lives in. None
    for anything else: a loopback, private or link-local address is the machine itself or a reverse
    proxy not listed in FORWARDED_ALLOW_IPS, never an applicant."""
    try:
        ip = ipaddress.ip_address(host or "")
    except ValueError:
        return None
    if ip.version == 6 and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    if not ip.is_global:
        return None
    return str(ipaddress.ip_network(f"{ip}/{IPV6_PREFIX}", strict=False)) if ip.version == 6 else str(ip)


def check_origin(session: Session, settings: Settings, wallet: str, index: str, now: datetime) -> Reason | None:
    since = now - timedelta(seconds=settings.kyc_origin_window)
    others = session.scalar(select(func.count(distinct(KycOrigin.wallet)))
                            .where(KycOrigin.origin_index == index, KycOrigin.wallet != wallet, KycOrigin.seen_at >= since)) or 0  # fmt: skip
    if others <= settings.kyc_origin_max_wallets:
        return None
    days = settings.kyc_origin_window // 86_400
    return Reason(Code.SHARED_ORIGIN, f"{others} other wallets applied from this network address in the last {days} days "
                  f"(more than {settings.kyc_origin_max_wallets} go to review)", Disposition.REVIEW)  # fmt: skip


def record_origin(session: Session, settings: Settings, wallet: str, index: str, now: datetime) -> None:
    session.execute(delete(KycOrigin).where(KycOrigin.seen_at < now - timedelta(seconds=settings.kyc_origin_window)))
    session.add(KycOrigin(wallet=wallet, origin_index=index, seen_at=now))


def forget_origins(session: Session, wallet: str) -> None:
    session.execute(delete(KycOrigin).where(KycOrigin.wallet == wallet))
