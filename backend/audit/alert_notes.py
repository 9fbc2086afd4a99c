"""Monitoring alert review notes, sealed under each review's own data key (`AlertReview` is a
`WrappedKeyHolder`): key rotation re-wraps them with the KYC records', and erasing the borrower of
the alert's loan (or an applicant of an `answers_changed` alert) shreds them. The audit log holds the
sealed note's hash, never the note."""

from __future__ import annotations

import hashlib

from backend.audit.models import AlertReview
from backend.audit.schemas import AlertReviewPublic
from backend.db.base import as_utc
from backend.identity.crypto.holders import open_text, seal_text
from backend.identity.crypto.keyring import Keyring


def _aad(row: AlertReview) -> bytes:
    return f"loanchain/monitoring/review-note/{row.alert_key}".encode()


def seal_note(keyring: Keyring, row: AlertReview, note: str) -> None:
    """Seal `note` into `row` (whose alert key is set) under a fresh data key of its own."""
    row.sealed_note = seal_text(keyring, row, note, _aad(row))


def open_note(keyring: Keyring, row: AlertReview) -> str | None:
    """The row's note, or None once its key was shredded."""
    return open_text(keyring, row, row.sealed_note, _aad(row))


def sealed_note_sha256(row: AlertReview) -> str | None:
    """What the review's audit entry commits to in place of the note."""
    return hashlib.sha256(row.sealed_note).hexdigest() if row.sealed_note is not None else None


def review_public(row: AlertReview, keyring: Keyring | None) -> AlertReviewPublic:
    """The review, its note opened with `keyring` (None: withheld, and marked so if it still has one)."""
    return AlertReviewPublic(decision=row.decision, reviewer=row.reviewer, reviewed_at=as_utc(row.reviewed_at),
                             note=open_note(keyring, row) if keyring is not None else None,
                             note_withheld=keyring is None and not row.shredded)  # fmt: skip
