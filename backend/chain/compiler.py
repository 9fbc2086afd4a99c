"""Compiles `contracts/` through py-solc-x, offline.

py-solc-x wants a native `solc` binary at `$SOLCX_BINARY_PATH/solc-v<version>`. We put one
there: a native solc of the pinned version if one is installed, otherwise a shim that runs
`tools/solc-adapter.js` over npm `solc` (solcjs). Nothing is ever downloaded.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import solcx

from backend.config import Settings
from backend.errors import CompilerError

OZ_REMAPPING = "@openzeppelin/=node_modules/@openzeppelin/"
OUTPUT_SELECTION = ["abi", "evm.bytecode.object", "evm.deployedBytecode.object", "evm.methodIdentifiers", "metadata"]


def solcx_dir(settings: Settings) -> Path:
    return settings.var_dir / "solcx"


def _native_solc(version: str) -> str | None:
    native = shutil.which("solc")
    if not native:
        return None
    try:
        out = subprocess.run([native, "--version"], capture_output=True, text=True, timeout=20).stdout
    except (OSError, subprocess.TimeoutExpired):
        return None
    return native if f"Version: {version}+" in out else None


def ensure_solc(settings: Settings) -> Path:
    """Install the `solc-v<version>` executable py-solc-x looks for and return its path."""
    target_dir = solcx_dir(settings)
    target_dir.mkdir(parents=True, exist_ok=True)
    target = target_dir / f"solc-v{settings.solc_version}"
    native = _native_solc(settings.solc_version)
    if native:
        if target.is_symlink() or target.exists():
            target.unlink()
        target.symlink_to(native)
    else:
        adapter = settings.root / "tools" / "solc-adapter.js"
        if not (settings.node_modules / "solc").exists():
            raise CompilerError("npm package `solc` is missing: run `make setup` (npm ci)")
        script = f'#!/bin/sh\nexec node "{adapter}" "$@"\n'
        if not target.exists() or target.is_symlink() or target.read_text() != script:
            if target.is_symlink():
                target.unlink()
            target.write_text(script)
            target.chmod(0o755)
    os.environ["SOLCX_BINARY_PATH"] = str(target_dir)
    return target


@dataclass(frozen=True)
class CompileResult:
    artifacts: dict[str, dict]
    input_hash: str
    written: bool


def source_files(settings: Settings) -> list[Path]:
    return sorted(p for p in settings.contracts_dir.rglob("*.sol"))


def standard_input(settings: Settings) -> dict:
    sources = {}
    for path in source_files(settings):
        rel = path.relative_to(settings.root).as_posix()
        sources[rel] = {"content": path.read_text()}
    return {
        "language": "Solidity",
        "sources": sources,
        "settings": {
            "optimizer": {"enabled": True, "runs": settings.optimizer_runs},
            "evmVersion": settings.evm_version,
            "remappings": [OZ_REMAPPING],
            "outputSelection": {"contracts/**": {"*": OUTPUT_SELECTION}, "*": {"*": OUTPUT_SELECTION}},
        },
    }


def _sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def _toolchain_versions(settings: Settings) -> dict[str, str]:
    """Imported libraries are read by the compiler, not listed in the input: their versions
    must still invalidate the up-to-date check."""
    versions = {"solc": settings.solc_version, "evm": settings.evm_version}
    for pkg in ("@openzeppelin/contracts", "solc"):
        manifest = settings.node_modules / pkg / "package.json"
        versions[pkg] = json.loads(manifest.read_text())["version"] if manifest.exists() else "missing"
    return versions


def compile_contracts(settings: Settings, force: bool = False) -> CompileResult:
    """Compile every contract; skip the compiler when the input is unchanged since last time."""
    std_input = standard_input(settings)
    input_hash = _sha256(json.dumps({"input": std_input, "toolchain": _toolchain_versions(settings)}, sort_keys=True).encode())
    out_dir = settings.artifacts_dir
    stamp = out_dir / ".input-hash"
    if not force and stamp.exists() and stamp.read_text() == input_hash:
        return CompileResult(load_all_artifacts(settings), input_hash, written=False)

    solc_bin = ensure_solc(settings)
    try:
        output = solcx.compile_standard(
            std_input, base_path=str(settings.root), allow_paths=[str(settings.root)], solc_binary=solc_bin
        )
    except solcx.exceptions.SolcError as exc:
        raise CompilerError(f"solc failed: {exc.stderr_data or exc.message}") from exc
    errors = [e for e in output.get("errors", []) if e.get("severity") == "error"]
    if errors:
        raise CompilerError("\n".join(e.get("formattedMessage", e["message"]) for e in errors))

    version = json.loads(next(iter(next(iter(output["contracts"].values())).values()))["metadata"])["compiler"][
        "version"
    ]
    artifacts: dict[str, dict] = {}
    for source, contracts in sorted(output["contracts"].items()):
        if not source.startswith("contracts/"):
            continue
        for name, data in sorted(contracts.items()):
            bytecode = "0x" + data["evm"]["bytecode"]["object"]
            artifacts[name] = {
                "contractName": name,
                "sourcePath": source,
                "sourceHash": _sha256(std_input["sources"][source]["content"].encode()),
                "inputHash": input_hash,
                "abi": data["abi"],
                "bytecode": bytecode,
                "deployedBytecode": "0x" + data["evm"]["deployedBytecode"]["object"],
                "methodIdentifiers": data["evm"]["methodIdentifiers"],
                "artifactHash": _sha256(bytes.fromhex(bytecode[2:])),
                "compiler": {"name": "solc", "version": version, "settings": std_input["settings"]},
            }
    out_dir.mkdir(parents=True, exist_ok=True)
    for old in out_dir.glob("*.json"):
        if old.stem not in artifacts:
            old.unlink()
    for name, art in artifacts.items():
        (out_dir / f"{name}.json").write_text(json.dumps(art, indent=2, sort_keys=True) + "\n")
    stamp.write_text(input_hash)
    return CompileResult(artifacts, input_hash, written=True)


def load_artifact(settings: Settings, name: str) -> dict:
    """The compiled artifact of contract `name`: shared between callers, so never modified."""
    return parsed_artifact(artifact_version(settings, name))


def artifact_version(settings: Settings, name: str) -> tuple[str, int, int]:
    """Which artifact file of `name` is on disk now: its path, modification time and size."""
    path = settings.artifacts_dir / f"{name}.json"
    try:
        stat = path.stat()
    except FileNotFoundError:
        raise CompilerError(f"no artifact for {name}: run `loanchain compile`") from None
    return str(path), stat.st_mtime_ns, stat.st_size


@lru_cache(maxsize=64)
def parsed_artifact(version: tuple[str, int, int]) -> dict:
    """An artifact file parsed once per version of it (a compile rewrites it, and a new stat reads it
    again): the sender, the outbox and the indexer each read an ABI per call or round, and parsing a
    contract's artifact, bytecode included, cost more than the call itself."""
    return json.loads(Path(version[0]).read_text())


def load_all_artifacts(settings: Settings) -> dict[str, dict]:
    return {p.stem: json.loads(p.read_text()) for p in sorted(settings.artifacts_dir.glob("*.json"))}
