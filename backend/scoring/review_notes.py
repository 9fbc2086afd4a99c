"""Underwriters' review notes, sealed under each decision's own data key (`CreditDecision` is a
`WrappedKeyHolder`): key rotation re-wraps them with the KYC records', and erasing the applicant's
personal data shreds them. The audit log holds the verdict, never the note."""

from __future__ import annotations

from backend.config import Settings
from backend.identity.crypto.holders import open_text, seal_text
from backend.identity.crypto.keyring import Keyring, load_keyring
from backend.scoring.models import CreditDecision


def _aad(row: CreditDecision) -> bytes:
    return f"loanchain/credit-decision/review-note/{row.id}".encode()


def seal_note(keyring: Keyring, row: CreditDecision, note: str) -> None:
    """Seal `note` into `row` (whose id is known) under a fresh data key of its own."""
    row.sealed_review_note = seal_text(keyring, row, note, _aad(row))


def open_note(keyring: Keyring, row: CreditDecision) -> str | None:
    """The row's note, or None when it has none or its key was shredded."""
    return open_text(keyring, row, row.sealed_review_note, _aad(row))


def has_note(row: CreditDecision) -> bool:
    """Whether the row has a note its key can still open (not erased)."""
    return row.sealed_review_note is not None and row.wrapped_key is not None


def note_of(settings: Settings | None, row: CreditDecision) -> str | None:
    """As `open_note`, loading the keyring only for a row that has a note to open; without
    settings (a view that does not show notes) None."""
    if settings is None or not has_note(row):
        return None
    return open_note(load_keyring(settings), row)
