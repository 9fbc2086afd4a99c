"""One exception root for loanchain. Subclasses also inherit the builtin that fits, so callers
can catch either (the web3.py / Ape convention). `api/errors.py` maps them to HTTP once."""

from __future__ import annotations

from typing import Any


class LoanchainError(Exception):
    """Root of every error loanchain raises on purpose."""

    status_code = 500
    code = "internal_error"

    def __init__(self, message: str, **details: Any) -> None:
        super().__init__(message)
        self.message = message
        self.details = details


class ConfigurationError(LoanchainError, RuntimeError):
    code = "configuration_error"


class ValidationFailed(LoanchainError, ValueError):
    status_code = 422
    code = "validation_failed"


class NotFound(LoanchainError, LookupError):
    status_code = 404
    code = "not_found"


class Conflict(LoanchainError, ValueError):
    status_code = 409
    code = "conflict"


class Unauthorized(LoanchainError, PermissionError):
    status_code = 401
    code = "unauthorized"


class Forbidden(LoanchainError, PermissionError):
    status_code = 403
    code = "forbidden"


class RateLimited(LoanchainError, RuntimeError):
    """`retry_after`: seconds until the caller's window frees, sent as the 429's Retry-After."""

    status_code = 429
    code = "rate_limited"

    def __init__(self, message: str, retry_after: int, **details: Any) -> None:
        super().__init__(message, retry_after=retry_after, **details)
        self.retry_after = retry_after


class ServiceUnavailable(LoanchainError, ConnectionError):
    status_code = 503
    code = "service_unavailable"


class CompilerError(LoanchainError, RuntimeError):
    code = "compiler_error"


class ChainError(LoanchainError, RuntimeError):
    code = "chain_error"


class ChainUnavailable(ChainError, ConnectionError):
    status_code = 503
    code = "chain_unavailable"


class ContractRevert(ChainError):
    """A call reverted; `error_name`/`error_args` hold the decoded Solidity custom error."""

    status_code = 422
    code = "contract_revert"

    def __init__(self, message: str, error_name: str | None = None, error_args: dict | None = None, **kw: Any):
        super().__init__(message, error_name=error_name, error_args=error_args or {}, **kw)
        self.error_name = error_name
        self.error_args = error_args or {}


class DeploymentError(ChainError):
    code = "deployment_error"


class ContentError(LoanchainError, ValueError):
    code = "content_error"


class ContentNotFound(ContentError, LookupError):
    status_code = 404
    code = "content_not_found"


class ContentErased(ContentError, LookupError):
    """Bytes erased with the personal data they held; their hash stays anchored."""

    status_code = 410
    code = "content_erased"


class InvalidCid(ContentError, ValidationFailed):
    """A string that is not a CID this store produces (CIDv1, base32, raw/dag-pb, sha2-256)."""

    status_code = 422
    code = "invalid_cid"


class ContentIntegrityError(ContentError):
    """Bytes read back do not hash to the CID they were stored under."""

    status_code = 409
    code = "content_tampered"
