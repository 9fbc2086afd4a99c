"""The right of access and to portability (GDPR art. 15, 20): a wallet's own personal data, in one
answer, read by the wallet itself with a recent sign-in, and audited (`kyc.export`).

It holds every KYC record not erased (decrypted, with its ID documents), the credit applications the
wallet declared with their decisions, its own hardship requests and the collections case log of its
loans (notes opened), and its notices.

Withheld, and said so in the answer (`WITHHELD`): reviewers' notes on KYC records and what the
fraud, sanctions and duplicate-identity checks found (the record reads as its owner always reads it:
"under review", then the decision). Telling a person that they are suspected of fraud or money
laundering, or matched a sanctions list, is what anti-money-laundering law forbids (no tipping-off,
e.g. EU AMLD art. 39), which GDPR art. 23(1)(d) lets stand against the right of access; the same
goes for transaction-monitoring reviews and the audit log, the platform's controls against both.
Collections notes are about the person's own debt and what they said: given in full, with staff
named only as "staff" (their wallets are their own personal data, art. 15(4))."""

from __future__ import annotations

import base64

from sqlalchemy import select
from sqlalchemy.orm import Session

from backend.config import Settings
from backend.identity.audit_trail import audit
from backend.identity.crypto.keyring import Keyring, load_keyring
from backend.identity.export_schemas import (
    CaseLogEntryExport,
    CreditApplicationExport,
    KycDocumentExport,
    KycExportPublic,
    KycRecordExport,
)
from backend.identity.kyc.documents import document_part
from backend.identity.kyc.vault import open_part, open_sealed
from backend.identity.kyc.views import data_public, owner_view, wallet_records
from backend.identity.models import KycRecord, utcnow
from backend.scoring.models import CreditDecision
from backend.scoring.service import get_decision
from backend.servicing.collections import open_note
from backend.servicing.models import CollectionAction
from backend.servicing.service import notices_of

WITHHELD = [
    "Reviewers' notes on your KYC records, and what the fraud, sanctions and duplicate-identity checks found: "
    "anti-money-laundering law forbids telling anyone they are suspected or were matched (GDPR art. 23(1)(d)); "
    "each record's status and decision are given.",
    "Transaction-monitoring reviews and the audit log: the platform's own controls against fraud and money "
    "laundering, exempt for the same reason.",
    "Which member of staff recorded a collections entry or reviewed a KYC record: their identity is their own "
    "personal data (GDPR art. 15(4)); what they recorded is given.",
]


def export(session: Session, settings: Settings, wallet: str) -> KycExportPublic:
    keyring = load_keyring(settings)
    records = [r for r in wallet_records(session, wallet) if r.erased_at is None and not r.shredded]
    decisions = list(session.scalars(select(CreditDecision).where(CreditDecision.wallet == wallet)
                                     .order_by(CreditDecision.created_at)))  # fmt: skip
    entries = list(session.scalars(select(CollectionAction).where(CollectionAction.about(wallet)).order_by(CollectionAction.id)))
    notices = notices_of(session, wallet, limit=None)  # every one (SQLAlchemy: None is no LIMIT)
    case_log = [_entry(keyring, row, wallet) for row in entries]
    answer = KycExportPublic(
        wallet=wallet,
        exported_at=utcnow(),
        records=[_record(session, keyring, r) for r in records],
        credit_applications=[CreditApplicationExport(inputs=d.inputs, decision=get_decision(session, d.id, settings))
                             for d in decisions],  # fmt: skip
        hardship_requests=[e for e in case_log if e.by == "you"],
        case_log=[e for e in case_log if e.by == "staff"],
        notices=notices,
        withheld=WITHHELD,
    )
    audit(session, wallet, "kyc.export", wallet, {
        "records": [r.id for r in records], "documents": sum(len(r.documents) for r in records),
        "decisions": [d.id for d in decisions], "case_log": [row.id for row in entries], "notices": len(notices),
    })  # fmt: skip
    return answer


def _record(session: Session, keyring: Keyring, record: KycRecord) -> KycRecordExport:
    documents = [KycDocumentExport(index=d.position, media_type=d.media_type, size=d.size,
                                   content_base64=base64.b64encode(open_part(keyring, record, document_part(d), d.ciphertext)).decode())
                 for d in record.documents]  # fmt: skip
    return KycRecordExport(record=owner_view(session, record), data=data_public(record, open_sealed(keyring, record), reveal=True),
                           documents=documents)  # fmt: skip


def _entry(keyring: Keyring, row: CollectionAction, wallet: str) -> CaseLogEntryExport:
    return CaseLogEntryExport(id=row.id, loan_id=row.loan_id, kind=row.kind, by="you" if row.actor.lower() == wallet.lower() else "staff",
                              note=open_note(keyring, row), chain_time=row.chain_time, promised_amount=row.promised_amount,
                              promised_by=row.promised_by, created_at=row.created_at)  # fmt: skip
