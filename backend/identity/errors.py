"""Identity errors. Messages name the rule that failed, never the personal data that failed it."""

from __future__ import annotations

from typing import Any

from backend.errors import Forbidden, RateLimited, Unauthorized, ValidationFailed


class SignInRefused(Unauthorized):
    """A SIWE message or a token was refused; `code` says which check failed."""

    def __init__(self, code: str, message: str, **details: Any) -> None:
        super().__init__(message, **details)
        self.code = code


class RoleRequired(Forbidden):
    code = "role_required"


class KycInputInvalid(ValidationFailed):
    """Bad KYC input: 422, with reason codes in `context.reasons`; nothing was stored."""

    code = "kyc_input_invalid"


class KycVelocityExceeded(RateLimited):
    code = "kyc_velocity_exceeded"
