"""Init, start and stop a loopback-only js-ipfs daemon (npm `ipfs`, `jsipfs`) in a directory.

Used by the tests and by `make run` when content_store=ipfs. The node talks to nobody: no
bootstrap peers, no MDNS, no delegates, no preload nodes, and every listener is on 127.0.0.1.
Port 0 (the default) lets the OS choose free ports, so several daemons never collide; the
chosen API address is read back from the repo's `api` file.

    python -m backend.content.ipfs_daemon [REPO (default var/ipfs)] [--api-port (default from ipfs_api)]
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

from backend.errors import ConfigurationError, ServiceUnavailable

READY_LINE = "Daemon is ready"


@dataclass
class IpfsDaemon:
    repo: Path
    process: subprocess.Popen[bytes]
    api: str  # RPC multiaddr for ipfshttpclient, e.g. /ip4/127.0.0.1/tcp/5002/http
    log: Path


def jsipfs_path(node_modules: Path) -> Path:
    path = Path(node_modules) / ".bin" / "jsipfs"
    if not path.exists():
        raise ConfigurationError(f"{path} not found: run npm install (package `ipfs`)", path=str(path))
    return path


def _env(repo: Path) -> dict[str, str]:
    return {**os.environ, "IPFS_PATH": str(repo)}


def init_repo(repo: Path, node_modules: Path) -> None:
    """Create the repo unless it exists. The `test` profile already clears the public network
    settings; `configure_loopback` then pins down every address."""
    repo = Path(repo)
    if (repo / "config").exists():
        return
    repo.parent.mkdir(parents=True, exist_ok=True)
    result = subprocess.run(
        [str(jsipfs_path(node_modules)), "init", "--profile", "test", "--emptyRepo"],
        env=_env(repo),
        capture_output=True,
        text=True,
        timeout=120,
    )
    if result.returncode != 0:
        raise ServiceUnavailable(f"jsipfs init failed: {result.stderr.strip()}", repo=str(repo))


def configure_loopback(repo: Path, api_port: int = 0) -> None:
    config_path = Path(repo) / "config"
    config = json.loads(config_path.read_text())
    loopback = "/ip4/127.0.0.1/tcp/"
    config["Addresses"].update(
        Swarm=[f"{loopback}0"],
        API=f"{loopback}{api_port}",
        Gateway=f"{loopback}0",
        RPC=f"{loopback}0",  # js-ipfs' gRPC port; its default 5003 would collide
        Announce=[],
        Delegates=[],
    )
    config["Bootstrap"] = []
    config["Discovery"] = {"MDNS": {"Enabled": False, "Interval": 10}, "webRTCStar": {"Enabled": False}}
    config.setdefault("Swarm", {})["DisableNatPortMap"] = True
    config_path.write_text(json.dumps(config, indent=2))


def start(repo: Path, node_modules: Path, *, api_port: int = 0, timeout: float = 60.0) -> IpfsDaemon:
    """Init if needed, configure loopback-only, start the daemon and wait until it serves."""
    repo = Path(repo)
    init_repo(repo, node_modules)
    configure_loopback(repo, api_port)
    api_file = repo / "api"
    api_file.unlink(missing_ok=True)  # left behind by a daemon that was killed
    log = repo / "daemon.log"
    with open(log, "wb") as out:
        process = subprocess.Popen(
            [str(jsipfs_path(node_modules)), "daemon", "--enable-preload=false"],
            env=_env(repo),
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # a Ctrl-C meant for the caller is not the daemon's
        )
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise ServiceUnavailable(f"jsipfs daemon exited: {log.read_text()[-2000:]}", repo=str(repo))
        if READY_LINE in log.read_text(errors="replace") and api_file.exists():
            return IpfsDaemon(repo=repo, process=process, api=_rpc_address(api_file.read_text()), log=log)
        time.sleep(0.2)
    _terminate(process)
    raise ServiceUnavailable(
        f"jsipfs daemon not ready after {timeout}s: {log.read_text()[-2000:]}", repo=str(repo)
    )


def _rpc_address(api: str) -> str:
    api = api.strip()
    return api if api.endswith("/http") else f"{api}/http"


def api_port_of(api: str) -> int:
    """The TCP port of an RPC multiaddr such as /ip4/127.0.0.1/tcp/5002/http."""
    parts = api.strip("/").split("/")
    try:
        return int(parts[parts.index("tcp") + 1])
    except (ValueError, IndexError) as exc:
        raise ConfigurationError(f"no TCP port in IPFS API address {api!r}", api=api) from exc


def stop(daemon: IpfsDaemon, timeout: float = 15.0) -> None:
    _terminate(daemon.process, timeout)


def _terminate(process: subprocess.Popen[bytes], timeout: float = 15.0) -> None:
    if process.poll() is not None:
        return
    process.send_signal(signal.SIGTERM)  # js-ipfs closes its repo cleanly on SIGTERM
    try:
        process.wait(timeout)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


def main(argv: list[str] | None = None) -> None:
    """Run a daemon in the foreground until interrupted."""
    from backend.config import get_settings

    settings = get_settings()
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("repo", type=Path, nargs="?", default=settings.var_dir / "ipfs")
    parser.add_argument("--api-port", type=int, default=api_port_of(settings.ipfs_api))
    args = parser.parse_args(argv)
    daemon = start(args.repo, settings.node_modules, api_port=args.api_port)
    print(f"IPFS RPC API on {daemon.api} (log: {daemon.log})", flush=True)
    # The daemon runs in its own session, so a supervisor's SIGTERM must reach it via us.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    try:
        daemon.process.wait()
    except KeyboardInterrupt:
        pass
    finally:
        stop(daemon)


if __name__ == "__main__":
    main()
