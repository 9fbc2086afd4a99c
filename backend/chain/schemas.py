"""Public view of outbox intents (API, CLI)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, field_serializer


class IntentPublic(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    key: str
    status: str
    contract: str
    address: str | None
    function: str
    args: list[Any]
    value: int
    sender: str | None
    nonce: int | None
    tx_hash: str | None
    gas_used: int | None
    block_number: int | None
    block_hash: str | None
    replaced_tx_hashes: list[str]
    error: str | None
    error_name: str | None
    error_args: dict[str, Any] | None
    attempts: int
    created_at: datetime
    sent_at: datetime | None
    confirmed_at: datetime | None

    @field_serializer("value")
    def _value_as_text(self, value: int) -> str:  # wei can exceed 2**53
        return str(value)
