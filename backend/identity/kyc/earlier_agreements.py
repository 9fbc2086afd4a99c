"""The agreement documents of offers erased before erasures took their bytes (migration 0054).

Those erasures deleted the offers and left their documents: a document's record does not say which
offer it was written for, only its bytes do. So once per database (`meta` `earlier-agreements-erased`)
the retention worker reads the documents no offer names any more, and erases those that are a loan
agreement of a wallet the erasure log names (an offer is deleted by nothing else: an erasure, its
replay, or migration 0042 for decisions erased before). A document someone uploaded that only looks
like an agreement of a wallet never erased stays."""

from __future__ import annotations

import json
from datetime import UTC, datetime

from sqlalchemy import select

from backend import audit
from backend.anchoring.content_erasure import erase_agreements
from backend.anchoring.models import KIND_DOCUMENT, Document
from backend.config import Settings
from backend.content.store import get_content_store
from backend.db.meta import MetaEntry
from backend.db.session import get_or_add, session_scope
from backend.errors import ContentError
from backend.identity.kyc.erasures import erased_wallets
from backend.lending.models import LoanOffer

DONE_META = "earlier-agreements-erased"


def erase_earlier_agreements_once(settings: Settings) -> list[int] | None:
    """The ids of the documents erased now (None: done on this database already)."""
    with session_scope(settings) as session:
        if session.get(MetaEntry, DONE_META) is not None:
            return None
        unnamed = list(session.execute(select(Document.doc_hash, Document.cid)
                                       .where(Document.kind == KIND_DOCUMENT, Document.cid.is_not(None),
                                              Document.content_erased_at.is_(None),
                                              Document.doc_hash.not_in(select(LoanOffer.agreement_hash)))
                                       .order_by(Document.id)))  # fmt: skip
    wallets = {w.lower() for w in erased_wallets(settings)}
    store = get_content_store(settings)
    hashes = [doc_hash for doc_hash, cid in unnamed if wallets and _agreement_of(store, cid) in wallets]
    with session_scope(settings) as session:
        erased = erase_agreements(session, settings, hashes, datetime.now(UTC))
        if erased:
            audit.record(session, actor="system", action="document.erase", subject="documents:earlier-agreements",
                         payload={"documents": erased, "why": "agreements of offers erased before migration 0054"})  # fmt: skip
        row, _ = get_or_add(session, MetaEntry, DONE_META, lambda: MetaEntry(key=DONE_META, value=""))
        row.value = str(len(erased))
    return erased


def _agreement_of(store, cid: str) -> str | None:
    """The borrower wallet (lower case) of a loan agreement stored under `cid`; None for anything else."""
    try:
        document = json.loads(store.get(cid))
    except (ContentError, ValueError):  # gone, or not JSON: no agreement to erase
        return None
    if not isinstance(document, dict) or document.get("document") != "loanchain loan agreement":
        return None
    wallet = (document.get("parties") or {}).get("borrower_wallet")
    return wallet.lower() if isinstance(wallet, str) else None
