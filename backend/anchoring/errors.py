"""Anchoring's own errors (subclasses of the one root, mapped to HTTP by api/errors.py)."""

from backend.errors import ValidationFailed


class DocumentTooLarge(ValidationFailed):
    status_code = 413
    code = "document_too_large"
