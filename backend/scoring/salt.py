"""The secret salt a decision hash commits under.

The decision hash is public (loan terms on chain, the loans API, the loan tape), while nearly every
answer of the application is a closed choice: unsalted, anyone could try every combination until the
hash matched and read the borrower's declared debts and assets. The salt is an HMAC of the model
version and inputs under a platform key, so the same application and model version still give the
same hash, and it is stored with the decision (an auditor with the record recomputes the hash; an
outsider with only the hash cannot test guesses).

The key is derived from the KYC blind-index key (backend/identity/crypto/blind_index.py), which must
already stay the same for the platform's life: a lost key changes the salts of later decisions only,
never the check of a recorded one (its salt is in its row).
"""

from __future__ import annotations

import hashlib
import hmac
from typing import Any

from sqlalchemy.orm import Session

from backend.config import Settings
from backend.identity.crypto.blind_index import blind_index_key
from backend.scoring.canonical import canonical_json


def decision_salt_key(settings: Settings, session: Session | None = None) -> bytes:
    return hmac.new(blind_index_key(settings, session), b"loanchain/decision-salt-key/v1", hashlib.sha256).digest()


def decision_salt(key: bytes, model_version: str, inputs: dict[str, Any]) -> str:
    """0x and 64 hex digits, a function of the key, the model version and the inputs only."""
    message = b"loanchain/decision-salt/v1|" + canonical_json({"model_version": model_version, "inputs": inputs})
    return "0x" + hmac.new(key, message, hashlib.sha256).hexdigest()
