"""Statuses a KYC record moves through."""

from __future__ import annotations

from enum import StrEnum


class Status(StrEnum):
    PENDING = "pending"  # received, checks running (transient within a submission)
    APPROVED = "approved"  # verified; attested on-chain through the outbox
    REJECTED = "rejected"  # by a rule (under age) or by a reviewer; any attestation is revoked
    NEEDS_REVIEW = "needs_review"  # flagged (duplicate identity, watch list): waits for an admin
    EXPIRED = "expired"  # validity ran out; the attestation is revoked
    SUPERSEDED = "superseded"  # a renewal was approved; the new record holds the attestation
    ERASED = "erased"  # data key shredded at the owner's or an admin's request


OPEN = (Status.PENDING, Status.NEEDS_REVIEW)
