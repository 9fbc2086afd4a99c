"""web3.py access. Only `backend/chain/` imports web3; everything else goes through here."""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from functools import lru_cache
from pathlib import Path
from typing import Any

import requests
from web3 import HTTPProvider, Web3
from web3.contract import Contract
from web3.contract.contract import ContractFunction
from web3.exceptions import ProviderConnectionError, Web3Exception
from web3.types import BlockData, BlockIdentifier

from backend.chain.compiler import load_artifact
from backend.config import Settings
from backend.errors import ChainUnavailable

# What a node that is down or unreachable raises through web3.py's HTTP provider.
NODE_UNREACHABLE = (requests.exceptions.ConnectionError, requests.exceptions.Timeout, ProviderConnectionError)


def node_failure(exc: BaseException) -> str:
    """A node call's failure as a message may repeat it: requests' errors quote the request's URL,
    whose path, query or userinfo carries a hosted node's API key, so they are named by class (and
    HTTP status); web3's own errors (a node's JSON-RPC error, a bad answer) by their text. The node
    itself is named with `where(url)` (scheme, host and port)."""
    if isinstance(exc, requests.exceptions.HTTPError) and exc.response is not None:
        return f"{type(exc).__name__} {exc.response.status_code}"
    if isinstance(exc, (OSError, *NODE_UNREACHABLE)):
        return type(exc).__name__
    return str(exc)


@lru_cache(maxsize=16)
def _web3(url: str, timeout: float) -> Web3:
    return Web3(HTTPProvider(url, request_kwargs={"timeout": timeout}))


def get_web3(settings: Settings) -> Web3:
    return _web3(settings.rpc_url, settings.rpc_timeout)


def contract_at(settings: Settings, name: str, address: str) -> Contract:
    """`name`'s ABI at `address`, through settings' node. Built once per node, address and
    artifact file as it stands (a recompile rewrites the file, so it is built again): web3 takes
    tens of milliseconds of CPU to build a contract of LoanBook's size, and a trace or a servicing
    pass asks for the same few contracts again and again. A Contract holds no call state: each
    `contract.functions.f(...)` is a copy of its own."""
    path = settings.artifacts_dir / f"{name}.json"
    try:
        stat = path.stat()
    except OSError:
        load_artifact(settings, name)  # CompilerError: run `loanchain compile`
        raise
    return _contract(settings.rpc_url, settings.rpc_timeout, Web3.to_checksum_address(address), str(path),
                     stat.st_mtime_ns, stat.st_size)  # fmt: skip


@lru_cache(maxsize=128)
def _contract(url: str, timeout: float, address: str, artifact: str, mtime_ns: int, size: int) -> Contract:
    abi = json.loads(Path(artifact).read_text())["abi"]
    return _web3(url, timeout).eth.contract(address=address, abi=abi)


@contextmanager
def reading(what: str) -> Iterator[None]:
    """Turn a node that cannot be reached or answers nonsense into ChainUnavailable (503)."""
    try:
        yield
    except (Web3Exception, OSError) as exc:
        raise ChainUnavailable(f"could not read {what}: {node_failure(exc)}") from exc


READ_BATCH = 100  # calls per JSON-RPC batch: within what hosted nodes accept in one request


def read_many(calls: Sequence[ContractFunction], what: str, block: BlockIdentifier = "latest") -> list[Any]:
    """Each view call's result, in order, sent as JSON-RPC batches (`READ_BATCH` calls a round
    trip) rather than one request each: the servicing pass reads three calls a loan, which one at
    a time is a round trip each to a remote node. The calls go to their contracts' node."""
    if not calls:
        return []
    w3, results = calls[0].w3, []
    with reading(what):
        for start in range(0, len(calls), READ_BATCH):
            with w3.batch_requests() as batch:
                for call in calls[start : start + READ_BATCH]:
                    batch.add(call.call(block_identifier=block))
                results.extend(batch.execute())
    return results


def blocks_by_number(w3: Web3, numbers: Iterable[int]) -> dict[int, BlockData]:
    """The blocks (headers, no transactions) numbered `numbers`, `READ_BATCH` a round trip: the
    indexer reads one per block holding an event, which one request each made its catch-up on a long
    chain a round trip per block."""
    numbers, found = sorted(set(numbers)), {}
    for start in range(0, len(numbers), READ_BATCH):
        chunk = numbers[start : start + READ_BATCH]
        with w3.batch_requests() as batch:
            for n in chunk:
                batch.add(w3.eth.get_block(n))
            found.update(zip(chunk, batch.execute(), strict=True))
    return found
