"""Roles. Borrower and investor follow from KYC (an approved, unexpired record of enough level);
auditor, underwriter and admin are granted (through the API by two admins, see role_proposals.py;
directly by the operator's CLI); configured admins are always admins."""

from __future__ import annotations

from enum import StrEnum

from eth_utils import is_address, to_checksum_address
from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from backend.config import Settings
from backend.db.session import get_or_add
from backend.errors import ConfigurationError, Conflict, ValidationFailed
from backend.identity.audit_trail import audit
from backend.identity.models import KycRecord, RoleGrant, utcnow
from backend.identity.schemas import RoleChangePublic, RoleGrantPublic


class Role(StrEnum):
    BORROWER = "borrower"
    INVESTOR = "investor"
    UNDERWRITER = "underwriter"
    AUDITOR = "auditor"
    ADMIN = "admin"


GRANTABLE = frozenset({Role.UNDERWRITER, Role.AUDITOR, Role.ADMIN})


def checksum(wallet: str, field: str = "wallet") -> str:
    """`wallet` checksummed, or a 422 naming the `field` it came in."""
    if not is_address(wallet):
        raise ValidationFailed(f"{field}: not an Ethereum address", field=field)
    return to_checksum_address(wallet)


def configured_admins(settings: Settings) -> frozenset[str]:
    bad = [w for w in settings.admin_wallets if not is_address(w)]
    if bad:
        raise ConfigurationError("LOANCHAIN_ADMIN_WALLETS holds something that is not an Ethereum address")
    return frozenset(to_checksum_address(w) for w in settings.admin_wallets)


def kyc_roles(session: Session, settings: Settings, wallet: str) -> set[Role]:
    from backend.identity.kyc.status import Status

    level = session.scalar(
        select(KycRecord.level)
        .where(KycRecord.wallet == wallet, KycRecord.status == Status.APPROVED, KycRecord.expires_at > utcnow())
        .order_by(KycRecord.level.desc())
        .limit(1)
    )
    roles: set[Role] = set()
    if level is not None and level >= settings.kyc_investor_min_level:
        roles.add(Role.INVESTOR)
    if level is not None and level >= settings.kyc_borrower_min_level:
        roles.add(Role.BORROWER)
    return roles


def roles_of(session: Session, settings: Settings, wallet: str) -> frozenset[Role]:
    roles = kyc_roles(session, settings, wallet)
    roles.update(Role(r) for r in session.scalars(select(RoleGrant.role).where(RoleGrant.wallet == wallet)))
    if wallet in configured_admins(settings):
        roles.add(Role.ADMIN)
    return frozenset(roles)


def grantable(role: str) -> Role:
    if role not in {r.value for r in GRANTABLE}:
        raise ValidationFailed(f"only {', '.join(sorted(GRANTABLE))} can be granted; borrower and investor follow from KYC")
    return Role(role)


def grant_role(session: Session, actor: str, wallet: str, role: str, *, confirmed_by: str | None = None,
               proposal_id: int | None = None) -> bool:
    """Grant `role`: directly (the operator's CLI, `actor` the name it gives), or as proposed by
    `actor` and confirmed by `confirmed_by`, who is then the audit entry's actor. False when the
    wallet already had it; audited when it changes."""
    wallet, granted = checksum(wallet), grantable(role)
    _, added = get_or_add(session, RoleGrant, (wallet, granted.value),
                          lambda: RoleGrant(wallet=wallet, role=granted.value, granted_by=actor, granted_at=utcnow(),
                                            confirmed_by=confirmed_by))  # fmt: skip
    if not added:
        return False
    payload = {"wallet": wallet, "role": granted.value}
    if confirmed_by is not None:
        payload |= {"proposal_id": proposal_id, "proposed_by": actor}
    audit(session, confirmed_by or actor, "role.grant", wallet, payload)
    return True


def revoke_role(session: Session, settings: Settings, actor: str, wallet: str, role: str) -> bool:
    wallet, revoked = checksum(wallet), grantable(role)
    if revoked == Role.ADMIN and wallet in configured_admins(settings):
        raise Conflict("this wallet is an admin by configuration (LOANCHAIN_ADMIN_WALLETS)")
    removed = session.execute(delete(RoleGrant).where(RoleGrant.wallet == wallet, RoleGrant.role == revoked.value)).rowcount
    if removed:
        audit(session, actor, "role.revoke", wallet, {"wallet": wallet, "role": revoked.value})
    return bool(removed)


def change_role(session: Session, settings: Settings, actor: str, wallet: str, role: str, action: str) -> RoleChangePublic:
    """Grant or revoke (`action`) at once, and the wallet's roles after it: the operator's (CLI) use
    case, and the API's for revocations; the API proposes grants (role_proposals.py)."""
    wallet = checksum(wallet)
    if action == "grant":
        changed = grant_role(session, actor, wallet, role)
    else:
        changed = revoke_role(session, settings, actor, wallet, role)
    return RoleChangePublic(wallet=wallet, role=role, action=action, changed=changed,
                            roles=sorted(roles_of(session, settings, wallet)))  # fmt: skip


def list_grants(session: Session, limit: int | None = None, offset: int = 0) -> list[RoleGrantPublic]:
    """Granted roles by wallet then role (one grant each: pages neither overlap nor skip), a page of
    `limit` after `offset`, or all (the CLI's)."""
    grants = session.scalars(select(RoleGrant).order_by(RoleGrant.wallet, RoleGrant.role).limit(limit).offset(offset))
    return [RoleGrantPublic(wallet=g.wallet, role=g.role, granted_by=g.granted_by, granted_at=g.granted_at,
                            confirmed_by=g.confirmed_by) for g in grants]  # fmt: skip
