"""`loanchain verify FILE|CID`: is this document anchored, unaltered? Also proof export and
the database-free check of a proof file (`--offline-proof`), against the platform's
DocumentAnchor (its deployment manifest, or `--contract`), never the one the proof names.

Exit status: 0 verified, 1 tampered, 3 unknown, 4 pending, 2 bad input or an error.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer

from backend.cli.output import cli_errors, console, err_console, plain, print_json
from backend.errors import ValidationFailed

EXIT_CODES = {"verified": 0, "tampered": 1, "unknown": 3, "pending": 4}
STYLE = {"verified": "green", "tampered": "red", "unknown": "yellow", "pending": "cyan"}


def verify_command(
    target: Annotated[str, typer.Argument(help="A file to check, or the CID of a stored document.")],
    offline_proof: Annotated[
        Path | None,
        typer.Option("--offline-proof", exists=True, dir_okay=False,
                     help="Check FILE against this proof file and the chain only (no database)."),
    ] = None,  # fmt: skip
    export_proof: Annotated[
        Path | None, typer.Option("--export-proof", dir_okay=False, help="Write the document's proof file here.")
    ] = None,
    claimed_cid: Annotated[
        str | None, typer.Option("--cid", help="The CID FILE claims to be: differing bytes are reported as tampered.")
    ] = None,
    rpc_url: Annotated[str | None, typer.Option("--rpc-url", help="Check against this node (e.g. your own).")] = None,
    contract: Annotated[
        str | None,
        typer.Option("--contract", help="With --offline-proof: the platform's DocumentAnchor address, as it "
                     "publishes it (default: this machine's deployment manifest). A proof naming another is refused."),
    ] = None,  # fmt: skip
    json_out: Annotated[bool, typer.Option("--json", help="Print the result as JSON.")] = False,
) -> None:
    """Verify a document against its on-chain anchor: verified, pending, unknown or tampered."""
    from backend.config import get_settings

    settings = get_settings()
    path = Path(target)
    with cli_errors():
        if contract is not None and offline_proof is None:
            raise ValidationFailed("--contract goes with --offline-proof")
        if offline_proof is not None:
            if not path.is_file():
                raise ValidationFailed(f"--offline-proof needs a FILE, and {target} is not one")
            result = _offline(settings, path, offline_proof, rpc_url, contract)
        elif export_proof is not None:
            _export(settings, target, path, export_proof, rpc_url, json_out)
            return
        else:
            result = _online(settings, target, path, claimed_cid, rpc_url)
    if json_out:
        print_json(result.model_dump(mode="json"))
    else:
        _print(result)
    raise typer.Exit(EXIT_CODES[result.status])


def _offline(settings, path: Path, proof_path: Path, rpc_url: str | None, contract: str | None):
    # Deliberately imports nothing that opens the database.
    from backend.anchoring.verification import load_proof_file, verify_with_proof_file

    proof = load_proof_file(proof_path.read_bytes())
    return verify_with_proof_file(settings, path.read_bytes(), proof, rpc_url=rpc_url, contract=contract)


def _online(settings, target: str, path: Path, claimed_cid: str | None, rpc_url: str | None):
    from backend.anchoring.verification import verify_bytes, verify_cid
    from backend.db.session import session_scope

    with session_scope(settings) as session:
        if path.is_file():
            return verify_bytes(session, settings, path.read_bytes(), claimed_cid=claimed_cid, rpc_url=rpc_url)
        if claimed_cid is not None:
            raise ValidationFailed("--cid goes with a FILE")
        return verify_cid(session, settings, _cid_or_missing_file(target), rpc_url=rpc_url)


def _cid_or_missing_file(target: str) -> str:
    """`target` when it may be a CID; a path (base32 CIDs hold no '/' or '.') names a missing file."""
    if "/" in target or "." in target:
        raise ValidationFailed(f"{target}: no such file (nor a CID)")
    return target


def _export(settings, target: str, path: Path, out: Path, rpc_url: str | None, json_out: bool) -> None:
    from backend.anchoring.verification import export_proof
    from backend.db.session import session_scope

    with session_scope(settings) as session:
        if path.is_file():
            proof = export_proof(session, settings, data=path.read_bytes(), rpc_url=rpc_url)
        else:
            proof = export_proof(session, settings, cid=_cid_or_missing_file(target), rpc_url=rpc_url)
    out.write_text(json.dumps(proof.model_dump(mode="json"), indent=2) + "\n")
    if json_out:
        print_json(proof.model_dump(mode="json"))
    else:
        console.print(f"proof written to {out}: anyone can check it with "
                      f"`loanchain verify --offline-proof {out} FILE [--rpc-url URL]`")  # fmt: skip


def _print(result) -> None:
    style = STYLE[result.status]
    console.print(f"[bold {style}]{result.status.upper()}[/]  {plain(result.reason)}", markup=True)
    rows = [
        ("document hash", result.doc_hash), ("CID", result.cid), ("root", result.root),
        ("block", result.block_number), ("confirmations", result.confirmations), ("time", result.timestamp and f"{result.timestamp:%Y-%m-%d %H:%M:%S} UTC"),
        ("tx", result.tx_hash), ("contract", result.contract), ("anchorer", result.anchorer),
        ("chain id", result.chain_id), ("batch manifest", result.uri), ("checked against", result.checked_against),
    ]  # fmt: skip
    for label, value in rows:
        if value is not None:
            console.print(f"  {label:<15} {value}")
    if result.proof is not None:
        console.print(f"  {'proof':<15} {len(result.proof)} hashes" + "".join(f"\n    {p}" for p in result.proof))
    if result.status == "tampered":
        err_console.print("[red]the document or its records differ from what was anchored[/]", markup=True)
