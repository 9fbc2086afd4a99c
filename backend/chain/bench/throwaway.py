"""A temporary Anvil for a benchmark: its own free port, state and deployments directory, gone
afterwards, so a bench never touches the developer's chain on 8545 nor its deployment manifest."""

from __future__ import annotations

import shutil
import socket
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from backend.chain.node import LocalNode
from backend.config import Settings


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextmanager
def throwaway_anvil(settings: Settings, prefix: str, block_time: int | None = None) -> Iterator[tuple[Settings, Path]]:
    """`settings` pointed at a fresh Anvil (chain id 31337, a block per transaction unless `block_time`),
    and the temporary directory everything of it lives in (for the caller's own files, a database);
    the node is stopped and the directory removed on leaving."""
    workdir = Path(tempfile.mkdtemp(prefix=prefix))
    port = free_port()
    temp = settings.model_copy(update={
        "chain_port": port, "rpc_url": f"http://127.0.0.1:{port}", "var_dir": workdir / "var",
        "deployments_dir": workdir / "deployments", "chain_block_time": block_time, "chain_id": 31337,
    })  # fmt: skip
    node = LocalNode(temp, kind="anvil", port=port, workdir=workdir / "chain")
    node.start()
    try:
        yield temp, workdir
    finally:
        node.stop()
        shutil.rmtree(workdir, ignore_errors=True)
