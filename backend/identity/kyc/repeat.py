"""A KYC submission sent again as it was: a client retrying after a lost answer, or a second click.
Taken for a new application, it wrote a second record, queued a second attestation (gas the
platform pays) and used up the applicant's daily allowance (review-api M1). It is answered with
the wallet's current record instead, and nothing is written.

The personal data is sealed under random nonces, so the comparison opens the wallet's own current
record and compares the canonical bytes its commitment covers (and the documents). Only the
caller's own record is ever read, so the comparison tells a caller nothing about anyone else's."""

from __future__ import annotations

import hmac
from datetime import datetime, timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session

from backend.config import Settings
from backend.identity.crypto.keyring import load_keyring
from backend.identity.kyc.record import CanonicalRecord
from backend.identity.kyc.status import OPEN, Status
from backend.identity.kyc.vault import open_part, open_sealed
from backend.identity.models import KycRecord


def repeated_record(session: Session, settings: Settings, candidate: CanonicalRecord, documents: list[bytes],
                    now: datetime) -> KycRecord | None:  # fmt: skip
    """The wallet's current record when `candidate` (with `documents`) says exactly what it says:
    one waiting for review, or an approved one still valid and submitted within the velocity window
    (`kyc_velocity_window`, a day). Past that window the same data again is a renewal: a new record
    whose attestation runs a full validity from now."""
    since = now - timedelta(seconds=settings.kyc_velocity_window)
    current = session.scalars(select(KycRecord).where(
        KycRecord.wallet == candidate.wallet, KycRecord.level == candidate.level,
        KycRecord.document_count == len(documents), KycRecord.wrapped_key.is_not(None),
        (KycRecord.status.in_(OPEN))
        | ((KycRecord.status == Status.APPROVED) & (KycRecord.expires_at > now) & (KycRecord.submitted_at >= since)),
    ).order_by(KycRecord.submitted_at.desc()))  # fmt: skip
    keyring = None
    for record in current:
        keyring = keyring or load_keyring(settings)
        opened = open_sealed(keyring, record).record
        if not hmac.compare_digest(opened.to_bytes(), candidate.to_bytes()):
            continue
        sealed = [open_part(keyring, record, f"document/{d.id}", d.ciphertext) for d in record.documents]
        if all(hmac.compare_digest(a, b) for a, b in zip(sealed, documents, strict=True)):
            return record
    return None
