"""Document anchoring: store a document, queue its keccak256, batch hashes into a Merkle root
anchored on DocumentAnchor through the outbox, and verify documents against the chain.

Other domains call `anchor(session, settings, document_bytes, actor=...)` inside their own
transaction; it returns the record (with its CID and document hash) and is idempotent.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from sqlalchemy.orm import Session

    from backend.anchoring.documents import AnchorResult
    from backend.config import Settings


def anchor(session: Session, settings: Settings, document: bytes, *, actor: str = "system") -> AnchorResult:
    # Imported here so that loading the models (backend.db.models) stays light.
    from backend.anchoring.documents import anchor_document

    return anchor_document(session, settings, document, actor=actor)


__all__ = ["anchor"]
