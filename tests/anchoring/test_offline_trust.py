"""Review finding #3: which DocumentAnchor an offline proof is checked against. The proof file
names a contract, but anyone can deploy a DocumentAnchor of their own: the platform's (its
deployment manifest, or `--contract`), with the manifest's code, and an Anchored event from an
account holding ANCHORER_ROLE are required."""

import json
import shutil

import pytest
from typer.testing import CliRunner
from web3 import Web3

from backend.anchoring.documents import document_hash
from backend.anchoring.errors import AnchorContractMismatch
from backend.anchoring.merkle import MerkleTree, hex32, leaf_hash
from backend.anchoring.schemas import ProofFile
from backend.anchoring.verification import export_proof, verify_with_proof_file
from backend.chain.anchor_reader import ANCHORER_ROLE, AnchorReader
from backend.chain.node import rpc_call
from backend.cli.main import app
from backend.content.cid import cid_of
from backend.db.session import session_scope
from backend.errors import NotFound, ValidationFailed
from tests.anchoring.helpers import anchor_files, flush_and_confirm

AGREEMENT = b'{"document":"loanchain loan agreement","terms":{"principal":1000}}'
FORGED = b'{"document":"loanchain loan agreement","terms":{"principal":1}}'


@pytest.fixture
def proof(sqlite_settings) -> ProofFile:
    anchor_files(sqlite_settings, [AGREEMENT])
    flush_and_confirm(sqlite_settings)
    with session_scope(sqlite_settings) as session:
        return export_proof(session, sqlite_settings, cid=cid_of(AGREEMENT))


def mallorys_anchor(w3, artifacts, mallory, data: bytes) -> ProofFile:
    """Mallory deploys her own DocumentAnchor, anchors `data` there and writes a proof naming it."""
    art = artifacts["DocumentAnchor"]
    tx = w3.eth.contract(abi=art["abi"], bytecode=art["bytecode"]).constructor(mallory).transact({"from": mallory})
    address = w3.eth.wait_for_transaction_receipt(tx)["contractAddress"]
    doc_hash = document_hash(data)
    tree = MerkleTree.of([doc_hash])
    anchor = w3.eth.contract(address=address, abi=art["abi"])
    w3.eth.wait_for_transaction_receipt(anchor.functions.anchor(tree.root, 1, "ipfs://x").transact({"from": mallory}))
    return ProofFile(doc_hash=doc_hash, leaf=hex32(leaf_hash(doc_hash)), proof=[], root=hex32(tree.root),
                     contract=address, chain_id=w3.eth.chain_id)  # fmt: skip


def test_the_platforms_proof_verifies_and_says_what_it_was_checked_against(sqlite_settings, proof, deployment):
    result = verify_with_proof_file(sqlite_settings, AGREEMENT, proof)
    platform = deployment.manifest["contracts"]["DocumentAnchor"]["address"]
    assert result.status == "verified" and result.contract == platform and result.tx_hash == proof.tx_hash
    assert result.anchorer == deployment.manifest["deployer"]
    assert f"DocumentAnchor {platform} from the deployment manifest" in result.checked_against
    assert "code hash matches" in result.checked_against and "held ANCHORER_ROLE then" in result.checked_against


def test_a_proof_naming_mallorys_own_document_anchor_is_refused(sqlite_settings, deployment, w3, artifacts, accounts):
    """/tmp/review_audit/test_offline_proof.py: it reported 'verified: anchored in block 13'."""
    forged = mallorys_anchor(w3, artifacts, accounts[7].address, FORGED)
    platform = deployment.manifest["contracts"]["DocumentAnchor"]["address"]
    refusal = f"refused: the proof names DocumentAnchor {forged.contract}, but the platform's is {platform}"
    with pytest.raises(ValidationFailed, match=refusal):
        verify_with_proof_file(sqlite_settings, FORGED, forged)
    with pytest.raises(ValidationFailed, match="refused"):  # the outsider's published address: same
        verify_with_proof_file(sqlite_settings, FORGED, forged, contract=platform)
    # And pointed at the platform's contract, her root is simply not anchored there.
    moved = forged.model_copy(update={"contract": platform})
    assert verify_with_proof_file(sqlite_settings, FORGED, moved).status == "unknown"


def test_other_code_at_the_manifests_address_is_refused(sqlite_settings, proof, deployment, w3):
    """A contract that answers `verifyAnchored` with (true, 1, t) at the platform's address (a
    lying node, or a manifest for another chain): its code hash is not the manifest's."""
    platform = deployment.manifest["contracts"]["DocumentAnchor"]["address"]
    other = w3.eth.get_code(deployment.manifest["contracts"]["KYCRegistry"]["address"])
    rpc_call(sqlite_settings.rpc_url, "anvil_setCode", [platform, "0x" + other.hex()])
    with pytest.raises(AnchorContractMismatch, match="hashes to"):
        verify_with_proof_file(sqlite_settings, AGREEMENT, proof)
    with session_scope(sqlite_settings) as session, pytest.raises(AnchorContractMismatch):
        export_proof(session, sqlite_settings, cid=cid_of(AGREEMENT))  # GET /api/v1/verify/proof: the same


def test_a_root_stays_verified_after_its_anchorer_is_rotated_out(sqlite_settings, proof, contracts, deployment):
    """The role is judged at the anchoring block: rotating the anchorer key must not void every
    proof it made."""
    admin = deployment.manifest["deployer"]
    anchor = contracts["DocumentAnchor"]
    receipt = anchor.functions.revokeRole(ANCHORER_ROLE, admin).transact({"from": admin})
    anchor.w3.eth.wait_for_transaction_receipt(receipt)
    result = verify_with_proof_file(sqlite_settings, AGREEMENT, proof)
    assert result.status == "verified" and "held ANCHORER_ROLE then" in result.checked_against


