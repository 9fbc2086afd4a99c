import json
import subprocess

import pytest

from backend.chain.compiler import compile_contracts, ensure_solc, standard_input
from backend.config import Settings
from tests.conftest import make_settings


@pytest.fixture(scope="module")
def compiled(tmp_path_factory) -> tuple[Settings, dict]:
    """One forced compile shared by the module (solcjs takes seconds): same sources, artifacts in
    a temp dir, so the repo's artifacts are not touched."""
    base = tmp_path_factory.mktemp("compiler")
    settings = make_settings(base, artifacts_dir=base / "artifacts")
    return settings, compile_contracts(settings, force=True).artifacts


def test_compiling_twice_gives_identical_bytecode(compiled, artifacts):
    """The module's forced compile against the session's own (another solc process, maybe another
    run: the repo's artifacts/): a third compile of everything would cost half a minute more."""
    _, forced = compiled
    snapshot = {n: (a["bytecode"], a["deployedBytecode"]) for n, a in forced.items()}
    assert {n: (a["bytecode"], a["deployedBytecode"]) for n, a in artifacts.items()} == snapshot
    assert snapshot["DocumentAnchor"][0].startswith("0x60")


def test_artifact_records_compiler_settings_and_hashes(compiled):
    settings, artifacts = compiled
    art = artifacts["DocumentAnchor"]
    assert art["compiler"]["version"].startswith(settings.solc_version)
    assert art["compiler"]["settings"]["evmVersion"] == "shanghai"
    assert len(art["sourceHash"]) == 64 and len(art["artifactHash"]) == 64
    assert {"abi", "bytecode", "deployedBytecode"} <= set(art)


def test_unchanged_sources_skip_the_compiler(compiled):
    settings, _ = compiled
    assert compile_contracts(settings).written is False


def test_bytecode_has_no_cancun_opcodes(compiled):
    """Ganache 7.9 stops at shanghai: MCOPY (0x5e), TLOAD (0x5c) and TSTORE (0x5d) must not appear
    as executed opcodes. We walk the bytecode skipping PUSH data."""
    for name, art in compiled[1].items():
        code = bytes.fromhex(art["deployedBytecode"][2:])
        i = 0
        while i < len(code):
            op = code[i]
            if op == 0xFE:  # INVALID: the metadata trailer follows; stop here
                break
            assert op not in (0x5C, 0x5D, 0x5E), f"{name} uses a cancun opcode at {i}"
            i += 1 + (op - 0x5F if 0x60 <= op <= 0x7F else 0)


class TestSolcAdapter:
    @pytest.fixture(scope="class")
    def solc(self):
        return str(ensure_solc(Settings(_env_file=None)))

    def test_version_looks_like_native_solc(self, solc):
        out = subprocess.run([solc, "--version"], capture_output=True, text=True, check=True).stdout
        assert "Version: 0.8.28+commit" in out

    def test_standard_json_resolves_openzeppelin_imports(self, solc):
        settings = Settings(_env_file=None)
        std = standard_input(settings)
        # Two small contracts: their output with OpenZeppelin's sources still passes 64 KiB, in two
        # seconds rather than the whole book's thirty.
        std["sources"] = {k: v for k, v in std["sources"].items() if k.endswith(("/DocumentAnchor.sol", "/ReserveFund.sol"))}
        proc = subprocess.run(
            [solc, "--standard-json", "--allow-paths", str(settings.root)],
            input=json.dumps(std), capture_output=True, text=True, check=True, cwd=settings.root,
        )  # fmt: skip
        out = json.loads(proc.stdout)  # the whole output arrives (no 64 KiB pipe truncation)
        assert len(proc.stdout) > 65536
        assert not [e for e in out.get("errors", []) if e["severity"] == "error"]
        assert "node_modules/@openzeppelin/contracts/access/AccessControl.sol" in out["sources"]

    def test_combined_json_for_slither(self, solc):
        settings = Settings(_env_file=None)
        proc = subprocess.run(
            [solc, "--combined-json", "abi,bin,bin-runtime", "@openzeppelin/=node_modules/@openzeppelin/",
             "contracts/DocumentAnchor.sol", "--allow-paths", "."],
            capture_output=True, text=True, check=True, cwd=settings.root,
        )  # fmt: skip
        out = json.loads(proc.stdout)
        assert out["contracts"]["contracts/DocumentAnchor.sol:DocumentAnchor"]["bin"]

    def test_compile_error_exits_non_zero(self, solc, tmp_path):
        bad = tmp_path / "Bad.sol"
        bad.write_text("pragma solidity 0.8.28; contract Bad { function f() { } }")
        proc = subprocess.run([solc, "--combined-json", "abi", str(bad)], capture_output=True, text=True)
        assert proc.returncode != 0
        assert "Error" in proc.stderr
