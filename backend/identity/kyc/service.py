"""The KYC service API that routes and the CLI call."""

from __future__ import annotations

from sqlalchemy.orm import Session

from backend.config import Settings
from backend.errors import NotFound
from backend.identity.crypto.keyring import load_keyring
from backend.identity.export_schemas import KycExportPublic
from backend.identity.kyc.documents import open_document
from backend.identity.kyc.erasure_requests import scheduled_erasure
from backend.identity.kyc.lifecycle import erase_wallet, expire_due
from backend.identity.kyc.person_links import link_person
from backend.identity.kyc.reveals import reveal_reasons
from backend.identity.kyc.review import approve, get_record, queue, reject, reveal, review_item
from backend.identity.kyc.submission import submit, submit_once
from backend.identity.kyc.vault import open_sealed
from backend.identity.kyc.views import data_public, owner_view, wallet_records
from backend.identity.roles import roles_of
from backend.identity.schemas import KycDataPublic, KycStatusPublic

__all__ = [
    "approve",
    "erase_wallet",
    "expire_due",
    "export",
    "get_record",
    "link_person",
    "my_data",
    "my_status",
    "open_document",
    "queue",
    "reject",
    "reveal",
    "reveal_reasons",
    "review_item",
    "submit",
    "submit_once",
]


def my_status(session: Session, settings: Settings, wallet: str) -> KycStatusPublic:
    records = wallet_records(session, wallet)
    views = [owner_view(session, r) for r in records]
    return KycStatusPublic(
        wallet=wallet,
        status=views[0].status if views else "none",
        roles=sorted(roles_of(session, settings, wallet)),
        current=views[0] if views else None,
        records=views,
        erasure=scheduled_erasure(session, settings, wallet),
    )


def export(session: Session, settings: Settings, wallet: str) -> KycExportPublic:
    """All of `wallet`'s own personal data (kyc/export.py), read by the wallet itself."""
    # Imported here: the export reads servicing, whose delivery imports this module for contacts.
    from backend.identity.kyc.export import export as build

    return build(session, settings, wallet)


def my_data(session: Session, settings: Settings, wallet: str) -> KycDataPublic:
    """The owner's own latest record, decrypted, with its salt so they can check the commitment."""
    records = [r for r in wallet_records(session, wallet) if r.erased_at is None]
    if not records:
        raise NotFound("no KYC data for this wallet")
    return data_public(records[0], open_sealed(load_keyring(settings), records[0]), reveal=True)


def contact_email(session: Session, settings: Settings, wallet: str, purpose: str) -> str | None:
    """The e-mail address of the wallet's latest unerased KYC record, decrypted for one stated
    purpose and audited (the purpose, never the address); None when there is none."""
    person = _contact(session, settings, wallet, purpose, "email")
    return person.email if person else None


def contact_phone(session: Session, settings: Settings, wallet: str, purpose: str) -> str | None:
    """The phone number (E.164) of the wallet's latest unerased KYC record, as `contact_email`."""
    person = _contact(session, settings, wallet, purpose, "phone")
    return person.phone if person else None


def contact_phone_and_country(session: Session, settings: Settings, wallet: str, purpose: str) -> tuple[str, str] | None:
    """The phone number and the address country (alpha-3) of that record: texts keep to quiet hours
    in the borrower's own time zone (`servicing/quiet_hours.py`)."""
    person = _contact(session, settings, wallet, purpose, "phone")
    return (person.phone, person.country) if person else None


def _contact(session: Session, settings: Settings, wallet: str, purpose: str, channel: str):
    from backend import audit

    records = [r for r in wallet_records(session, wallet) if r.erased_at is None and r.wrapped_key is not None]
    if not records:
        return None
    person = open_sealed(load_keyring(settings), records[0]).record.person
    audit.record(session, actor="system", action="kyc.contact", subject=f"kyc:{records[0].id}",
                 payload={"purpose": purpose, "channel": channel})  # fmt: skip
    return person
