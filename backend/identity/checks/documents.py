"""Identity document uploads: JPEG, PNG or PDF, recognised by their magic bytes, never by name or header.

That is all a machine checks of them: whether a file shows an identity document, and whose, is for
a person to see. So a submission with documents always goes to review (`document_review`)."""

from __future__ import annotations

from backend.identity.checks.reasons import Code, Disposition, Reason, invalid

MAGIC = (
    (b"\xff\xd8\xff", "image/jpeg"),
    (b"\x89PNG\r\n\x1a\n", "image/png"),
    (b"%PDF-", "application/pdf"),
)


def sniff(head: bytes) -> str | None:
    for prefix, media_type in MAGIC:
        if head.startswith(prefix):
            return media_type
    return None


def check_document(content: bytes, limit: int) -> str | Reason:
    """The detected media type, or why the file is refused."""
    if len(content) > limit:
        return invalid(Code.DOCUMENT_TOO_LARGE, f"each document may be at most {limit} bytes")
    media_type = sniff(content[:8])
    if media_type is None:
        return invalid(Code.DOCUMENT_TYPE, "documents must be JPEG, PNG or PDF files")
    return media_type


def check_count(count: int, limit: int) -> Reason | None:
    if count > limit:
        return invalid(Code.DOCUMENT_COUNT, f"at most {limit} documents may be uploaded")
    return None


def document_review(count: int) -> Reason:
    """The flag of a submission with `count` documents: an admin opens each before approving it, and
    only that approval grants the level they stand for (backend/identity/kyc/documents.py)."""
    return Reason(Code.DOCUMENT_REVIEW, f"{count} ID document(s) for a reviewer to open and check before the borrower "
                  "level is granted", Disposition.REVIEW)  # fmt: skip
