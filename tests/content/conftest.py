"""Content-store fixtures: reference CIDs from npm `ipfs-only-hash`, deterministic payloads,
and one loopback js-ipfs daemon per test session."""

from __future__ import annotations

import json
import random
import shutil
import subprocess
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from backend.config import ROOT
from backend.content import ipfs_daemon
from backend.content.cid import CHUNK_SIZE

NODE_MODULES = ROOT / "node_modules"

# The sizes the CID rules turn on: empty, tiny, exactly one chunk, one byte over, many chunks.
SIZES = [0, 1, CHUNK_SIZE, CHUNK_SIZE + 1, 5 * 1024 * 1024]

_REFERENCE_SCRIPT = """
const hash = require('ipfs-only-hash');
const fs = require('fs');
const [options, ...files] = JSON.parse(process.argv[1]);
(async () => {
  const cids = [];
  for (const file of files) cids.push(await hash.of(fs.readFileSync(file), options));
  console.log(JSON.stringify(cids));
})().catch((err) => { console.error(err); process.exitCode = 1; });
"""

ReferenceCids = Callable[..., list[str]]


def payload(size: int) -> bytes:
    """Incompressible, reproducible bytes (a repeated pattern could hide chunking mistakes)."""
    return random.Random(size).randbytes(size)


@pytest.fixture(scope="session")
def reference_cids(tmp_path_factory) -> ReferenceCids:
    """CIDs of byte strings as `ipfs-only-hash` computes them, by default with
    {cidVersion: 1, rawLeaves: true}; extra keyword arguments are importer options."""
    if shutil.which("node") is None or not (NODE_MODULES / "ipfs-only-hash").is_dir():
        pytest.skip("node and npm ipfs-only-hash are needed for reference CIDs (npm install)")
    workdir = tmp_path_factory.mktemp("reference")

    def compute(blobs: list[bytes], **options) -> list[str]:
        files = []
        for index, blob in enumerate(blobs):
            files.append(workdir / f"{index}.bin")
            files[-1].write_bytes(blob)
        arguments = json.dumps([{"cidVersion": 1, "rawLeaves": True, **options}, *map(str, files)])
        result = subprocess.run(
            ["node", "-e", _REFERENCE_SCRIPT, arguments],
            cwd=ROOT,
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert result.returncode == 0, result.stderr
        return json.loads(result.stdout)

    return compute


@pytest.fixture(scope="session")
def expected_cids(reference_cids) -> dict[int, str]:
    """Reference CID of `payload(size)` for each of SIZES, computed by node once."""
    return dict(zip(SIZES, reference_cids([payload(size) for size in SIZES]), strict=True))


@pytest.fixture(scope="session")
def ipfs_node(tmp_path_factory) -> Iterator[ipfs_daemon.IpfsDaemon]:
    if shutil.which("node") is None or not (NODE_MODULES / ".bin" / "jsipfs").exists():
        pytest.skip("node and npm `ipfs` (jsipfs) are needed for the IPFS daemon (npm install)")
    daemon = ipfs_daemon.start(tmp_path_factory.mktemp("ipfs") / "repo", NODE_MODULES)
    yield daemon
    ipfs_daemon.stop(daemon)


@pytest.fixture
def content_dir(tmp_path: Path) -> Path:
    return tmp_path / "content"
