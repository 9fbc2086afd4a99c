"""`loanchain anchor`, `anchor flush`, `verify` (online, export, offline) end to end."""

import json
import shutil

from typer.testing import CliRunner

from backend.anchoring.documents import document_hash
from backend.cli.main import app
from backend.content.cid import cid_of

runner = CliRunner()


def invoke(*args: str):
    return runner.invoke(app, list(args), catch_exceptions=False)


def test_anchor_flush_verify_export_and_offline_without_database(sqlite_settings, use_settings, tmp_path):
    settings = use_settings(sqlite_settings)
    contract, schedule = tmp_path / "contract.pdf", tmp_path / "schedule.csv"
    contract.write_bytes(b"%PDF-1.7 loan contract, borrower 0xabc, 5000 USDC")
    schedule.write_bytes(b"month,principal,interest\n1,400,40\n")

    added = invoke("anchor", str(contract), str(schedule), "--json")
    assert added.exit_code == 0, added.output
    rows = json.loads(added.output)
    assert [(r["cid"], r["doc_hash"]) for r in rows] == [
        (cid_of(contract.read_bytes()), document_hash(contract.read_bytes())),
        (cid_of(schedule.read_bytes()), document_hash(schedule.read_bytes())),
    ]
    table = invoke("anchor", str(contract))  # again: same record, Rich table
    assert table.exit_code == 0 and "already queued" in table.output

    assert invoke("verify", str(contract)).exit_code == 4  # pending
    flushed = invoke("anchor", "flush", "--json")
    assert flushed.exit_code == 0, flushed.output
    head, batch = json.loads(flushed.output)  # the audit head goes in a batch of its own
    assert (head["count"], head["uri"].startswith("loanchain:audit-head:v1:")) == (1, True)
    assert batch["status"] == "anchored" and batch["count"] == 2

    ok = invoke("verify", str(contract))
    assert ok.exit_code == 0 and "VERIFIED" in ok.output and batch["root"] in ok.output
    by_cid = invoke("verify", rows[1]["cid"], "--json")
    assert by_cid.exit_code == 0 and json.loads(by_cid.output)["tx_hash"] == batch["tx_hash"]

    forged = tmp_path / "forged.pdf"
    forged.write_bytes(contract.read_bytes().replace(b"5000", b"9000"))
    assert invoke("verify", str(forged), "--cid", rows[0]["cid"]).exit_code == 1  # tampered
    assert invoke("verify", str(forged)).exit_code == 3  # unknown
    bad = invoke("verify", "not-a-cid")
    assert bad.exit_code == 2 and "CID" in bad.output

    proof_path = tmp_path / "proof.json"
    exported = invoke("verify", str(contract), "--export-proof", str(proof_path))
    assert exported.exit_code == 0, exported.output
    assert json.loads(proof_path.read_text())["doc_hash"] == rows[0]["doc_hash"]

    # The auditor's view: the platform's database and content store are gone.
    database = settings.database_url.removeprefix("sqlite:///")
    for suffix in ("", "-wal", "-shm"):
        (tmp_path / (database.rsplit("/", 1)[1] + suffix)).unlink(missing_ok=True)
    shutil.rmtree(settings.content_dir)
    assert not any(tmp_path.glob("*.db"))
    offline = invoke("verify", "--offline-proof", str(proof_path), str(contract), "--rpc-url", settings.rpc_url)
    assert offline.exit_code == 0 and "VERIFIED" in offline.output, offline.output
    assert invoke("verify", "--offline-proof", str(proof_path), str(forged)).exit_code == 1
    assert not any(tmp_path.glob("*.db")), "offline verification must not open a database"

    broken = tmp_path / "broken.json"
    broken.write_text('{"doc_hash": "0x12"}')
    refused = invoke("verify", "--offline-proof", str(broken), str(contract))
    assert refused.exit_code == 2 and "proof file" in refused.output


def test_verifying_a_file_that_is_not_there_says_so(sqlite_settings, use_settings, tmp_path):
    use_settings(sqlite_settings)
    missing = invoke("verify", str(tmp_path / "contract.pdf"))
    assert missing.exit_code == 2 and "contract.pdf:nosuchfile(noraCID)" in "".join(missing.output.split())
    not_a_cid = invoke("verify", "hello")  # no path in it: taken as a CID
    assert not_a_cid.exit_code == 2 and "not a base32 CIDv1" in not_a_cid.output
