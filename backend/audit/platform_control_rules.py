"""Monitoring rules over who controls the platform's contracts and the reserve's money:

- `role_change`: a role granted or revoked, or a role's admin changed, on any platform contract,
  outside the deployment's own set-up (the transactions that created and wired the contracts,
  `deployment_transactions`). An extra PAUSER_ROLE can stop lending or the market; an extra
  ATTESTOR_ROLE can let anyone through KYC.
- `pause`: a platform contract paused or unpaused: lending or the market stopped, or started again.
- `reserve_outflow`: money paid out of the ReserveFund that no LoanBook default explains
  (`backend/disclosure/reserve_flows.py`).

All three read the chain index, like the note rules; a person reviews each alert."""

from __future__ import annotations

from collections.abc import Callable

from eth_utils import keccak
from sqlalchemy import select
from sqlalchemy.orm import Session

from backend.audit.schemas import AlertPublic
from backend.chain.deploy import deployment_transactions
from backend.chain.models import ChainEvent
from backend.config import Settings
from backend.disclosure.reserve_flows import cover_payments

ROLE_EVENTS = ("RoleGranted", "RoleRevoked", "RoleAdminChanged")
PAUSE_EVENTS = ("Paused", "Unpaused")
_KNOWN_ROLES = ("LOAN_BOOK_ROLE", "PAUSER_ROLE", "ANCHORER_ROLE", "UNDERWRITER_ROLE", "ATTESTOR_ROLE")
ROLE_NAMES = {"0x" + "00" * 32: "DEFAULT_ADMIN_ROLE"} | {"0x" + keccak(text=name).hex(): name for name in _KNOWN_ROLES}

Alert = Callable[..., AlertPublic]


def _role(value: str) -> str:
    return ROLE_NAMES.get(value.lower(), value)


def _events(db: Session, names: tuple[str, ...]) -> list[ChainEvent]:
    return list(db.scalars(select(ChainEvent).where(ChainEvent.event.in_(names))
                           .order_by(ChainEvent.block_number, ChainEvent.log_index)))  # fmt: skip


def role_changes(db: Session, settings: Settings, alert: Alert) -> list[AlertPublic]:
    setup = deployment_transactions(settings)
    found = []
    for e in _events(db, ROLE_EVENTS):
        if e.tx_hash in setup:
            continue
        a = e.args
        if e.event == "RoleAdminChanged":
            wallets, what = [], (f"the admin of {_role(a['role'])} on {e.contract} changed from "
                                 f"{_role(a['previousAdminRole'])} to {_role(a['newAdminRole'])}")  # fmt: skip
        else:
            verb = "granted to" if e.event == "RoleGranted" else "revoked from"
            wallets, what = [a["sender"], a["account"]], f"{_role(a['role'])} on {e.contract} {verb} {a['account']} by {a['sender']}"
        found.append(alert(rule="role_change", loan_id=None, wallets=wallets, tx_hashes=[e.tx_hash], also=[str(e.log_index)],
                           timestamp=e.block_timestamp, amount=0,
                           detail=f"{what}: check it was meant (who holds which role decides who can move the "
                                  "platform's money)"))  # fmt: skip
    return found


def pauses(db: Session, alert: Alert) -> list[AlertPublic]:
    return [alert(rule="pause", loan_id=None, wallets=[e.args["account"]], tx_hashes=[e.tx_hash], also=[str(e.log_index)],
                  timestamp=e.block_timestamp, amount=0,
                  detail=f"{e.contract} {e.event.lower()} by {e.args['account']}")
            for e in _events(db, PAUSE_EVENTS)]  # fmt: skip


def reserve_outflows(db: Session, alert: Alert) -> list[AlertPublic]:
    return [alert(rule="reserve_outflow", loan_id=o.loan_id, wallets=[o.to], tx_hashes=[o.tx_hash], also=[str(o.log_index)],
                  timestamp=o.timestamp, amount=o.amount,
                  detail=f"the ReserveFund paid {o.amount} naming loan {o.loan_id} to {o.to}: {o.reason}")
            for o in cover_payments(db).unexplained]  # fmt: skip
