"""Verifying documents: from the database and the chain, or from a proof file and the chain.

The database only says where to look (which batch, which proof); the verdict comes from the
chain: the stored proof must lead from the document's hash to a root that DocumentAnchor
recorded. A database that lies can therefore make a document look pending or tampered, never
verified. `verify_with_proof_file` needs no database at all.

Which chain records count is not taken from the proof: the DocumentAnchor must be the platform's
(its deployment manifest for the chain, or the address an outsider was given, `--contract`),
with the runtime code the manifest recorded, and the root's `Anchored` event must come from
an account that held its ANCHORER_ROLE in that block (a key rotated out later keeps its roots).
Anyone can deploy a DocumentAnchor of their own.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import UTC, datetime

from pydantic import ValidationError
from sqlalchemy.orm import Session

from backend.anchoring import documents
from backend.anchoring.errors import AnchorContractMismatch
from backend.anchoring.merkle import hex32, leaf_hash, process_proof, to_bytes32
from backend.anchoring.models import BATCH_ANCHORED, BATCH_FAILED, Document
from backend.anchoring.schemas import ProofFile, VerificationPublic
from backend.config import Settings
from backend.content.cid import cid_of, parse_cid
from backend.content.store import get_content_store
from backend.db.base import as_utc
from backend.db.migrate import where as url_where
from backend.errors import Conflict, ContentErased, ContentIntegrityError, NotFound, ValidationFailed


def _result(status: str, reason: str, doc: Document | None = None, **fields) -> VerificationPublic:
    if doc is not None:
        fields = {"doc_hash": doc.doc_hash, "cid": doc.cid, "document_id": doc.id, "batch_id": doc.batch_id} | fields
    return VerificationPublic(status=status, reason=reason, **fields)


@dataclass(frozen=True)
class ExpectedAnchor:
    """The DocumentAnchor a verification trusts, and why."""

    address: str
    source: str
    code_hash: str | None  # from the deployment manifest; None when it does not name `address`


def expected_anchor(settings: Settings, chain_id: int, contract: str | None = None) -> ExpectedAnchor:
    """`contract` when given (an outsider's, from the published README or disclosure), else the
    DocumentAnchor of this machine's deployment manifest for `chain_id`."""
    from eth_utils import is_address, to_checksum_address

    from backend.chain.deploy import load_manifest

    entry = load_manifest(settings, chain_id)["contracts"].get("DocumentAnchor") or {}
    if contract is not None:
        if not is_address(contract):
            raise ValidationFailed(f"--contract: not an address: {contract!r}")
        address, source = to_checksum_address(contract), "the address given (--contract)"
    elif entry.get("address"):
        address, source = to_checksum_address(entry["address"]), f"the deployment manifest for chain {chain_id}"
    else:
        raise ValidationFailed(
            f"no DocumentAnchor to check against: this machine has no deployment manifest for chain {chain_id}; "
            "pass the platform's published address with --contract 0x..."
        )
    same = entry.get("address", "").lower() == address.lower()
    return ExpectedAnchor(address, source, entry.get("codeHash") if same else None)


def replaced_anchors(settings: Settings, chain_id: int) -> list[ExpectedAnchor]:
    """The DocumentAnchors the deployment manifest records as replaced (its `history`), latest first:
    a redeploy (a new compiler, an edit to the contract) leaves every root anchored before on the old
    one, where it stays provable."""
    from eth_utils import to_checksum_address

    from backend.chain.deploy import load_manifest

    found = []
    for change in reversed(load_manifest(settings, chain_id).get("history", [])):
        old = change.get("replaced") or {}
        if change.get("contract") == "DocumentAnchor" and old.get("address"):
            source = (f"the deployment manifest's history for chain {chain_id} (replaced {change.get('at')}: "
                      f"{change.get('reason')})")  # fmt: skip
            found.append(ExpectedAnchor(to_checksum_address(old["address"]), source, old.get("codeHash")))
    return found


def replaced_readers(settings: Settings, rpc_url: str | None, current) -> list:
    """Readers of the replaced DocumentAnchors whose code is still the manifest's, kept on `current` (a
    `platform_reader`) for the next record. One whose code differs (another chain) vouches for nothing."""
    if getattr(current, "replaced", None) is None:
        readers = []
        for expected in replaced_anchors(settings, settings.chain_id):
            try:
                readers.append(_check_code(_reader(settings, rpc_url, expected), expected))
            except AnchorContractMismatch:
                continue
        current.replaced = readers
    return current.replaced


def _normal_hash(value: str) -> str:
    return value.lower().removeprefix("0x")


def _reader(settings: Settings, rpc_url: str | None, expected: ExpectedAnchor):
    from backend.chain.anchor_reader import AnchorReader

    return AnchorReader.for_settings(settings, address=expected.address, rpc_url=rpc_url)


def _check_code(reader, expected: ExpectedAnchor):
    """`reader`, once the code at the expected DocumentAnchor is the manifest's (when it has one)."""
    if expected.code_hash is not None:
        actual = reader.code_hash()
        if _normal_hash(actual) != _normal_hash(expected.code_hash):
            raise AnchorContractMismatch(
                f"the code at DocumentAnchor {expected.address} hashes to {actual}, but {expected.source} records "
                f"0x{_normal_hash(expected.code_hash)}: not the platform's contract, or another chain",
                address=expected.address,
            )  # fmt: skip
    reader.expected = expected
    return reader


def platform_reader(settings: Settings, rpc_url: str | None = None):
    """A reader of the platform's DocumentAnchor, its code checked against the manifest."""
    from backend.chain.anchor_reader import AnchorReader

    reader = AnchorReader.for_settings(settings, rpc_url=rpc_url)  # ConfigurationError when not deployed
    return _check_code(reader, expected_anchor(settings, settings.chain_id))


def _describe(expected: ExpectedAnchor, anchorer: str | None) -> str:
    code = "runtime code hash matches the manifest" if expected.code_hash else "code hash unchecked: no manifest has it"
    who = f"; anchored by {anchorer}, which held ANCHORER_ROLE then" if anchorer else ""
    return f"DocumentAnchor {expected.address} from {expected.source} ({code}){who}"


def _anchor_event(reader, root: str, block_number: int):
    """(the Anchored event of `root`, None) when the platform anchored it; else (None, why not)."""
    event = reader.anchored_event(to_bytes32(root), block_number)
    if event is None:
        return None, (f"DocumentAnchor {reader.address} reports root {root} in block {block_number}, but the node "
                      "returns no Anchored event for it, so who anchored it cannot be checked")  # fmt: skip
    if not reader.is_anchorer(event.anchorer, event.block_number):
        return None, f"root {root} was anchored by {event.anchorer}, without ANCHORER_ROLE at {reader.address}"
    return event, None


def _confirmations(reader, block_number: int) -> int:
    """Blocks from the anchor's to the node's latest, itself included: 1 = just mined. The verdict
    is read at the latest block, so on a chain that reorganises a low count can still be undone."""
    return max(0, reader.latest_block() - block_number + 1)


def verify_record(
    session: Session, settings: Settings, doc: Document, *, rpc_url: str | None = None, reader=None
) -> VerificationPublic:
    """The anchoring status of a document record whose bytes (if any) already matched it.
    `reader` (from `platform_reader`) saves re-checking the contract for every record."""
    if doc.batch_id is None:
        return _result("pending", "queued for the next anchor batch", doc)
    batch, stored = doc.batch, doc.proof
    if stored is None:
        return _result("tampered", f"document {doc.id} is in batch {batch.id} but its proof is missing", doc)
    proof = json.loads(stored.proof)
    leaf = leaf_hash(doc.doc_hash)
    facts = {"leaf": hex32(leaf), "proof": proof, "root": batch.root, "uri": batch.uri}
    if stored.leaf != hex32(leaf) or process_proof(leaf, proof) != to_bytes32(batch.root):
        return _result("tampered", "the stored proof does not lead from the document hash to its batch root", doc, **facts)
    reader = reader or platform_reader(settings, rpc_url)
    check = reader.verify_anchored(leaf, [to_bytes32(p) for p in proof], to_bytes32(batch.root))
    if not check.anchored and batch.status == BATCH_ANCHORED:  # perhaps on a DocumentAnchor since replaced
        for older in replaced_readers(settings, rpc_url, reader):
            if (found := older.verify_anchored(leaf, [to_bytes32(p) for p in proof], to_bytes32(batch.root))).anchored:
                reader, check = older, found
                break
    facts |= {"contract": reader.address, "chain_id": settings.chain_id}
    if not check.anchored:
        if batch.status == BATCH_ANCHORED:
            return _result(
                "tampered",
                f"batch {batch.id} is recorded as anchored in block {batch.block_number}, "
                f"but root {batch.root} is not anchored on chain {settings.chain_id}",
                doc, **facts,
            )  # fmt: skip
        if batch.status == BATCH_FAILED:
            reason = f"in batch {batch.id}, whose anchor transaction failed ({batch.error}); `loanchain anchor retry`"
            return _result("pending", reason, doc, **facts)
        return _result("pending", f"in batch {batch.id}, its anchor transaction is not confirmed yet", doc, **facts)
    if not check.included:  # the local check passed, so only a broken node gets here
        return _result("tampered", "DocumentAnchor.verify rejects the stored proof", doc, **facts)
    event, problem = _anchor_event(reader, batch.root, check.block_number)
    if event is None:
        return _result("unknown", problem, doc, **facts)
    return _result(
        "verified",
        f"anchored in block {check.block_number} under root {batch.root}",
        doc,
        **facts,
        block_number=check.block_number,
        timestamp=datetime.fromtimestamp(check.timestamp, UTC),
        tx_hash=event.tx_hash,
        anchorer=event.anchorer,
        checked_against=_describe(reader.expected, event.anchorer),
        confirmations=_confirmations(reader, check.block_number),
    )


def verify_bytes(
    session: Session,
    settings: Settings,
    data: bytes,
    *,
    claimed_cid: str | None = None,
    claimed_document_id: int | None = None,
    rpc_url: str | None = None,
) -> VerificationPublic:
    """Verify a file. With a claim (the CID or record id it is supposed to be), bytes that differ
    from what was anchored under that claim are `tampered`; without one, unknown bytes are `unknown`."""
    return verify_digests(session, settings, documents.document_hash(data), cid_of(data), claimed_cid=claimed_cid,
                          claimed_document_id=claimed_document_id, rpc_url=rpc_url)  # fmt: skip


def verify_digests(
    session: Session,
    settings: Settings,
    doc_hash: str,
    cid: str,
    *,
    claimed_cid: str | None = None,
    claimed_document_id: int | None = None,
    rpc_url: str | None = None,
) -> VerificationPublic:
    """As `verify_bytes`, from the file's keccak256 hash and CID (`documents.digests_of_stream`
    computes both from an upload without holding it in memory)."""
    seen = {"doc_hash": doc_hash, "cid": cid}
    if claimed_cid is not None or claimed_document_id is not None:
        if claimed_cid is not None:
            parse_cid(claimed_cid)
            doc, claim = documents.by_cid(session, claimed_cid), f"CID {claimed_cid}"
        else:
            doc, claim = documents.by_id(session, claimed_document_id), f"document {claimed_document_id}"
        if doc is None or (claimed_cid is not None and claimed_document_id is not None and doc.id != claimed_document_id):
            return _result("unknown", f"nothing was anchored here as {claim}", **seen)
        if doc.doc_hash != doc_hash:
            return _result(
                "tampered",
                f"these bytes hash to {doc_hash}, but {claim} was anchored with hash {doc.doc_hash}",
                doc, doc_hash=doc_hash, cid=cid,
            )  # fmt: skip
    else:
        doc = documents.by_hash(session, doc_hash)
        if doc is None:
            return _result("unknown", f"no document with keccak256 {doc_hash} was anchored here", **seen)
    if doc.cid is not None and doc.cid != cid:
        return _result("tampered", f"the record of these bytes names CID {doc.cid}, but their CID is {cid}", doc)
    return verify_record(session, settings, doc, rpc_url=rpc_url)


def verify_cid(session: Session, settings: Settings, cid: str, *, rpc_url: str | None = None) -> VerificationPublic:
    """Verify the document stored under `cid`: its bytes are fetched and re-hashed."""
    parse_cid(cid)  # InvalidCid, 422
    doc = documents.by_cid(session, cid)
    if doc is None:
        return _result("unknown", f"no document was anchored here under CID {cid}", cid=cid)
    if doc.content_erased_at is not None:
        raise ContentErased(
            f"the document under CID {cid} was erased on {as_utc(doc.content_erased_at).date().isoformat()} with the "
            "personal data it held; its hash stays anchored: whoever holds the bytes can verify them by upload",
            cid=cid, doc_hash=doc.doc_hash,
        )  # fmt: skip
    try:
        data = get_content_store(settings).get(cid)
    except ContentIntegrityError as exc:
        return _result("tampered", f"the content store's bytes for {cid} do not hash to it ({exc.message})", doc)
    actual = documents.document_hash(data)
    if actual != doc.doc_hash:
        return _result(
            "tampered", f"the bytes under {cid} hash to {actual}, but the record says {doc.doc_hash}", doc
        )
    return verify_record(session, settings, doc, rpc_url=rpc_url)


def export_proof(
    session: Session, settings: Settings, *, cid: str | None = None, data: bytes | None = None, rpc_url: str | None = None
) -> ProofFile:
    """The proof file of a verified document (by CID or by its bytes)."""
    if (cid is None) == (data is None):
        raise ValidationFailed("give exactly one of a CID or the document's bytes")
    if cid is not None:
        result = verify_cid(session, settings, cid, rpc_url=rpc_url)
    else:
        result = verify_bytes(session, settings, data, rpc_url=rpc_url)
    if result.status == "unknown":
        raise NotFound(result.reason, cid=result.cid, doc_hash=result.doc_hash)
    if result.status != "verified":
        raise Conflict(f"no proof to export: the document is {result.status} ({result.reason})", status=result.status)
    return ProofFile(
        doc_hash=result.doc_hash, leaf=result.leaf, proof=result.proof, root=result.root, contract=result.contract,
        chain_id=result.chain_id, cid=result.cid, uri=result.uri, tx_hash=result.tx_hash, block_number=result.block_number,
    )  # fmt: skip


def load_proof_file(text: str | bytes) -> ProofFile:
    try:
        return ProofFile.model_validate_json(text)
    except ValidationError as exc:
        problems = "; ".join(f"{'.'.join(map(str, e['loc'])) or 'file'}: {e['msg']}" for e in exc.errors())
        raise ValidationFailed(f"not a loanchain proof file: {problems}") from None


def verify_with_proof_file(
    settings: Settings, data: bytes, proof: ProofFile, *, rpc_url: str | None = None, contract: str | None = None
) -> VerificationPublic:
    """Verify `data` against a proof file and the chain alone: no database, no content store.
    The DocumentAnchor is `contract` or the deployment manifest's, never just the proof's."""
    doc_hash = documents.document_hash(data)
    # The CID is recomputed from the bytes, and the uri, transaction and block come from the chain:
    # the file's own are only compared, never echoed.
    facts = proof.model_dump(include={"leaf", "proof", "root", "contract", "chain_id"}) | {"cid": cid_of(data)}
    if doc_hash != proof.doc_hash:
        reason = f"the file hashes to {doc_hash}, the proof is for {proof.doc_hash}"
        return _result("tampered", reason, doc_hash=doc_hash, **facts)
    leaf = leaf_hash(doc_hash)
    if hex32(leaf) != proof.leaf:
        return _result("tampered", "the proof's leaf is not the leaf of its document hash", doc_hash=doc_hash, **facts)
    if process_proof(leaf, proof.proof) != to_bytes32(proof.root):
        return _result("tampered", "the proof does not lead from the leaf to its root", doc_hash=doc_hash, **facts)
    if proof.cid is not None and proof.cid != facts["cid"]:
        reason = f"the proof names CID {proof.cid}, but the file's CID is {facts['cid']}: the proof file was altered"
        return _result("tampered", reason, doc_hash=doc_hash, **facts)
    expected = expected_anchor(settings, proof.chain_id, contract)
    if contract is None and proof.contract.lower() != expected.address.lower():
        # A proof from before the platform's DocumentAnchor was replaced names the one it was anchored on.
        expected = next((a for a in replaced_anchors(settings, proof.chain_id)
                         if a.address.lower() == proof.contract.lower()), expected)  # fmt: skip
    if proof.contract.lower() != expected.address.lower():
        raise ValidationFailed(
            f"refused: the proof names DocumentAnchor {proof.contract}, but the platform's is {expected.address} "
            f"(from {expected.source})", proof_contract=proof.contract, expected_contract=expected.address,
        )  # fmt: skip
    reader = _reader(settings, rpc_url, expected)
    chain_id = reader.chain_id()
    if chain_id != proof.chain_id:
        raise ValidationFailed(
            f"the proof is for chain {proof.chain_id}, but the node at {url_where(reader.rpc_url)} is chain {chain_id}"
        )
    _check_code(reader, expected)
    facts |= {"checked_against": _describe(expected, None)}
    check = reader.verify_anchored(leaf, [to_bytes32(p) for p in proof.proof], to_bytes32(proof.root))
    if not check.anchored:
        where = f"DocumentAnchor {expected.address} on chain {chain_id}"
        return _result("unknown", f"root {proof.root} is not anchored at {where}", doc_hash=doc_hash, **facts)
    if not check.included:
        return _result("tampered", "DocumentAnchor.verify rejects the proof", doc_hash=doc_hash, **facts)
    event, problem = _anchor_event(reader, proof.root, check.block_number)
    if event is None:
        return _result("unknown", problem, doc_hash=doc_hash, **facts)
    facts |= {"uri": event.uri, "block_number": check.block_number, "tx_hash": event.tx_hash}
    claimed = {"uri": proof.uri, "block_number": proof.block_number, "tx_hash": proof.tx_hash}
    differs = [name for name, value in claimed.items() if value is not None and str(value).lower() != str(facts[name]).lower()]
    if differs:
        said, found = (", ".join(f"{name} {source[name]}" for name in differs) for source in (claimed, facts))
        reason = f"the proof names {said}, but root {proof.root}'s Anchored event has {found}: the proof file was altered"
        return _result("tampered", reason, doc_hash=doc_hash, **facts)
    return _result(
        "verified",
        f"anchored in block {check.block_number} under root {proof.root}",
        doc_hash=doc_hash,
        **facts | {"checked_against": _describe(expected, event.anchorer)},
        timestamp=datetime.fromtimestamp(check.timestamp, UTC),
        anchorer=event.anchorer,
        confirmations=_confirmations(reader, check.block_number),
    )
