"""An erasure takes the bytes of the agreement documents of the offers it deletes: each names the
wallet, the amount, the term and the erased decision's hash. The hash stays anchored, so whoever
holds the bytes can still prove them; the platform no longer hands them out."""

from __future__ import annotations

import json

import pytest
from sqlalchemy import select

from backend.anchoring.documents import anchor_document
from backend.anchoring.models import Document
from backend.anchoring.verification import verify_bytes, verify_cid
from backend.audit.models import AuditEntry
from backend.content.embedded import EmbeddedContentStore
from backend.content.store import get_content_store
from backend.db import migrate
from backend.db.session import session_scope
from backend.errors import ContentErased
from backend.identity.kyc.lifecycle import erase_wallet
from backend.identity.kyc.retention import retention_step
from backend.lending.models import LoanOffer
from tests.conftest import make_settings
from tests.identity.conftest import client_for, make_applicant
from tests.identity.test_erasure_scope import verified_with_a_repaid_loan
from tests.scoring.conftest import SAMPLE


@pytest.fixture
def settings(tmp_path, database_url):
    settings = make_settings(tmp_path, database_url=database_url, aml_retention_days=0)  # erased at once
    migrate.upgrade(settings)
    return settings


def _agreement(offer_id: str, wallet: str, decision_hash: str) -> bytes:
    """Shaped as `backend/lending/agreement.py` writes one (the parts that name the wallet and decision)."""
    return json.dumps({"document": "loanchain loan agreement", "offer_id": offer_id, "parties": {"borrower_wallet": wallet},
                       "terms": {"principal": SAMPLE["amount"]}, "credit_decision": {"decision_hash": decision_hash}},
                      sort_keys=True).encode()  # fmt: skip


def _borrower_with_offers(settings, seed: int) -> tuple[str, dict[str, bytes]]:
    """A wallet with an offer never signed, one superseded and one a (repaid) loan was made from,
    each with its agreement document anchored."""
    documents = {}
    with session_scope(settings) as session:
        wallet, unused, borrowed = verified_with_a_repaid_loan(session, settings, seed)
        for offer_id, status, decision in (("offered", "offered", unused), ("superseded", "superseded", unused),
                                           ("accepted", "accepted", borrowed)):  # fmt: skip
            documents[offer_id] = _agreement(offer_id, wallet, decision.decision_hash)
            anchored = anchor_document(session, settings, documents[offer_id]).document
            session.add(LoanOffer(id=offer_id, decision_id=decision.id, borrower=wallet, status=status, amount=SAMPLE["amount"],
                                  quoted_apr_bps=1_500, chain_id=31337, loan_book="0x" + "22" * 20, asset_decimals=6,
                                  terms={}, terms_hash="0x" + offer_id.encode().hex().rjust(64, "0"),
                                  agreement_cid=anchored.cid, agreement_hash=anchored.doc_hash))  # fmt: skip
    return wallet, documents


def _record(settings, data: bytes) -> Document:
    from backend.anchoring.documents import by_hash, document_hash

    with session_scope(settings) as session:
        document = by_hash(session, document_hash(data))
        session.expunge(document)
        return document


