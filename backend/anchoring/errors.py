"""Anchoring's own errors (subclasses of the one root, mapped to HTTP by api/errors.py)."""

from backend.errors import ChainError, ValidationFailed


class DocumentTooLarge(ValidationFailed):
    status_code = 413
    code = "document_too_large"


class AnchorContractMismatch(ChainError):
    """The DocumentAnchor address holds other code than the deployment manifest recorded."""

    status_code = 502
    code = "anchor_contract_mismatch"
