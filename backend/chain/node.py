"""Starts, stops and inspects the local development chain (npm Anvil or npm Ganache).

The node runs detached, its pid and log under `var/chain/`, and its state in a file there, so
`chain down` followed by `chain up` keeps every block, balance and deployment.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import time
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path

from backend.config import DEV_MNEMONIC, Settings
from backend.errors import ChainUnavailable, ConfigurationError


def rpc_call(url: str, method: str, params: list | None = None, timeout: float = 3.0):
    """A bare JSON-RPC call (no web3), for liveness checks and dev-only `anvil_*`/`evm_*` methods."""
    body = json.dumps({"jsonrpc": "2.0", "id": 1, "method": method, "params": params or []}).encode()
    req = urllib.request.Request(url, data=body, headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(req, timeout=timeout) as resp:
        payload = json.loads(resp.read())
    if "error" in payload:
        raise ChainUnavailable(f"{method} failed: {payload['error'].get('message')}", rpc_error=payload["error"])
    return payload["result"]


def is_up(url: str, timeout: float = 2.0) -> bool:
    try:
        rpc_call(url, "eth_chainId", timeout=timeout)
        return True
    except (OSError, urllib.error.URLError, ValueError, ChainUnavailable):
        return False


def anvil_binary(settings: Settings) -> Path:
    """The native anvil shipped inside npm `@foundry-rs/anvil-<platform>` (no download)."""
    scoped = settings.node_modules / "@foundry-rs"
    for pkg in sorted(scoped.glob("anvil-*")):
        for candidate in (pkg / "bin" / "anvil", pkg / "anvil"):
            if candidate.exists():
                return candidate
    fallback = settings.node_modules / ".bin" / "anvil"
    if fallback.exists():
        return fallback
    raise ConfigurationError("anvil not found: run `make setup` (npm ci installs @foundry-rs/anvil)")


def node_command(settings: Settings, kind: str, port: int, state_path: Path) -> list[str]:
    if kind == "anvil":
        cmd = [
            str(anvil_binary(settings)),
            "--host", settings.chain_host,
            "--port", str(port),
            "--chain-id", str(settings.chain_id),
            "--mnemonic", DEV_MNEMONIC,
            "--state", str(state_path),
            "--state-interval", str(settings.chain_state_interval),
        ]  # fmt: skip
        if settings.chain_block_time:
            cmd += ["--block-time", str(settings.chain_block_time)]
        return cmd
    if kind == "ganache":
        ganache = settings.node_modules / ".bin" / "ganache"
        if not ganache.exists():
            raise ConfigurationError("ganache not found: run `make setup` (npm ci installs ganache)")
        cmd = [
            str(ganache),
            "--server.host", settings.chain_host,
            "--server.port", str(port),
            "--chain.chainId", str(settings.chain_id),
            "--chain.hardfork", "shanghai",
            "--wallet.mnemonic", DEV_MNEMONIC,
            "--wallet.totalAccounts", "10",
            "--wallet.defaultBalance", "10000",
            "--database.dbPath", str(state_path),
            "--logging.quiet",
        ]  # fmt: skip
        if settings.chain_block_time:
            cmd += ["--miner.blockTime", str(settings.chain_block_time)]
        return cmd
    raise ConfigurationError(f"unknown chain node {kind!r}: use anvil or ganache")


@dataclass
class NodeStatus:
    running: bool
    pid: int | None
    kind: str | None
    url: str
    chain_id: int | None = None
    block: int | None = None


class LocalNode:
    """One local chain process described by files in a directory (pid, kind, log, state)."""

    def __init__(self, settings: Settings, kind: str | None = None, port: int | None = None, workdir: Path | None = None):
        self.settings = settings
        self.kind = kind or settings.chain_node
        self.port = port or settings.chain_port
        self.workdir = workdir or settings.chain_dir
        self.url = f"http://{settings.chain_host}:{self.port}"

    @property
    def pid_file(self) -> Path:
        return self.workdir / "node.pid"

    @property
    def state_path(self) -> Path:
        return self.workdir / ("anvil-state.json" if self.kind == "anvil" else "ganache-db")

    def _pid(self) -> int | None:
        try:
            pid = int(self.pid_file.read_text().split()[0])
            os.kill(pid, 0)
            return pid
        except (FileNotFoundError, ValueError, ProcessLookupError, PermissionError):
            return None

    def start(self, timeout: float = 60.0) -> NodeStatus:
        if is_up(self.url):
            return self.status()
        self.workdir.mkdir(parents=True, exist_ok=True)
        if self.kind == "ganache":
            self.state_path.mkdir(parents=True, exist_ok=True)
        log = open(self.workdir / "node.log", "ab")
        proc = subprocess.Popen(
            node_command(self.settings, self.kind, self.port, self.state_path),
            stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, start_new_session=True,
        )  # fmt: skip
        self.pid_file.write_text(f"{proc.pid} {self.kind}\n")
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if proc.poll() is not None:
                raise ChainUnavailable(f"{self.kind} exited with {proc.returncode}; see {self.workdir / 'node.log'}")
            if is_up(self.url, timeout=1.0):
                self._resume_clock()
                return self.status()
            time.sleep(0.2)
        self.stop()
        raise ChainUnavailable(f"{self.kind} did not answer on {self.url} within {timeout:.0f}s")

    def _resume_clock(self) -> None:
        """The state file keeps every block but not the clock's offset: a chain moved ahead of the
        wall clock (`chain advance`) would stamp its next block in the past after a restart, undoing
        the advance and running time backwards. Its clock resumes one second after the last block."""
        latest = int(rpc_call(self.url, "eth_getBlockByNumber", ["latest", False])["timestamp"], 16)
        if latest >= time.time():
            resume = latest + 1
            rpc_call(self.url, "evm_setTime", [resume if self.kind == "anvil" else resume * 1000])  # Ganache: ms

    def stop(self, timeout: float = 30.0, hard: bool = False) -> bool:
        """SIGTERM lets Anvil dump its state file; `hard` (SIGKILL) simulates a crash."""
        pid = self._pid()
        if pid is None:
            return False
        os.killpg(pid, signal.SIGKILL if hard else signal.SIGTERM)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                os.kill(pid, 0)
            except ProcessLookupError:
                break
            try:  # reap it if it is our child
                os.waitpid(pid, os.WNOHANG)
            except ChildProcessError:
                pass
            time.sleep(0.1)
        else:
            os.killpg(pid, signal.SIGKILL)
        self.pid_file.unlink(missing_ok=True)
        return True

    def status(self) -> NodeStatus:
        pid = self._pid()
        if not is_up(self.url):
            return NodeStatus(False, pid, self.kind if pid else None, self.url)
        chain_id = int(rpc_call(self.url, "eth_chainId"), 16)
        block = int(rpc_call(self.url, "eth_blockNumber"), 16)
        return NodeStatus(True, pid, self.kind if pid else "external", self.url, chain_id, block)
