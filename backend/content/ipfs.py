"""Content store backed by an IPFS node (Kubo or js-ipfs) over its HTTP RPC API."""

from __future__ import annotations

import warnings
from typing import Any

import ipfshttpclient
from ipfshttpclient.exceptions import AddressError, CommunicationError, ErrorResponse

from backend.content.cid import CHUNK_SIZE, cid_of, parse_cid
from backend.errors import (
    ConfigurationError,
    ContentError,
    ContentIntegrityError,
    ContentNotFound,
    ServiceUnavailable,
)

# ipfshttpclient 0.7.0 passes urllib3 a `strict` argument that urllib3 2 only warns about.
warnings.filterwarnings(
    "ignore", message="The 'strict' parameter is no longer needed", category=FutureWarning
)

# What `ipfs add --cid-version=1 --raw-leaves` does, spelled out so the node's own defaults
# (CIDv0, dag-pb leaves, another chunker) can never change a CID.
ADD_OPTIONS = {
    "cid-version": "1",
    "raw-leaves": "true",
    "chunker": f"size-{CHUNK_SIZE}",
    "hash": "sha2-256",
    "cid-base": "base32",
    "pin": "true",
}
# How the node reports that a lookup ran out of time (js-ipfs, Kubo).
TIMEOUT_MESSAGES = ("timed out", "deadline exceeded")


class IpfsContentStore:
    backend = "ipfs"

    def __init__(self, api: str, *, timeout: float = 30.0) -> None:
        """`api` is the node's RPC multiaddr, e.g. /ip4/127.0.0.1/tcp/5002/http. `timeout`
        bounds how long the node may look for content it does not have (it would otherwise
        wait for peers forever)."""
        self.api = api
        self.timeout = timeout
        # Not ipfshttpclient.connect(): it refuses every daemon >= 0.8 by version number,
        # although the add/cat/pin API it uses is unchanged (DESIGN.md §3).
        try:
            self._client = ipfshttpclient.Client(api, timeout=timeout + 5)
        except AddressError as exc:
            raise ConfigurationError(f"bad IPFS API address {api!r}: {exc}", api=api) from exc

    def _node_timeout(self) -> dict[str, str]:
        # Sent to the node so it gives up first and says so, instead of the socket timing out.
        return {"timeout": f"{int(self.timeout * 1000)}ms"}

    def _fail(self, exc: Exception, cid: str | None = None) -> Exception:
        if isinstance(exc, ErrorResponse):
            if any(text in str(exc).lower() for text in TIMEOUT_MESSAGES):
                return ContentNotFound(f"IPFS node could not find {cid} within {self.timeout}s", cid=cid)
            return ContentError(f"IPFS node refused: {exc}", cid=cid)
        return ServiceUnavailable(f"IPFS node at {self.api} unreachable: {exc}", api=self.api)

    def put(self, data: bytes) -> str:
        expected = cid_of(data)
        try:
            cid = self._client.add_bytes(data, opts=ADD_OPTIONS)
        except CommunicationError as exc:
            raise self._fail(exc) from exc
        # The CID goes on-chain, so it must be the one anyone recomputes from the bytes.
        if cid != expected:
            raise ContentError(f"IPFS node returned {cid}, expected {expected}", cid=cid, expected=expected)
        return cid

    def get(self, cid: str) -> bytes:
        parse_cid(cid)
        try:
            data = self._client.cat(cid, opts=self._node_timeout())
        except CommunicationError as exc:
            raise self._fail(exc, cid) from exc
        actual = cid_of(data)
        if actual != cid:
            raise ContentIntegrityError(f"IPFS content of {cid} hashes to {actual}", cid=cid, actual=actual)
        return data

    def pin(self, cid: str) -> None:
        parse_cid(cid)
        try:
            self._client.pin.add(cid, opts=self._node_timeout())
        except CommunicationError as exc:
            raise self._fail(exc, cid) from exc

    def remove(self, cid: str) -> None:
        # Unpinned here; `collect_garbage` then takes the blocks at once, not at the node's own schedule
        # (if it has one). Copies other nodes fetched meanwhile are beyond reach: keep such a node private.
        parse_cid(cid)
        try:
            self._client.pin.rm(cid)
        except ErrorResponse as exc:
            if "not pinned" not in str(exc).lower():
                raise self._fail(exc, cid) from exc
        except CommunicationError as exc:
            raise self._fail(exc, cid) from exc

    def collect_garbage(self) -> None:
        try:
            self._client.repo.gc(quiet=True)
        except CommunicationError as exc:
            raise self._fail(exc) from exc

    def has(self, cid: str) -> bool:
        # "Pinned here" rather than "some blocks cached": unpinned blocks may be collected at
        # any time, and asking for a missing block would make the node search the network.
        parse_cid(cid)
        try:
            self._client.pin.ls(cid, type="all")
        except ErrorResponse:
            return False
        except CommunicationError as exc:
            raise self._fail(exc, cid) from exc
        return True

    def health(self) -> dict[str, Any]:
        status: dict[str, Any] = {"ok": True, "backend": self.backend, "api": self.api}
        try:
            status["version"] = self._client.version(timeout=5)["Version"]
        except Exception as exc:  # health reports, it does not raise
            status.update(ok=False, error=f"{type(exc).__name__}: {exc}")
        return status