def test_an_erasure_removes_the_agreements_of_the_offers_it_deletes_and_their_hashes_stay_provable(settings):
    wallet, documents = _borrower_with_offers(settings, 931)
    store = get_content_store(settings)
    with session_scope(settings) as session:
        erased = erase_wallet(session, settings, wallet, wallet)
    assert sorted(erased.erased_offers) == ["offered", "superseded"]

    for offer_id in ("offered", "superseded"):
        record = _record(settings, documents[offer_id])
        assert not store.has(record.cid), f"the agreement of offer {offer_id!r} is still held"
        assert record.content_erased_at is not None and record.content_removed_at is not None
        with session_scope(settings) as session:
            with pytest.raises(ContentErased, match="was erased on .* verify them by upload") as raised:
                verify_cid(session, settings, record.cid)
            assert raised.value.status_code == 410
            # The borrower, who signed these bytes, can still show them anchored (queued here: no chain).
            assert verify_bytes(session, settings, documents[offer_id]).status == "pending"
            # Anchoring the same bytes again finds the record and does not keep them again.
            assert anchor_document(session, settings, documents[offer_id]).created is False
        assert not store.has(record.cid)
    kept = _record(settings, documents["accepted"])
    assert kept.content_erased_at is None and store.get(kept.cid) == documents["accepted"]
    with client_for(settings) as client:
        gone = client.get("/api/v1/verify", params={"cid": _record(settings, documents["offered"]).cid})
        assert (gone.status_code, gone.json()["error"]) == (410, "content_erased"), gone.text
        assert "verify them by upload" in gone.json()["detail"]
        assert client.get("/api/v1/verify/proof", params={"cid": _record(settings, documents["offered"]).cid}).status_code == 410
        upload = client.post("/api/v1/verify", files={"file": ("agreement.json", documents["offered"])})
        assert (upload.status_code, upload.json()["status"]) == (200, "pending")
        assert client.get("/api/v1/verify", params={"cid": kept.cid}).json()["status"] == "pending"


def test_an_erasure_rolled_back_takes_no_document(settings):
    wallet, documents = _borrower_with_offers(settings, 932)
    with pytest.raises(RuntimeError), session_scope(settings) as session:
        erase_wallet(session, settings, wallet, wallet)
        raise RuntimeError("the commit never comes")
    record = _record(settings, documents["offered"])
    assert record.content_erased_at is None
    assert get_content_store(settings).get(record.cid) == documents["offered"]


def test_a_removal_that_failed_is_done_by_the_retention_workers_next_round(settings, monkeypatch):
    wallet, documents = _borrower_with_offers(settings, 933)

    def store_down(self, cid):
        raise OSError("disk unavailable")

    with monkeypatch.context() as patched:
        patched.setattr(EmbeddedContentStore, "remove", store_down)
        with session_scope(settings) as session:
            erase_wallet(session, settings, wallet, wallet)
    record = _record(settings, documents["offered"])
    assert record.content_erased_at is not None and record.content_removed_at is None
    assert get_content_store(settings).has(record.cid)
    retention_step(settings)
    assert not get_content_store(settings).has(record.cid)
    with session_scope(settings) as session:
        assert session.scalars(select(Document).where(Document.content_erased_at.is_not(None),
                                                      Document.content_removed_at.is_(None))).all() == []  # fmt: skip


def test_the_agreements_of_offers_erased_before_erasures_took_them_are_erased_once_by_the_retention_worker(settings, monkeypatch):
    """Erasures before migration 0054 deleted the offers and kept their agreements' bytes."""
    import backend.identity.kyc.lifecycle as lifecycle
    from backend.identity.kyc.earlier_agreements import erase_earlier_agreements_once

    wallet, documents = _borrower_with_offers(settings, 934)
    bystander = make_applicant(935).account.address
    with session_scope(settings) as session:
        look_alike = anchor_document(session, settings, json.dumps({"document": "loanchain loan agreement",
                                                                   "parties": {"borrower_wallet": bystander}}).encode())
        other = anchor_document(session, settings, b"a release letter, not JSON").document.cid
        look_alike = look_alike.document.cid
    with monkeypatch.context() as patched:
        patched.setattr(lifecycle, "erase_agreements", lambda *args: [])  # the erasure as it was
        with session_scope(settings) as session:
            erase_wallet(session, settings, wallet, wallet)
    store = get_content_store(settings)
    erased = [_record(settings, documents[o]) for o in ("offered", "superseded")]
    assert all(store.has(r.cid) and r.content_erased_at is None for r in erased)

    retention_step(settings)
    for offer_id in ("offered", "superseded"):
        record = _record(settings, documents[offer_id])
        assert not store.has(record.cid) and record.content_erased_at is not None
    assert store.has(_record(settings, documents["accepted"]).cid) and store.has(look_alike) and store.has(other)
    assert erase_earlier_agreements_once(settings) is None  # once per database
    with session_scope(settings) as session:
        assert session.scalars(select(AuditEntry.subject).where(AuditEntry.action == "document.erase")).all() == [
            "documents:earlier-agreements"]
