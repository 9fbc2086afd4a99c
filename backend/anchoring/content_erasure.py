"""Erasing a document's bytes while its hash and its proof stay.

An erasure deletes the wallet's loan offers never accepted, and each one's agreement document names
the wallet, the amount, the term and the decision's hash: kept, it would still tie the wallet to the
erased decision's score, grade and PD. The document's record is marked in the erasure's own
transaction (`erase_agreements`); its bytes leave the content store only once that has committed
(`remove_erased`, run right after the commit and by the retention worker's rounds until it is
recorded), so an erasure rolled back never takes a live offer's document. The hash stays anchored:
whoever holds the bytes (the borrower who signed them) can still prove them by upload, and nobody can
have them from the platform any more (`GET /verify?cid=` answers 410). A restore removes again the
bytes of every erased document, those of its replayed erasures included (`forget_removals`)."""

from __future__ import annotations

import logging
from collections.abc import Iterable
from datetime import UTC, datetime

from sqlalchemy import Connection, event, inspect, select, update
from sqlalchemy.orm import Session

from backend.anchoring.models import Document
from backend.chain.projection_models import LoanRow
from backend.config import Settings
from backend.content.store import get_content_store
from backend.db.session import session_scope

log = logging.getLogger(__name__)

BATCH = 100  # removals recorded per transaction: a store failing midway leaves little to redo
LISTENING = "loanchain.removes-erased-documents"  # in Session.info: its after-commit remover is registered


def erase_agreements(session: Session, settings: Settings, agreement_hashes: Iterable[str], now: datetime) -> list[int]:
    """Mark the documents of these agreement hashes erased; their bytes go after the commit."""
    hashes = sorted(set(agreement_hashes))
    if not hashes:
        return []
    # Never a loan's: its agreement is the record of a contract made (LoanBook holds its hash).
    documents = list(session.scalars(select(Document).where(Document.doc_hash.in_(hashes), Document.cid.is_not(None),
                                                            Document.content_erased_at.is_(None),
                                                            Document.doc_hash.not_in(select(LoanRow.agreement_hash)))
                                     .with_for_update()))  # fmt: skip
    for document in documents:
        document.content_erased_at = now
    if documents and not session.info.get(LISTENING):
        session.info[LISTENING] = True
        event.listen(session, "after_commit", _remover(settings))
    return [d.id for d in documents]


def _remover(settings: Settings):
    def after_commit(session: Session) -> None:
        # SQLAlchemy calls this when a savepoint is released too, the transaction still open: not
        # committed yet. A later commit of the session (after a rollback of this one, say) removes again:
        # it reads what has committed, so nothing live.
        if not session.in_nested_transaction():
            remove_quietly(settings)

    return after_commit


def erased_cids(conn: Connection) -> set[str]:
    if "content_erased_at" not in {c["name"] for c in inspect(conn).get_columns(Document.__tablename__)}:
        return set()  # a database from before migration 0054, backed up as it stands: nothing erased yet
    return set(conn.scalars(select(Document.cid).where(Document.content_erased_at.is_not(None), Document.cid.is_not(None))))


def forget_removals(session: Session) -> None:
    """After a restore has written the backup's blobs back: every erased document's bytes are to be
    removed again, until that is recorded."""
    session.execute(update(Document).where(Document.content_erased_at.is_not(None)).values(content_removed_at=None))


def remove_erased(settings: Settings) -> int:
    """Have the content store drop the bytes of the erased documents not yet recorded as removed.
    Returns how many it removed."""
    with session_scope(settings) as session:
        due = list(session.execute(select(Document.id, Document.cid)
                                   .where(Document.content_erased_at.is_not(None), Document.cid.is_not(None),
                                          Document.content_removed_at.is_(None))
                                   .order_by(Document.id)))  # fmt: skip
    store = get_content_store(settings)
    for start in range(0, len(due), BATCH):
        chunk = due[start:start + BATCH]
        for _, cid in chunk:
            store.remove(cid)
        store.collect_garbage()
        with session_scope(settings) as session:
            session.execute(update(Document).where(Document.id.in_([i for i, _ in chunk]))
                            .values(content_removed_at=datetime.now(UTC)))  # fmt: skip
    return len(due)


def remove_quietly(settings: Settings) -> None:
    try:
        remove_erased(settings)
    except Exception as exc:  # noqa: BLE001 - the retention worker's next round removes them
        log.warning("erased documents not removed yet: %s: %s", type(exc).__name__, exc)
