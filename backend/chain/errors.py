"""Decodes revert data into the Solidity custom error that caused it, by 4-byte selector.

The selector table is built from every artifact's ABI (so OpenZeppelin errors such as
`AccessControlUnauthorizedAccount`, which contracts inherit, are included) plus the two
built-in reverts `Error(string)` and `Panic(uint256)`.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any

from eth_abi import decode
from eth_utils import keccak

from backend.config import Settings
from backend.errors import ContractRevert

BUILTIN_ERRORS: list[dict] = [
    {"type": "error", "name": "Error", "inputs": [{"name": "message", "type": "string"}]},
    {"type": "error", "name": "Panic", "inputs": [{"name": "code", "type": "uint256"}]},
]


@dataclass(frozen=True)
class DecodedError:
    name: str
    args: dict[str, Any] = field(default_factory=dict)
    selector: str = ""

    def describe(self) -> str:
        inner = ", ".join(f"{k}={v}" for k, v in self.args.items())
        return f"{self.name}({inner})"


def _canonical_type(param: dict) -> str:
    """ABI type string, expanding tuples (`tuple[]` -> `(a,b)[]`)."""
    kind = param["type"]
    if kind.startswith("tuple"):
        return "(" + ",".join(_canonical_type(c) for c in param["components"]) + ")" + kind[len("tuple") :]
    return kind


def selector_of(error_abi: dict) -> bytes:
    signature = f"{error_abi['name']}({','.join(_canonical_type(p) for p in error_abi['inputs'])})"
    return keccak(text=signature)[:4]


def _jsonable(value: Any) -> Any:
    """JSON-safe values: bytes as 0x-hex, ints beyond 2**53 as decimal strings."""
    if isinstance(value, bytes):
        return "0x" + value.hex()
    if isinstance(value, bool):
        return value
    if isinstance(value, int):
        return value if abs(value) <= 2**53 else str(value)
    if isinstance(value, (list, tuple)):
        return [_jsonable(v) for v in value]
    return value


@lru_cache(maxsize=8)
def _table(artifacts_dir: str, stamp: float) -> dict[bytes, dict]:
    table: dict[bytes, dict] = {selector_of(e): e for e in BUILTIN_ERRORS}
    for path in sorted(Path(artifacts_dir).glob("*.json")):
        for item in json.loads(path.read_text()).get("abi", []):
            if item.get("type") == "error":
                table.setdefault(selector_of(item), item)
    return table


def error_table(settings: Settings) -> dict[bytes, dict]:
    directory = settings.artifacts_dir
    stamp = max((p.stat().st_mtime for p in directory.glob("*.json")), default=0.0)
    return _table(str(directory), stamp)  # re-read when artifacts are recompiled


def _as_bytes(data: Any) -> bytes | None:
    if data is None:
        return None
    if isinstance(data, dict):  # nested: {"data": "0x..."} (Anvil, geth), {"result": "0x..."} (Ganache 7)
        return _as_bytes(data.get("data") or data.get("result"))
    if isinstance(data, (bytes, bytearray)):
        return bytes(data)
    if isinstance(data, str):
        text = data[2:] if data.startswith("0x") else data
        try:
            return bytes.fromhex(text)
        except ValueError:
            return None
    return None


def decode_revert(settings: Settings, data: Any) -> DecodedError | None:
    """The custom error encoded in `data` (hex string or bytes), or None when unknown/empty."""
    raw = _as_bytes(data)
    if not raw or len(raw) < 4:
        return None
    abi = error_table(settings).get(raw[:4])
    if abi is None:
        return DecodedError("UnknownError", {"data": "0x" + raw.hex()}, "0x" + raw[:4].hex())
    types = [_canonical_type(p) for p in abi["inputs"]]
    try:
        values = decode(types, raw[4:]) if types else ()
    except Exception:  # malformed payload: still report which error it claims to be
        return DecodedError(abi["name"], {"data": "0x" + raw.hex()}, "0x" + raw[:4].hex())
    names = [p.get("name") or f"arg{i}" for i, p in enumerate(abi["inputs"])]
    return DecodedError(abi["name"], {n: _jsonable(v) for n, v in zip(names, values)}, "0x" + raw[:4].hex())


def revert_data_of(exc: BaseException) -> Any:
    """The revert payload web3.py attached to a ContractLogicError (or a raw RPC error)."""
    data = getattr(exc, "data", None)
    if data:
        return data
    response = getattr(exc, "rpc_response", None) or {}
    error = response.get("error") if isinstance(response, dict) else None
    return error.get("data") if isinstance(error, dict) else None


def contract_revert_from(settings: Settings, exc: BaseException, context: str) -> ContractRevert:
    """A ContractRevert (422) naming the decoded custom error, for services and the API."""
    decoded = decode_revert(settings, revert_data_of(exc))
    if decoded is None:
        return ContractRevert(f"{context} reverted: {getattr(exc, 'message', None) or exc}")
    return ContractRevert(f"{context} reverted with {decoded.describe()}", decoded.name, decoded.args)
