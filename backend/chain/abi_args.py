"""JSON arguments <-> ABI-typed Python values, for intents stored as JSON.

JSON conventions: bytes/bytesN as 0x-hex strings, addresses as hex (any case), integers as
ints or decimal strings (needed beyond 2**53), structs as lists or objects keyed by field name.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from eth_utils import is_address, to_checksum_address

from backend.errors import ValidationFailed

_ARRAY = re.compile(r"^(.*)\[(\d*)\]$")


def find_function(abi: list[dict], function: str, arity: int) -> dict:
    """The ABI entry for `function`: a bare name (unique by name and arity) or a signature."""
    candidates = [item for item in abi if item.get("type") == "function"]
    if "(" in function:
        for item in candidates:
            if signature(item) == function.replace(" ", ""):
                return item
        raise ValidationFailed(f"no function {function}")
    matches = [i for i in candidates if i["name"] == function and len(i["inputs"]) == arity]
    if len(matches) == 1:
        return matches[0]
    named = [i for i in candidates if i["name"] == function]
    if not named:
        raise ValidationFailed(f"no function named {function!r}")
    if not matches:
        wanted = sorted({len(i["inputs"]) for i in named})
        raise ValidationFailed(f"{function} takes {' or '.join(map(str, wanted))} arguments, got {arity}")
    raise ValidationFailed(f"{function} is overloaded: give its signature, e.g. {signature(matches[0])}")


def canonical_type(param: dict) -> str:
    kind = param["type"]
    if kind.startswith("tuple"):
        return "(" + ",".join(canonical_type(c) for c in param["components"]) + ")" + kind[len("tuple") :]
    return kind


def signature(fn_abi: dict) -> str:
    return f"{fn_abi['name']}({','.join(canonical_type(p) for p in fn_abi['inputs'])})"


def to_python(params: list[dict], values: list[Any]) -> list[Any]:
    """Validate `values` against ABI `params` and convert them to what web3 encodes."""
    if not isinstance(values, (list, tuple)):
        raise ValidationFailed("arguments must be a list")
    if len(values) != len(params):
        raise ValidationFailed(f"expected {len(params)} arguments, got {len(values)}")
    return [_convert(p, v, p.get("name") or f"arg{i}") for i, (p, v) in enumerate(zip(params, values))]


def _convert(param: dict, value: Any, where: str) -> Any:
    kind: str = param["type"]
    array = _ARRAY.match(kind)
    if array:
        inner = {**param, "type": array.group(1)}
        if not isinstance(value, (list, tuple)):
            raise ValidationFailed(f"{where}: expected a list for {kind}")
        if array.group(2) and len(value) != int(array.group(2)):
            raise ValidationFailed(f"{where}: expected {array.group(2)} items for {kind}")
        return [_convert(inner, v, f"{where}[{i}]") for i, v in enumerate(value)]
    if kind == "tuple":
        components = param["components"]
        if isinstance(value, dict):
            missing = [c["name"] for c in components if c["name"] not in value]
            if missing:
                raise ValidationFailed(f"{where}: missing fields {', '.join(missing)}")
            value = [value[c["name"]] for c in components]
        if not isinstance(value, (list, tuple)) or len(value) != len(components):
            raise ValidationFailed(f"{where}: expected {len(components)} fields")
        return tuple(_convert(c, v, f"{where}.{c['name']}") for c, v in zip(components, value))
    if kind == "address":
        if not isinstance(value, str) or not is_address(value):
            raise ValidationFailed(f"{where}: {value!r} is not an address")
        return to_checksum_address(value)
    if kind == "bool":
        if not isinstance(value, bool):
            raise ValidationFailed(f"{where}: expected true or false")
        return value
    if kind == "string":
        if not isinstance(value, str):
            raise ValidationFailed(f"{where}: expected a string")
        return value
    if kind.startswith(("uint", "int")):
        return _integer(kind, value, where)
    if kind.startswith("bytes"):
        return _bytes(kind, value, where)
    raise ValidationFailed(f"{where}: unsupported ABI type {kind}")


def _integer(kind: str, value: Any, where: str) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, str)):
        raise ValidationFailed(f"{where}: expected an integer for {kind}")
    try:
        number = int(value, 0) if isinstance(value, str) and value.startswith("0x") else int(value)
    except ValueError:
        raise ValidationFailed(f"{where}: {value!r} is not an integer") from None
    bits = int(kind.lstrip("uint") or 256)
    low, high = (0, 2**bits - 1) if kind.startswith("uint") else (-(2 ** (bits - 1)), 2 ** (bits - 1) - 1)
    if not low <= number <= high:
        raise ValidationFailed(f"{where}: {number} is out of range for {kind}")
    return number


def _bytes(kind: str, value: Any, where: str) -> bytes:
    if not isinstance(value, str) or not value.startswith("0x"):
        raise ValidationFailed(f"{where}: expected 0x-hex for {kind}")
    try:
        data = bytes.fromhex(value[2:])
    except ValueError:
        raise ValidationFailed(f"{where}: {value!r} is not hex") from None
    size = kind[len("bytes") :]
    if size and len(data) != int(size):
        raise ValidationFailed(f"{where}: {kind} needs {size} bytes, got {len(data)}")
    return data


def to_json(value: Any) -> Any:
    """The canonical JSON form of converted values (so equal calls compare equal)."""
    if isinstance(value, (bytes, bytearray)):
        return "0x" + bytes(value).hex()
    if isinstance(value, bool):
        return value
    if isinstance(value, int):
        return value if abs(value) <= 2**53 else str(value)
    if isinstance(value, (list, tuple)):
        return [to_json(v) for v in value]
    if isinstance(value, Mapping):  # dicts and web3's AttributeDict (decoded structs)
        return {k: to_json(v) for k, v in value.items()}
    return value
