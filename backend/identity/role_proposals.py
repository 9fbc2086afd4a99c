"""Staff roles through the API are maker-checker: one admin proposes a grant, and it holds only once
an admin who is another person than the proposer and than the grantee confirms it, within
`settings.role_grant_ttl`. Any admin, its proposer too, may reject it: that takes no power away from
anyone. Only a wallet with an approved KYC is proposed, so that a known person is behind every
staff wallet the API makes, and the four-eyes rules, which compare persons (persons.py), hold.

Revocations stay immediate (one admin): they only reduce power, and a compromised staff wallet must
lose its role at once. The operator's CLI grants directly (roles.change_role): it is how the first
staff come to be, and whoever runs it controls the server anyway."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session

from backend.config import Settings
from backend.errors import Conflict, Forbidden, NotFound
from backend.idempotency import Recorded
from backend.identity.audit_trail import audit
from backend.identity.models import RoleGrantProposal, utcnow
from backend.identity.persons import is_verified, same_person
from backend.identity.roles import Role, change_role, checksum, grant_role, grantable, roles_of
from backend.identity.schemas import RoleChangePublic, RoleProposalPublic

PENDING, CONFIRMED, REJECTED = "pending", "confirmed", "rejected"


def request_change(session: Session, settings: Settings, actor: str, wallet: str, role: str,
                   action: str) -> Recorded[RoleChangePublic]:  # fmt: skip
    """The API's use case: a revocation at once, a grant proposed (`created`: a new proposal)."""
    if action == "revoke":
        return Recorded(change_role(session, settings, actor, wallet, role, action), created=False)
    return propose(session, settings, actor, wallet, role)


def propose(session: Session, settings: Settings, actor: str, wallet: str, role: str) -> Recorded[RoleChangePublic]:
    """Propose granting `role` to `wallet`; the open proposal when there is one already (a retry,
    or another admin's), nothing when the wallet holds the role: `created` only for a new one."""
    wallet, granted = checksum(wallet), grantable(role)
    held = roles_of(session, settings, wallet)
    if granted in held:
        return Recorded(_answer(wallet, granted, "grant", False, held, None), created=False)
    if not is_verified(session, wallet):
        raise Conflict(f"{wallet} has no approved KYC: a staff role is granted only to a wallet whose person is "
                       "verified", wallet=wallet)  # fmt: skip
    now = utcnow()
    proposal = session.scalars(select(RoleGrantProposal).where(
        RoleGrantProposal.wallet == wallet, RoleGrantProposal.role == granted.value,
        RoleGrantProposal.status == PENDING, RoleGrantProposal.expires_at > now,
    ).limit(1)).first()  # fmt: skip
    created = proposal is None
    if created:
        proposal = RoleGrantProposal(wallet=wallet, role=granted.value, proposed_by=actor, proposed_at=now,
                                     expires_at=now + timedelta(seconds=settings.role_grant_ttl), status=PENDING)  # fmt: skip
        session.add(proposal)
        session.flush()
        audit(session, actor, "role.grant.propose", wallet, {"proposal_id": proposal.id, "wallet": wallet,
                                                             "role": granted.value})  # fmt: skip
    return Recorded(_answer(wallet, granted, "grant", False, held, proposal), created=created)


def confirm(session: Session, settings: Settings, actor: str, proposal_id: int) -> RoleChangePublic:
    proposal = _open(session, proposal_id)
    if same_person(session, actor, proposal.proposed_by):
        raise Forbidden("you proposed this grant (or another wallet of yours did): an admin who is another person "
                        "confirms it", proposal_id=proposal.id)  # fmt: skip
    if same_person(session, actor, proposal.wallet):
        raise Forbidden("you are the grantee (or another wallet of the grantee's person): an admin who is another "
                        "person confirms it", proposal_id=proposal.id)  # fmt: skip
    if Role.ADMIN not in roles_of(session, settings, proposal.proposed_by):
        raise Conflict(f"its proposer {proposal.proposed_by} is no longer an admin: propose it again",
                       proposal_id=proposal.id)  # fmt: skip
    if not is_verified(session, proposal.wallet):
        raise Conflict(f"{proposal.wallet} no longer has an approved KYC: a staff role is granted only to a wallet "
                       "whose person is verified", proposal_id=proposal.id)  # fmt: skip
    _decide(proposal, CONFIRMED, actor)
    changed = grant_role(session, proposal.proposed_by, proposal.wallet, proposal.role, confirmed_by=actor,
                         proposal_id=proposal.id)  # fmt: skip
    role = Role(proposal.role)
    return _answer(proposal.wallet, role, "grant", changed, roles_of(session, settings, proposal.wallet), proposal)


def reject(session: Session, settings: Settings, actor: str, proposal_id: int) -> RoleChangePublic:
    proposal = _open(session, proposal_id)
    _decide(proposal, REJECTED, actor)
    audit(session, actor, "role.grant.reject", proposal.wallet, {"proposal_id": proposal.id, "wallet": proposal.wallet,
                                                                 "role": proposal.role})  # fmt: skip
    role = Role(proposal.role)
    return _answer(proposal.wallet, role, "reject", False, roles_of(session, settings, proposal.wallet), proposal)


def pending(session: Session) -> list[RoleProposalPublic]:
    """Proposals waiting for a second admin, oldest first (expired ones are not shown)."""
    rows = session.scalars(select(RoleGrantProposal)
                           .where(RoleGrantProposal.status == PENDING, RoleGrantProposal.expires_at > utcnow())
                           .order_by(RoleGrantProposal.proposed_at, RoleGrantProposal.id))  # fmt: skip
    return [proposal_public(p) for p in rows]


def _open(session: Session, proposal_id: int) -> RoleGrantProposal:
    # Locked (PostgreSQL), so that two admins deciding at once decide it once.
    proposal = session.get(RoleGrantProposal, proposal_id, with_for_update=True)
    if proposal is None:
        raise NotFound(f"no role grant proposal {proposal_id}", proposal_id=proposal_id)
    if proposal.status != PENDING:
        raise Conflict(f"this proposal was {proposal.status} by {proposal.decided_by}", proposal_id=proposal.id)
    if proposal.expires_at <= utcnow():
        raise Conflict(f"this proposal expired unconfirmed at {proposal.expires_at:%Y-%m-%d %H:%M} UTC: propose it again",
                       proposal_id=proposal.id)  # fmt: skip
    return proposal


def _decide(proposal: RoleGrantProposal, status: str, actor: str) -> None:
    proposal.status, proposal.decided_by, proposal.decided_at = status, actor, utcnow()


def proposal_public(p: RoleGrantProposal) -> RoleProposalPublic:
    status = "expired" if p.status == PENDING and p.expires_at <= utcnow() else p.status
    return RoleProposalPublic(id=p.id, wallet=p.wallet, role=p.role, proposed_by=p.proposed_by, proposed_at=p.proposed_at,
                              expires_at=p.expires_at, status=status, decided_by=p.decided_by, decided_at=p.decided_at)  # fmt: skip


def _answer(wallet: str, role: Role, action: str, changed: bool, roles, proposal: RoleGrantProposal | None) -> RoleChangePublic:
    return RoleChangePublic(wallet=wallet, role=role.value, action=action, changed=changed, roles=sorted(roles),
                            proposal=None if proposal is None else proposal_public(proposal))  # fmt: skip
