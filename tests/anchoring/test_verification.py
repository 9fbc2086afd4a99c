"""The four verdicts (verified, pending, unknown, tampered), from bytes and from CIDs."""

from datetime import UTC, datetime

import pytest

from backend.anchoring.batcher import run_batcher_once
from backend.anchoring.documents import document_hash
from backend.anchoring.merkle import leaf_hash, verify_proof
from backend.anchoring.verification import export_proof, verify_bytes, verify_cid, verify_with_proof_file
from backend.content.cid import cid_of
from backend.content.store import get_content_store
from backend.db.session import session_scope
from backend.errors import Conflict, InvalidCid, NotFound, ValidationFailed
from tests.anchoring.helpers import anchor_files, flush_and_confirm

AGREEMENT = b"%PDF-1.7 loan agreement between borrower 0xabc and investors, 12 months, 9.5% APR"


def flipped(data: bytes, at: int = 10) -> bytes:
    return data[:at] + bytes([data[at] ^ 0x01]) + data[at + 1 :]


def test_all_four_outcomes(settings):
    anchor_files(settings, [AGREEMENT, b"schedule"])
    cid = cid_of(AGREEMENT)
    with session_scope(settings) as session:
        queued = verify_bytes(session, settings, AGREEMENT)
        assert queued.status == "pending" and "queued" in queued.reason

    run_batcher_once(settings, force=True)  # batched and enqueued, not yet sent
    with session_scope(settings) as session:
        in_batch = verify_cid(session, settings, cid)
        assert in_batch.status == "pending" and "not confirmed" in in_batch.reason and in_batch.root

    flush_and_confirm(settings)
    with session_scope(settings) as session:
        for result in (verify_bytes(session, settings, AGREEMENT), verify_cid(session, settings, cid)):
            assert result.status == "verified", result.reason
            assert result.doc_hash == document_hash(AGREEMENT) and result.cid == cid
            assert result.block_number > 0 and result.tx_hash.startswith("0x")
            assert abs((datetime.now(UTC) - result.timestamp).total_seconds()) < 3600
            assert result.leaf == "0x" + leaf_hash(result.doc_hash).hex()
            assert verify_proof(result.doc_hash, result.proof, result.root)
            assert result.chain_id == settings.chain_id and result.contract

        assert verify_bytes(session, settings, b"never anchored").status == "unknown"
        assert verify_cid(session, settings, cid_of(b"never anchored")).status == "unknown"
        assert verify_bytes(session, settings, flipped(AGREEMENT)).status == "unknown"  # no claim: just unknown

        # One byte flipped, presented as the anchored document.
        forged = verify_bytes(session, settings, flipped(AGREEMENT), claimed_cid=cid)
        assert forged.status == "tampered" and document_hash(AGREEMENT) in forged.reason
        doc_id = verify_cid(session, settings, cid).document_id
        assert verify_bytes(session, settings, flipped(AGREEMENT), claimed_document_id=doc_id).status == "tampered"

    # One byte flipped in the content store itself.
    path = get_content_store(settings).path_of(cid)
    path.write_bytes(flipped(path.read_bytes()))
    with session_scope(settings) as session:
        tampered = verify_cid(session, settings, cid)
        assert tampered.status == "tampered" and "do not hash" in tampered.reason
        # The original bytes still verify: the chain, not the store, is the reference.
        assert verify_bytes(session, settings, AGREEMENT).status == "verified"


def test_a_database_whose_record_was_edited_cannot_make_a_document_verified(sqlite_settings):
    from sqlalchemy import text

    settings = sqlite_settings
    anchor_files(settings, [AGREEMENT])
    flush_and_confirm(settings)
    forged = flipped(AGREEMENT)
    with session_scope(settings) as session:  # an insider points the record at other bytes
        session.execute(text("UPDATE documents SET doc_hash = :h, cid = :c WHERE cid = :old"),
                        {"h": document_hash(forged), "c": cid_of(forged), "old": cid_of(AGREEMENT)})
    with session_scope(settings) as session:
        result = verify_bytes(session, settings, forged)
        assert result.status == "tampered" and "proof does not lead" in result.reason


def test_malformed_cid_is_rejected(sqlite_settings):
    with session_scope(sqlite_settings) as session, pytest.raises(InvalidCid):
        verify_cid(session, sqlite_settings, "not-a-cid")


def test_proof_export_and_offline_verification(sqlite_settings):
    settings = sqlite_settings
    anchor_files(settings, [AGREEMENT, b"other"])
    with session_scope(settings) as session, pytest.raises(Conflict):
        export_proof(session, settings, cid=cid_of(AGREEMENT))  # pending: nothing to export yet
    with session_scope(settings) as session, pytest.raises(NotFound):
        export_proof(session, settings, data=b"never anchored")
    flush_and_confirm(settings)
    with session_scope(settings) as session:
        proof = export_proof(session, settings, cid=cid_of(AGREEMENT))
    assert proof.chain_id == settings.chain_id and proof.cid == cid_of(AGREEMENT) and proof.tx_hash

    result = verify_with_proof_file(settings, AGREEMENT, proof)
    assert result.status == "verified" and result.block_number == proof.block_number
    assert verify_with_proof_file(settings, flipped(AGREEMENT), proof).status == "tampered"
    assert verify_with_proof_file(settings, AGREEMENT, proof.model_copy(update={"proof": []})).status == "tampered"
    wrong_chain = proof.model_copy(update={"chain_id": 1})
    with pytest.raises(ValidationFailed, match="chain 1"):
        verify_with_proof_file(settings, AGREEMENT, wrong_chain)


def test_offline_verification_of_an_unanchored_root_is_unknown(sqlite_settings):
    from backend.anchoring.merkle import MerkleTree, hex32
    from backend.anchoring.schemas import ProofFile
    from backend.chain.deploy import deployed_addresses

    tree = MerkleTree.of([document_hash(AGREEMENT), document_hash(b"x")])
    proof = ProofFile(
        doc_hash=document_hash(AGREEMENT), leaf=hex32(leaf_hash(document_hash(AGREEMENT))),
        proof=[hex32(p) for p in tree.proof(0)], root=hex32(tree.root),
        contract=deployed_addresses(sqlite_settings)["DocumentAnchor"], chain_id=sqlite_settings.chain_id,
    )  # fmt: skip
    result = verify_with_proof_file(sqlite_settings, AGREEMENT, proof)
    assert result.status == "unknown" and "not anchored" in result.reason