def test_a_root_anchored_by_an_account_without_the_anchorer_role_is_not_verified(sqlite_settings, proof, monkeypatch):
    # The platform's code admits no such event; a contract that did (the code check aside) is refused.
    monkeypatch.setattr(AnchorReader, "is_anchorer", lambda self, account, block: False)
    result = verify_with_proof_file(sqlite_settings, AGREEMENT, proof)
    assert result.status == "unknown" and "without ANCHORER_ROLE" in result.reason
    with session_scope(sqlite_settings) as session:
        with pytest.raises(NotFound, match="without ANCHORER_ROLE"):
            export_proof(session, sqlite_settings, cid=cid_of(AGREEMENT))


def test_a_root_without_a_findable_anchored_event_is_not_verified(sqlite_settings, proof, monkeypatch):
    monkeypatch.setattr(AnchorReader, "anchored_event", lambda self, root, block: None)
    result = verify_with_proof_file(sqlite_settings, AGREEMENT, proof)
    assert result.status == "unknown" and "no Anchored event" in result.reason and result.tx_hash is None


def test_an_outsider_without_a_manifest_must_name_the_contract(sqlite_settings, proof, tmp_path):
    outsider = sqlite_settings.model_copy(update={"deployments_dir": tmp_path / "none"})
    with pytest.raises(ValidationFailed, match="--contract"):
        verify_with_proof_file(outsider, AGREEMENT, proof)
    result = verify_with_proof_file(outsider, AGREEMENT, proof, contract=proof.contract.lower())
    assert result.status == "verified" and "(--contract)" in result.checked_against
    assert "code hash unchecked" in result.checked_against
    other = "0x" + "12" * 20
    with pytest.raises(ValidationFailed, match="refused"):
        verify_with_proof_file(outsider, AGREEMENT, proof, contract=other)


def test_cli_offline_proof_checks_the_contract(sqlite_settings, proof, use_settings, tmp_path, w3, artifacts, accounts):
    settings = use_settings(sqlite_settings)
    document, proof_path = tmp_path / "agreement.json", tmp_path / "proof.json"
    document.write_bytes(AGREEMENT)
    proof_path.write_text(proof.model_dump_json())
    shutil.rmtree(settings.content_dir)
    runner = CliRunner()

    ok = runner.invoke(app, ["verify", "--offline-proof", str(proof_path), str(document)])
    assert ok.exit_code == 0 and "checked against" in ok.output and "anchorer" in ok.output, ok.output
    published = runner.invoke(app, ["verify", "--offline-proof", str(proof_path), str(document),
                                    "--contract", proof.contract, "--json"])  # fmt: skip
    assert published.exit_code == 0 and json.loads(published.output)["anchorer"]

    forged_proof, forged = tmp_path / "forged-proof.json", tmp_path / "forged.json"
    forged.write_bytes(FORGED)
    forged_proof.write_text(mallorys_anchor(w3, artifacts, accounts[7].address, FORGED).model_dump_json())
    refused = runner.invoke(app, ["verify", "--offline-proof", str(forged_proof), str(forged)])
    assert refused.exit_code == 2 and "refused" in refused.output
    wrong = runner.invoke(app, ["verify", str(document), "--contract", Web3.to_checksum_address("0x" + "12" * 20)])
    assert wrong.exit_code == 2 and "--offline-proof" in wrong.output


def test_the_proof_files_cid_uri_and_transaction_are_checked_not_echoed(sqlite_settings, proof, use_settings, tmp_path):
    """/tmp/audit-proofs/test_l_offline_and_reports.py (L1): a proof whose cid and uri named another
    document verified, and printed the other document's CID."""
    genuine = verify_with_proof_file(sqlite_settings, AGREEMENT, proof)
    assert genuine.status == "verified" and genuine.cid == cid_of(AGREEMENT) and genuine.uri == proof.uri
    assert genuine.confirmations is not None and genuine.confirmations >= 1
    other = cid_of(FORGED)
    for forged in ({"cid": other}, {"uri": f"ipfs://{other}"}, {"tx_hash": "0x" + "12" * 32},
                   {"block_number": proof.block_number + 1}):  # fmt: skip
        result = verify_with_proof_file(sqlite_settings, AGREEMENT, proof.model_copy(update=forged))
        assert result.status == "tampered" and result.cid == cid_of(AGREEMENT), forged
        assert result.uri != f"ipfs://{other}"
    # What the file leaves out is taken from the bytes and the chain.
    bare = proof.model_copy(update={"cid": None, "uri": None, "tx_hash": None, "block_number": None})
    result = verify_with_proof_file(sqlite_settings, AGREEMENT, bare)
    assert result.status == "verified" and result.cid == cid_of(AGREEMENT)
    assert (result.uri, result.tx_hash, result.block_number) == (proof.uri, proof.tx_hash, proof.block_number)

    use_settings(sqlite_settings)
    (tmp_path / "proof.json").write_text(json.dumps(proof.model_dump(mode="json") | {"cid": other, "uri": f"ipfs://{other}"}))
    (tmp_path / "agreement.json").write_bytes(AGREEMENT)
    out = CliRunner().invoke(app, ["verify", "--offline-proof", str(tmp_path / "proof.json"),
                                   str(tmp_path / "agreement.json"), "--json"])  # fmt: skip
    assert out.exit_code == 1 and json.loads(out.output)["cid"] == cid_of(AGREEMENT)
    assert f"names CID {other}" in json.loads(out.output)["reason"]
